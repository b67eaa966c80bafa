// What the informers keep of each object: what the operator reads, not all the API server sends.
// With tens of thousands of resources the cache is most of the process's memory, so it drops:
// - metadata.managedFields, never read (controller-runtime's default transform drops it too);
// - kubectl's last-applied-configuration annotation (a second copy of the object as JSON text,
//   often its largest field, written by `kubectl apply` and Argo CD's default sync), unless it
//   holds a null under spec: the planners read it only to find nulls there (src/api/nulls.ts).
// Nothing a write needs is dropped: the finalizer patch tests resourceVersion and finalizers,
// status is applied by name, events name the uid. The update predicate compares the annotations
// of two objects pruned alike, so an annotation change that matters still reconciles.
// And it keeps one copy of the strings every object repeats (SharedStrings): JSON parsing makes
// a new one per object.
import { LAST_APPLIED_ANNOTATION, lastAppliedHoldsNull } from '../api/nulls.js';

/** Where every kind's planner looks for nulls (`nullFields(resource, ['spec'])`). */
const NULL_ROOTS = ['spec'];

interface Prunable {
  metadata: { annotations?: Record<string, string>; managedFields?: unknown };
}

/** Drops, in place, what no reader of the cache needs; returns the same object. */
export function pruneForCache<T>(obj: T): T {
  const metadata = (obj as Prunable).metadata;
  if (!metadata) return obj;
  if ('managedFields' in metadata) delete metadata.managedFields;
  const annotations = metadata.annotations;
  if (
    annotations?.[LAST_APPLIED_ANNOTATION] !== undefined &&
    !lastAppliedHoldsNull({ metadata }, NULL_ROOTS)
  ) {
    delete annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  return obj;
}

/**
 * One copy of each string many cached objects hold (a namespace, a finalizer name). Bounded, so
 * that values that are all different cannot grow it without end: past `max`, strings are kept
 * as they come.
 */
export class SharedStrings {
  private readonly pool = new Map<string, string>();

  constructor(private readonly max = 4096) {}

  share(value: string): string {
    const known = this.pool.get(value);
    if (known !== undefined) return known;
    if (this.pool.size < this.max) this.pool.set(value, value);
    return value;
  }

  /** Shares, in place, the object's namespace and finalizer names; returns the same object. */
  shareMetadata<T>(obj: T): T {
    const metadata = (obj as { metadata?: { namespace?: string; finalizers?: string[] } }).metadata;
    if (!metadata) return obj;
    if (metadata.namespace !== undefined) metadata.namespace = this.share(metadata.namespace);
    const finalizers = metadata.finalizers;
    if (finalizers) for (let i = 0; i < finalizers.length; i++) finalizers[i] = this.share(finalizers[i]!);
    return obj;
  }
}
