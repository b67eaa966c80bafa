// The three kstatus conditions, derived from one verdict so they never contradict each other.
import { CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED } from '../api/constants.js';
import type { Condition } from '../api/schema.js';
import type { Phase, ReasonOf } from './reasons.js';

/** Where a resource stands after a reconcile; the reason must be one of that phase's. */
export type Verdict = { [P in Phase]: { phase: P; reason: ReasonOf<P>; message: string } }[Phase];

/**
 * Ready is always present; Reconciling and Stalled only while true (the kstatus convention
 * Flux follows). lastTransitionTime is kept from `previous` unless the status value flips.
 */
export function conditionsFor(
  verdict: Verdict,
  generation: number,
  previous: Condition[] | undefined,
  now: Date,
): Condition[] {
  const wanted: Omit<Condition, 'lastTransitionTime'>[] = [
    {
      type: CONDITION_READY,
      status: verdict.phase === 'Ready' ? 'True' : 'False',
      observedGeneration: generation,
      reason: verdict.reason,
      message: verdict.message,
    },
  ];
  if (verdict.phase !== 'Ready') {
    wanted.push({
      type: verdict.phase === 'Stalled' ? CONDITION_STALLED : CONDITION_RECONCILING,
      status: 'True',
      observedGeneration: generation,
      reason: verdict.reason,
      message: verdict.message,
    });
  }
  return wanted.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime =
      before && before.status === c.status
        ? before.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { ...c, lastTransitionTime };
  });
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
