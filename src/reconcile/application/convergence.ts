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
  | { send: true; attempts: UpdateAttempts }
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
  const sinceLastMs = same ? now.getTime() - Date.parse(previous.lastAttemptTime) : Number.POSITIVE_INFINITY;
  if (count >= NOT_CONVERGING_AFTER && sinceLastMs < options.resyncPeriodMs) {
    const record = changes as Record<string, unknown>;
    const seen = app as unknown as Record<string, unknown>;
    const differences = fields
      .map((f) => `${f}: sent ${show(record[f])}, AWS has ${show(seen[f])}`)
      .join('; ');
    const retryInMs = options.resyncPeriodMs - sinceLastMs;
    return {
      send: false,
      retryInMs,
      message:
        `UpdateApplication was sent ${count} times with the same change and AWS accepted it, ` +
        `but application ${app.applicationId} still differs (${differences}). ` +
        'Something else may be changing it back, or AWS may not take these values as given. ' +
        `Nothing more is sent until the spec changes or the next resync, in ${Math.ceil(retryInMs / 1000)} s.`,
    };
  }
  return {
    send: true,
    attempts: { digest, fields, count: count + 1, generation, lastAttemptTime: now.toISOString() },
  };
}

export function digestOf(changes: ApplicationFields): string {
  return createHash('sha256').update(canonicalJson(changes)).digest('hex');
}

/** JSON with object keys sorted, so the digest does not depend on property order. */
function canonicalJson(value: unknown): string {
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
