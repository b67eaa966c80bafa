// The reconciler's writes to its own resource: the finalizer and the status.
//
// Finalizers: a JSON patch whose first op tests metadata.resourceVersion, so the patch applies only
// to the version the reconciler looked at (and other controllers' finalizers are kept, since the
// whole list we write is that version's list with ours added or removed). A stale version answers
// 409 (or 422 for a failed test): the error is thrown and the key retried with the fresh object.
//
// Status: server-side apply on the /status subresource as field manager emr-serverless-operator,
// forced, with the whole status (fields the operator no longer sets are removed by the apply), and
// conditional on the resourceVersion the reconciler planned from: a status planned from a stale
// cache must never replace a newer one, or it could drop an intent written ahead (a restart after
// an update). A stale version answers 409: ConflictError, and the key is reconciled again.

import { APPLICATION_PLURAL, FIELD_MANAGER, FINALIZER, GROUP, VERSION } from '../api/constants.js';
import type { EmrServerlessApplication, Status } from '../api/schema.js';
import { type KubeClient, PATCH_TYPES, resourcePath } from '../kube/client.js';
import { httpStatusOf } from '../kube/errors.js';
import type { KubeResource, ResourceWriter } from '../reconcile/ports.js';

/** Thrown when the object changed since it was read; the caller retries with a fresh copy. */
export class ConflictError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

export interface JsonPatchOp {
  op: 'test' | 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/** The JSON patch that sets the finalizer list from `current` to `next`, guarded by resourceVersion. */
export function finalizerPatch(obj: KubeResource, next: string[]): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  if (obj.metadata.resourceVersion) {
    ops.push({ op: 'test', path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion });
  }
  if (obj.metadata.finalizers === undefined) {
    ops.push({ op: 'add', path: '/metadata/finalizers', value: next });
  } else {
    // `test` the list too: with resourceVersion it is redundant, without it this still guards.
    ops.push({ op: 'test', path: '/metadata/finalizers', value: obj.metadata.finalizers });
    ops.push({ op: 'replace', path: '/metadata/finalizers', value: next });
  }
  return ops;
}

/** The writer of one kind, named by its plural (default: the application kind). */
export class KubeResourceWriter<T extends KubeResource = EmrServerlessApplication, S = Status>
  implements ResourceWriter<T, S>
{
  constructor(
    protected readonly kube: KubeClient,
    protected readonly plural: string = APPLICATION_PLURAL,
  ) {}

  protected path(obj: KubeResource, subresource?: string): string {
    const { name, namespace } = obj.metadata;
    return resourcePath({
      group: GROUP,
      version: VERSION,
      plural: this.plural,
      namespace,
      name,
      ...(subresource && { subresource }),
    });
  }

  async addFinalizer(obj: T): Promise<T> {
    const current = obj.metadata.finalizers ?? [];
    if (current.includes(FINALIZER)) return obj;
    return this.patchFinalizers(obj, [...current, FINALIZER]);
  }

  async removeFinalizer(obj: T): Promise<void> {
    const current = obj.metadata.finalizers ?? [];
    if (!current.includes(FINALIZER)) return;
    try {
      await this.patchFinalizers(
        obj,
        current.filter((f) => f !== FINALIZER),
      );
    } catch (error) {
      // Already gone: nothing left to release.
      if (httpStatusOf(error) === 404) return;
      throw error;
    }
  }

  async applyStatus(obj: T, status: S): Promise<string | undefined> {
    const { name, namespace, resourceVersion } = obj.metadata;
    const body = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      // With a resourceVersion, server-side apply is a conditional update.
      metadata: { name, namespace, ...(resourceVersion && { resourceVersion }) },
      status,
    };
    const applied = await this.guarded(obj, [409], () =>
      this.kube.request<EmrServerlessApplication>({
        method: 'PATCH',
        path: this.path(obj, 'status'),
        query: { fieldManager: FIELD_MANAGER, force: true },
        body,
        contentType: PATCH_TYPES.apply,
      }),
    );
    return applied.metadata?.resourceVersion;
  }

  private patchFinalizers(obj: T, next: string[]): Promise<T> {
    // 422: a `test` op failed (the API server reports that as invalid).
    return this.guarded(obj, [409, 422], () =>
      this.kube.request<T>({
        method: 'PATCH',
        path: this.path(obj),
        query: { fieldManager: FIELD_MANAGER },
        body: finalizerPatch(obj, next),
        contentType: PATCH_TYPES.json,
      }),
    );
  }

  /** A write conditional on the object's resourceVersion: a stale one (`stale` answers) becomes ConflictError. */
  private async guarded<R>(obj: KubeResource, stale: number[], write: () => Promise<R>): Promise<R> {
    try {
      return await write();
    } catch (error) {
      const status = httpStatusOf(error);
      if (status !== undefined && stale.includes(status)) {
        const { name, namespace, resourceVersion } = obj.metadata;
        throw new ConflictError(
          `${namespace}/${name} changed since resourceVersion ${resourceVersion}; retrying with the current version`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
