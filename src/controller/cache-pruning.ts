// What the informers keep of each object: what the operator reads, not all the API server sends.
// With tens of thousands of resources the cache is most of the process's memory, so it drops:
// - metadata.managedFields, never read (controller-runtime's default transform drops it too);
// - kubectl's last-applied-configuration annotation (a second copy of the object as JSON text,
//   often its largest field, written by `kubectl apply` and Argo CD's default sync), unless it
//   holds a null: the planners read it only to find nulls (src/api/nulls.ts).
// Nothing a write needs is dropped: the finalizer patch tests resourceVersion and finalizers,
// status is applied by name, events name the uid. The update predicate compares the annotations
// of two objects pruned alike, so an annotation change that matters still reconciles.
import { LAST_APPLIED_ANNOTATION, lastAppliedHoldsNull } from '../api/nulls.js';

interface Prunable {
  metadata: { annotations?: Record<string, string>; managedFields?: unknown };
}

/** Drops, in place, what no reader of the cache needs; returns the same object. */
export function pruneForCache<T>(obj: T): T {
  const metadata = (obj as Prunable).metadata;
  if (!metadata) return obj;
  if ('managedFields' in metadata) delete metadata.managedFields;
  const annotations = metadata.annotations;
  if (annotations?.[LAST_APPLIED_ANNOTATION] !== undefined && !lastAppliedHoldsNull({ metadata })) {
    delete annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  return obj;
}
