// Plays the API server's part for reconciler tests over the local AWS service: one object in
// memory, its generation bumped on spec changes.
import { randomUUID } from 'node:crypto';
import { FINALIZER } from '../../src/api/constants.js';
import type { EmrServerlessApplication, Spec, Status } from '../../src/api/schema.js';
import type { ResourceWriter } from '../../src/reconcile/ports.js';

/** Plays the API server's part: holds one object, bumps generation on spec changes. */
export class Store implements ResourceWriter {
  obj: EmrServerlessApplication;
  statusWrites = 0;
  gone = false;

  constructor(spec: Partial<Spec>, name = 'analytics') {
    this.obj = {
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: {
        name,
        namespace: 'data',
        uid: randomUUID(),
        generation: 1,
        finalizers: [],
      },
      spec,
    };
  }
  setSpec(spec: Partial<Spec>) {
    this.obj = {
      ...this.obj,
      spec,
      metadata: { ...this.obj.metadata, generation: this.obj.metadata.generation + 1 },
    };
  }
  delete() {
    this.obj = {
      ...this.obj,
      metadata: { ...this.obj.metadata, deletionTimestamp: new Date().toISOString() },
    };
  }
  async addFinalizer(obj: EmrServerlessApplication) {
    this.obj = {
      ...obj,
      metadata: { ...obj.metadata, finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER] },
    };
    return this.obj;
  }
  async removeFinalizer() {
    this.gone = true;
  }
  async applyStatus(_obj: EmrServerlessApplication, status: Status) {
    this.statusWrites++;
    this.obj = { ...this.obj, status };
    await this.onStatus?.(status);
    return undefined;
  }
  /** Called after each status write (before the reconciler goes on). */
  onStatus?: (status: Status) => Promise<void>;
}
