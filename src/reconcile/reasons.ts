// Every condition reason the operator can write, with the phase it belongs to. The planner,
// the status builder and the failure table take their reasons from this table only (the
// Verdict type enforces it), so docs/reference.md and argocd/health.lua are checked against it.

/** Where a resource stands: Ready=True, work in progress (Reconciling), or needs a person (Stalled). */
export type Phase = 'Ready' | 'Progressing' | 'Stalled';

export const CONDITION_REASONS = {
  Reconciled: 'Ready',
  /** Job runs: the run succeeded. */
  Succeeded: 'Ready',

  Creating: 'Progressing',
  Updating: 'Progressing',
  Observing: 'Progressing',
  WaitingForState: 'Progressing',
  WaitingForStop: 'Progressing',
  WaitingForJobRuns: 'Progressing',
  WaitingForSessions: 'Progressing',
  Stopping: 'Progressing',
  Restarting: 'Progressing',
  Deleting: 'Progressing',
  Claiming: 'Progressing',
  AwsThrottled: 'Progressing',
  AwsUnavailable: 'Progressing',
  AwsConflict: 'Progressing',
  ApplicationStateChanged: 'Progressing',
  // Job runs.
  Submitting: 'Progressing',
  InProgress: 'Progressing',
  Cancelling: 'Progressing',
  WaitingForApplication: 'Progressing',

  InvalidSpec: 'Stalled',
  NullValue: 'Stalled',
  ApplicationNotFound: 'Stalled',
  ApplicationTerminated: 'Stalled',
  ImmutableFieldConflict: 'Stalled',
  OwnedByAnotherResource: 'Stalled',
  AdoptionNotAllowed: 'Stalled',
  KeyNotFound: 'Stalled',
  KeyDisabled: 'Stalled',
  KeyPendingDeletion: 'Stalled',
  KeyNotSymmetric: 'Stalled',
  KeyUsageInvalid: 'Stalled',
  /** The key policy does not let EMR Serverless (or the submitter) use the key. */
  KeyPolicyDenied: 'Stalled',
  AwsRejected: 'Stalled',
  AccessDenied: 'Stalled',
  NoAccountMapping: 'Stalled',
  AccountMappingChanged: 'Stalled',
  QuotaExceeded: 'Stalled',
  NotConverging: 'Stalled',
  /** Something else keeps undoing the operator's corrections (fights.ts). */
  ExternalChangeFight: 'Stalled',
  PolicyViolation: 'Stalled',
  NoNamespacePolicy: 'Stalled',
  // Job runs.
  JobRunFailed: 'Stalled',
  JobRunCancelled: 'Stalled',
  JobRunNotFound: 'Stalled',
  ApplicationStalled: 'Stalled',
  ApplicationDeleting: 'Stalled',
} as const satisfies Record<string, Phase>;

export type ConditionReason = keyof typeof CONDITION_REASONS;

/** The reasons that go with one phase. */
export type ReasonOf<P extends Phase> = {
  [R in ConditionReason]: (typeof CONDITION_REASONS)[R] extends P ? R : never;
}[ConditionReason];

/**
 * Progressing reasons that wait for another resource rather than make progress (a job run whose
 * application is missing or not bound): Argo CD shows them as Suspended.
 */
export const SUSPENDED_REASONS = [
  'WaitingForApplication',
] as const satisfies readonly ReasonOf<'Progressing'>[];

/** The Stalled reasons a key check can give; each is also `status.diskEncryption.key.reason`. */
export const KEY_BLOCKING_REASONS = [
  'KeyNotFound',
  'KeyDisabled',
  'KeyPendingDeletion',
  'KeyNotSymmetric',
  'KeyUsageInvalid',
  'KeyPolicyDenied',
] as const satisfies readonly ReasonOf<'Stalled'>[];

/** `status.diskEncryption.key.reason` of a key that is sent without being verified. */
export const KEY_UNVERIFIED_REASONS = ['VerificationDisabled', 'NotChecked', 'AccessDenied'] as const;

export type KeyHealthReason = (typeof KEY_BLOCKING_REASONS)[number] | (typeof KEY_UNVERIFIED_REASONS)[number];

export function reasonsOf(phase: Phase): ConditionReason[] {
  return (Object.keys(CONDITION_REASONS) as ConditionReason[]).filter((r) => CONDITION_REASONS[r] === phase);
}
