// The operator's finalizer on a resource of any kind.
import { FINALIZER } from '../api/constants.js';

/** Whether the resource (of any kind) carries the operator's finalizer. */
export function hasFinalizer(resource: { metadata: { finalizers?: string[] } }): boolean {
  return (resource.metadata.finalizers ?? []).includes(FINALIZER);
}

/** Adds the operator's finalizer first when the resource (of any kind) lacks it. */
export function ensureFinalizer(resource: {
  metadata: { finalizers?: string[] };
}): { kind: 'AddFinalizer' }[] {
  return hasFinalizer(resource) ? [] : [{ kind: 'AddFinalizer' }];
}
