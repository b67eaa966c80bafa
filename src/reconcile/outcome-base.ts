// What every kind's status builder shares: event shapes, the polling curve, status as stored.
import type { Condition } from '../api/schema.js';
import { findCondition } from './conditions.js';
import type { RecordedEvent } from './ports.js';

/** The shortest poll or stalled requeue, for every kind. */
export const POLL_MIN_MS = 250;

/** The Warning said when a resource enters a Stalled reason; nothing while it stays in it. */
export function stalledEvents(
  previous: Condition[] | undefined,
  reason: string,
  message: string,
): RecordedEvent[] {
  return findCondition(previous, 'Stalled')?.reason === reason
    ? []
    : [{ type: 'Warning', reason, action: 'None', message }];
}

/**
 * Poll faster at first, then back off: a quarter of the time spent in `reason` (the Reconciling
 * condition's) so far, at least POLL_MIN_MS, at most `maxMs` (0: at once).
 */
export function pollDelay(
  previous: Condition[] | undefined,
  reason: string,
  now: Date,
  maxMs: number,
): number {
  if (maxMs === 0) return 0;
  const since = findCondition(previous, 'Reconciling');
  const waited = since?.reason === reason ? now.getTime() - Date.parse(since.lastTransitionTime) : 0;
  return Math.min(Math.max(waited / 4, POLL_MIN_MS), maxMs);
}

export function normal(reason: string, action: string, message: string): RecordedEvent {
  return { type: 'Normal', reason, action, message };
}

/** The InvalidSpec message for a spec its schema rejects (any kind). */
export function invalidSpecMessage(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  const problems = issues.map((i) => `spec.${i.path.map(String).join('.')}: ${i.message}`).join('; ');
  return `${problems}. Fix the spec; nothing was sent to AWS.`;
}

/** Status as the API server stores it: no undefined members. */
export function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, withoutUndefined(v)]),
  ) as T;
}
