// Plays the API server's part for reconciler tests over the local AWS service: one object in
// memory, its generation bumped on spec changes, its resourceVersion on every write, and writes
// made on an older resourceVersion refused as the API server refuses them (409: ConflictError).
import { randomUUID } from 'node:crypto';
import { FINALIZER } from '../../src/api/constants.js';
import type { EmrServerlessApplication, Spec, Status } from '../../src/api/schema.js';
import { ConflictError } from '../../src/controller/resource-writer.js';
import type { ResourceWriter } from '../../src/reconcile/ports.js';

/** Plays the API server's part: holds one object, bumps generation on spec changes and resourceVersion on writes. */
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
        resourceVersion: '1',
        finalizers: [],
      },
      spec,
    };
  }
  /** The next resourceVersion, as the API server gives one to every write. */
  private bump(metadata: EmrServerlessApplication['metadata']) {
    return { ...metadata, resourceVersion: String(Number(this.obj.metadata.resourceVersion ?? 0) + 1) };
  }
  /** Refuses a write made on another version than the stored one. */
  private check(obj: EmrServerlessApplication) {
    const { resourceVersion } = obj.metadata;
    if (resourceVersion !== undefined && resourceVersion !== this.obj.metadata.resourceVersion)
      throw new ConflictError(
        `resourceVersion ${resourceVersion} is stale (now ${this.obj.metadata.resourceVersion})`,
      );
  }
  setSpec(spec: Partial<Spec>) {
    this.obj = {
      ...this.obj,
      spec,
      metadata: this.bump({ ...this.obj.metadata, generation: this.obj.metadata.generation + 1 }),
    };
  }
  delete() {
    this.obj = {
      ...this.obj,
      metadata: this.bump({ ...this.obj.metadata, deletionTimestamp: new Date().toISOString() }),
    };
  }
  async addFinalizer(obj: EmrServerlessApplication) {
    this.check(obj);
    this.obj = {
      ...obj,
      metadata: this.bump({ ...obj.metadata, finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER] }),
    };
    return this.obj;
  }
  async removeFinalizer() {
    this.gone = true;
  }
  async applyStatus(obj: EmrServerlessApplication, status: Status) {
    this.check(obj);
    this.statusWrites++;
    this.obj = { ...this.obj, status, metadata: this.bump(this.obj.metadata) };
    await this.onStatus?.(status);
    return this.obj.metadata.resourceVersion;
  }
  /** Called after each status write (before the reconciler goes on). */
  onStatus?: (status: Status) => Promise<void>;
}
