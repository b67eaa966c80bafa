// The non-convergence guard: an update that AWS accepts but does not reflect is not sent forever.
//
// Each UpdateApplication is recorded in status.updateAttempts (written ahead of the call, so a
// crash does not reset the count): a digest of the fields and values sent, how often that same
// update was sent, for which generation and when. Once the same update has been sent
// NOT_CONVERGING_AFTER times and AWS still differs, the resource is Stalled NotConverging and
// nothing more is sent until the spec changes (a new generation) or a resync period has passed
// since the last attempt; then it is sent once more.
import { createHash } from 'node:crypto';
import type { ApplicationFields, UpdateAttempts } from '../../api/schema.js';
import type { AwsApplication } from '../../aws/port.js';
import type { PlanInput } from './types.js';

export const NOT_CONVERGING_AFTER = 3;

export type ConvergenceVerdict =
  /** Send it; `stillStalled` while it is the once-per-resync retry of an update already Stalled. */
  | { send: true; attempts: UpdateAttempts; stillStalled?: string }
  | { send: false; message: string; retryInMs: number };

export function convergenceGuard(
  input: PlanInput,
  app: AwsApplication,
  changes: ApplicationFields,
): ConvergenceVerdict {
  const { resource, now, options } = input;
  const generation = resource.metadata.generation;
  const digest = digestOf(changes);
  const fields = Object.keys(changes).sort();
  const previous = resource.status?.updateAttempts;
  const same = previous?.digest === digest && previous.generation === generation;
  const count = same ? previous.count : 0;
  const attempts = { digest, fields, count: count + 1, generation, lastAttemptTime: now.toISOString() };
  if (count < NOT_CONVERGING_AFTER) return { send: true, attempts };
  const record = changes as Record<string, unknown>;
  const seen = app as unknown as Record<string, unknown>;
  const differences = fields.map((f) => `${f}: sent ${show(record[f])}, AWS has ${show(seen[f])}`).join('; ');
  const said =
    `UpdateApplication was sent ${count} times with the same change and AWS accepted it, ` +
    `but application ${app.applicationId} still differs (${differences}). ` +
    'Something else may be changing it back, or AWS may not take these values as given.';
  const lastAttempt = Date.parse(previous!.lastAttemptTime);
  if (now.getTime() - lastAttempt >= options.resyncPeriodMs) {
    // The retry keeps the resource Stalled: no flip to Updating and back, no second Warning.
    return { send: true, attempts, stillStalled: `${said} Sent once more at this resync.` };
  }
  // A time, not a countdown: the message (and so the status) stays the same until it changes.
  const next = new Date(lastAttempt + options.resyncPeriodMs);
  return {
    send: false,
    retryInMs: next.getTime() - now.getTime(),
    message: `${said} Nothing more is sent until the spec changes or the next resync, after ${next.toISOString().replace(/\.\d{3}Z$/, 'Z')}.`,
  };
}

export function digestOf(changes: ApplicationFields): string {
  return createHash('sha256').update(canonicalJson(changes)).digest('hex');
}

/** JSON with object keys sorted, so the digest does not depend on property order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function show(value: unknown): string {
  return value === undefined ? 'nothing' : canonicalJson(value);
}
