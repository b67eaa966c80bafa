// The failure table: how a failed AWS call shows in status, and whether it is retried with backoff.
import type { Condition } from '../api/schema.js';
import type { AwsError, AwsErrorKind } from '../aws/port.js';
import { conditionsFor, findCondition, type Verdict } from './conditions.js';
import { withoutUndefined } from './outcome-base.js';
import type { RecordedEvent } from './ports.js';

export interface Failure {
  kind: AwsErrorKind;
  operation: string;
  message: string;
}

/** What the failure table (and the log line) takes from a failed AWS call, for every kind. */
export function failureOf(err: AwsError): Failure & { code: string } {
  return { kind: err.kind, operation: err.operation, message: err.message, code: err.code };
}

/** The status members the failure table sets; every kind's status has them. */
interface ConditionedStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface FailureInput<S extends ConditionedStatus> {
  resource: { metadata: { generation: number }; status?: S };
  options: { resyncPeriodMs: number };
  now: Date;
}

export interface FailurePlan<S extends ConditionedStatus> {
  status: S;
  events: RecordedEvent[];
  /** Retry with the queue's per-key exponential backoff (the error is rethrown). */
  backoff: boolean;
  requeueAfterMs: number;
}

/** The status for an AWS call that failed, on top of the last status planned before it (any kind). */
export function planFailure<S extends ConditionedStatus>(
  input: FailureInput<S>,
  planned: S | undefined,
  failure: Failure,
): FailurePlan<S> {
  const { resource, now, options } = input;
  const base = planned ?? resource.status ?? ({} as S);
  const said = `${failure.operation} failed: ${failure.message}`;
  const verdicts: Record<AwsErrorKind, Verdict & { backoff: boolean; requeueAfterMs?: number }> = {
    throttled: {
      phase: 'Progressing',
      reason: 'AwsThrottled',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    transient: {
      phase: 'Progressing',
      reason: 'AwsUnavailable',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    conflict: {
      phase: 'Progressing',
      reason: 'AwsConflict',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    notFound: {
      phase: 'Progressing',
      reason: 'AwsConflict',
      message: `${said}. Looking again.`,
      backoff: true,
    },
    // The application changed state between the read and the write (autoStart, autoStop), or
    // the service keeps refusing for its state: looked at again with backoff like any failure.
    stateRace: {
      phase: 'Progressing',
      reason: 'ApplicationStateChanged',
      message: `${said}. The application changed state; looking again with backoff.`,
      backoff: true,
    },
    // Stalled, yet backed off like any repeated failure: the same input is refused again, so
    // retries (and label or annotation edits) come ever more rarely, up to the 5-minute cap.
    invalid: {
      phase: 'Stalled',
      reason: 'AwsRejected',
      message: `${said}. Fix the spec; the operator retries at once after a spec change, else with backoff (at most every 5 minutes).`,
      backoff: true,
    },
    accessDenied: {
      phase: 'Stalled',
      reason: 'AccessDenied',
      message: `${said}. Grant the operator's role this permission, or fix how the operator gets that role (see docs/aws-permissions.md and docs/eks.md); re-checked on resync.`,
      backoff: false,
    },
    noAccountMapping: {
      phase: 'Stalled',
      reason: 'NoAccountMapping',
      message: `${failure.message} Re-checked on resync.`,
      backoff: false,
    },
    quota: {
      phase: 'Stalled',
      reason: 'QuotaExceeded',
      message: `${said}. Raise the service quota or remove applications; re-checked on resync.`,
      backoff: false,
    },
  };
  const verdict = verdicts[failure.kind];
  const previousStalled = findCondition(resource.status?.conditions, 'Stalled')?.reason;
  const events: RecordedEvent[] =
    verdict.phase === 'Stalled' && previousStalled !== verdict.reason
      ? [{ type: 'Warning', reason: verdict.reason, action: failure.operation, message: verdict.message }]
      : [];
  const status = withoutUndefined({
    ...base,
    observedGeneration: resource.metadata.generation,
    conditions: conditionsFor(verdict, resource.metadata.generation, resource.status?.conditions, now),
  });
  return {
    status,
    events,
    backoff: verdict.backoff,
    requeueAfterMs: verdict.requeueAfterMs ?? options.resyncPeriodMs,
  };
}
