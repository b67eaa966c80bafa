// Which watch events deserve a reconcile, as controller-runtime's GenerationChangedPredicate plus
// the metadata the reconciler acts on. Status-only updates (the operator's own status writes
// among them) are ignored, so writing status never triggers another reconcile. A label or
// annotation edit alone asks for a reconcile but never earlier than a failing resource's
// backoff allows (`updateTrigger`): looping `kubectl annotate` on a broken resource must not
// turn its backoff into a retry per edit.
import { FINALIZER } from '../api/constants.js';
import type { EmrServerlessApplication } from '../api/schema.js';

type Meta = Partial<EmrServerlessApplication['metadata']>;

/**
 * How an update is queued: `spec` (a new generation: at once, the backoff forgotten), `now`
 * (deletion or finalizers: at once), `afterBackoff` (only labels or annotations: at once unless
 * the resource backs off after failures, then when that ends), or `none`.
 */
export type UpdateTrigger = 'spec' | 'now' | 'afterBackoff' | 'none';

export function updateTrigger(
  oldObj: { metadata?: Meta } | undefined,
  newObj: { metadata?: Meta } | undefined,
): UpdateTrigger {
  if (!updateNeedsReconcile(oldObj, newObj)) return 'none';
  const a = oldObj?.metadata ?? {};
  const b = newObj?.metadata ?? {};
  if (a.generation !== b.generation) return 'spec';
  if (a.deletionTimestamp !== b.deletionTimestamp || !sameList(a.finalizers, b.finalizers)) return 'now';
  return 'afterBackoff';
}

/** True when an update changed something the reconciler must act on. */
export function updateNeedsReconcile(
  oldObj: { metadata?: Meta } | undefined,
  newObj: { metadata?: Meta } | undefined,
): boolean {
  const a = oldObj?.metadata ?? {};
  const b = newObj?.metadata ?? {};
  if (a.generation !== b.generation) return true;
  if (a.deletionTimestamp !== b.deletionTimestamp) return true;
  // The operator's own finalizer appended (and nothing else changed) is the reconciler's own
  // write, made mid-reconcile: that reconcile goes on to the status, so like a status write it
  // needs no second reconcile (which, on a cache not yet holding the status, would look for the
  // application by listing them all).
  if (!sameList(a.finalizers, b.finalizers) && !ownFinalizerAppended(a.finalizers, b.finalizers)) return true;
  if (!sameMap(a.labels, b.labels)) return true;
  if (!sameMap(a.annotations, b.annotations)) return true;
  return false;
}

function ownFinalizerAppended(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return (
    y.length === x.length + 1 &&
    y[x.length] === FINALIZER &&
    !x.includes(FINALIZER) &&
    x.every((v, i) => v === y[i])
  );
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => Object.hasOwn(y, k) && x[k] === y[k]);
}
