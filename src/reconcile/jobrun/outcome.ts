// The job run's status builder: collects a plan's actions and events, then derives status,
// conditions and the requeue delay from one verdict, with the pieces the application's
// builder uses (conditions.ts, outcome.ts).
import type { JobRunDiskEncryptionStatus, JobRunSpec, JobRunStatus } from '../../api/jobrun-schema.js';
import type { DiskEncryptionConfiguration, DiskEncryptionStatus, KeyHealth } from '../../api/schema.js';
import { type AwsJobRun, FINAL_JOB_RUN_STATES } from '../../aws/port.js';
import { encryptionIntent } from '../compare.js';
import { conditionsFor, findCondition, type Verdict } from '../conditions.js';
import { normal, POLL_MIN_MS, pollDelay, stalledEvents, withoutUndefined } from '../outcome-base.js';
import type { RecordedEvent } from '../ports.js';
import type { ReasonOf } from '../reasons.js';
import type { JobRunAction, JobRunPlan, JobRunPlanInput, JobRunTarget } from './types.js';

/** Slowest poll while a run is not final (also bounded by the resync period). */
export const RUN_POLL_MAX_MS = 5 * 60_000;
/** Slowest poll while waiting for something outside the operator (the application). */
const WAIT_POLL_MAX_MS = 60_000;

export class JobRunOutcome {
  readonly actions: JobRunAction[] = [];
  readonly events: RecordedEvent[] = [];
  /** Health of the job-level key, when one is declared and was checked. */
  keyHealth?: KeyHealth;
  private run?: AwsJobRun;
  private target?: JobRunTarget;
  private account?: string;
  /** The application's disk encryption, recorded before submission for a run that inherits it. */
  private inherited?: DiskEncryptionStatus;
  /** A deletion's first empty search (absence.ts); set only by the plan that waits on it. */
  deletionSearch?: string;

  constructor(
    private readonly input: JobRunPlanInput,
    private readonly spec: JobRunSpec | undefined,
  ) {}

  observe(run: AwsJobRun): this {
    this.run = run;
    return this;
  }

  /** Where the run goes, the key it inherits, and the account it belongs to (recorded before StartJobRun). */
  submitTo(
    target: JobRunTarget,
    inherited: DiskEncryptionStatus | undefined,
    account: string | undefined,
  ): this {
    this.target = target;
    this.inherited = inherited;
    this.account = account;
    return this;
  }

  act(...actions: JobRunAction[]): this {
    this.actions.push(...actions);
    return this;
  }

  /** A warning recorded when `isNew(previous status)` says it is news. */
  warnOnce(event: Omit<RecordedEvent, 'type'> | undefined, isNew: (prev: JobRunStatus) => boolean): void {
    if (event && isNew(this.input.resource.status ?? {})) this.events.push({ type: 'Warning', ...event });
  }

  /** Announced once (an event when the reason is new). */
  announce(event: RecordedEvent, phase: 'Ready' | 'Reconciling' | 'Stalled' = 'Reconciling'): void {
    const type = phase === 'Reconciling' ? 'Reconciling' : phase;
    const before = findCondition(this.input.resource.status?.conditions, type);
    if (before?.status !== 'True' || before.reason !== event.reason) this.events.push(event);
  }

  ready(
    reason: ReasonOf<'Ready'>,
    message: string,
    requeueAfterMs = this.input.options.resyncPeriodMs,
  ): JobRunPlan {
    return this.finish({ phase: 'Ready', reason, message }, requeueAfterMs);
  }

  progressing(reason: ReasonOf<'Progressing'>, message: string, pollMaxMs = RUN_POLL_MAX_MS): JobRunPlan {
    const { resource, now, options } = this.input;
    const delay = this.actions.length
      ? 0
      : pollDelay(resource.status?.conditions, reason, now, Math.min(pollMaxMs, options.resyncPeriodMs));
    return this.finish({ phase: 'Progressing', reason, message }, delay);
  }

  /** Progressing, looked at again after `delayMs` (within the polling bounds and the resync period). */
  progressingFor(reason: ReasonOf<'Progressing'>, message: string, delayMs: number): JobRunPlan {
    const delay = Math.max(POLL_MIN_MS, Math.min(delayMs, this.input.options.resyncPeriodMs));
    return this.finish({ phase: 'Progressing', reason, message }, this.actions.length ? 0 : delay);
  }

  /** Waiting on something outside the operator's hands: announced once, polled slowly. */
  waiting(reason: ReasonOf<'Progressing'>, message: string): JobRunPlan {
    this.announce(normal(reason, 'Wait', message));
    return this.progressing(reason, message, WAIT_POLL_MAX_MS);
  }

  stalled(
    reason: ReasonOf<'Stalled'>,
    message: string,
    requeueAfterMs = this.input.options.resyncPeriodMs,
  ): JobRunPlan {
    this.events.push(...stalledEvents(this.input.resource.status?.conditions, reason, message));
    return this.finish({ phase: 'Stalled', reason, message }, requeueAfterMs);
  }

  /** Nothing to do and nothing to say: the status stays as it is. */
  untouched(): JobRunPlan {
    return {
      actions: [],
      events: [],
      status: this.input.resource.status ?? {},
      requeueAfterMs: this.input.options.resyncPeriodMs,
    };
  }

  private finish(verdict: Verdict, requeueAfterMs: number): JobRunPlan {
    const { resource, now } = this.input;
    const previous = resource.status ?? {};
    const run = this.run;
    const status: JobRunStatus = {
      observedGeneration: resource.metadata.generation,
      applicationId: run?.applicationId ?? this.target?.applicationId ?? previous.applicationId,
      region: this.target?.region ?? previous.region,
      jobRunId: run?.jobRunId ?? previous.jobRunId,
      arn: run?.arn ?? previous.arn,
      account: this.account ?? previous.account,
      state: run?.state ?? previous.state,
      ...(run ? runDetails(run, previous) : pickRunDetails(previous, RUN_DETAIL_FIELDS)),
      diskEncryption: this.diskEncryption(previous),
      deletionSearch: this.deletionSearch,
      conditions: conditionsFor(verdict, resource.metadata.generation, previous.conditions, now),
    };
    return { actions: this.actions, events: this.events, status: withoutUndefined(status), requeueAfterMs };
  }

  /**
   * The key the run's workers use and where it comes from. What the run started with (as AWS
   * resolved it) when known; else the job's own declaration; else the application's key as
   * recorded before submission; else what status said before.
   */
  private diskEncryption(previous: JobRunStatus): JobRunDiskEncryptionStatus | undefined {
    const declared = this.spec?.configurationOverrides?.diskEncryptionConfiguration;
    const source = this.spec
      ? declared !== undefined
        ? 'Job'
        : 'Application'
      : previous.diskEncryption?.source;
    if (!source) return previous.diskEncryption;
    const key =
      source === 'Job' ? (this.keyHealth ?? previous.diskEncryption?.key) : this.inheritedKeyHealth(previous);
    const resolved = this.run?.diskEncryptionConfiguration;
    if (resolved !== undefined) return described(resolved, source, key);
    if (declared !== undefined) return described(declared, source, key);
    if (this.inherited) {
      const { mode, encryptionKeyArn, encryptionContext } = this.inherited;
      return { mode, source, encryptionKeyArn, encryptionContext, key };
    }
    if (previous.diskEncryption) return { ...previous.diskEncryption, source, key };
    // A run found with no encryption in its configuration and nothing recorded: the AWS-owned key.
    return this.run ? described({}, source, key) : undefined;
  }

  private inheritedKeyHealth(previous: JobRunStatus): KeyHealth | undefined {
    return this.inherited ? this.inherited.key : previous.diskEncryption?.key;
  }
}

function described(
  config: DiskEncryptionConfiguration,
  source: JobRunDiskEncryptionStatus['source'],
  key: KeyHealth | undefined,
): JobRunDiskEncryptionStatus {
  const intent = encryptionIntent(config);
  return {
    mode: intent.keyArn ? 'CustomerManaged' : 'AwsOwned',
    source,
    encryptionKeyArn: intent.keyArn,
    encryptionContext: Object.keys(intent.context).length ? intent.context : undefined,
    key: intent.keyArn ? key : undefined,
  };
}

/**
 * Figures that grow on every poll of a running run (its run time and what it used). They are taken
 * when the state changes and when the run ends; while a run goes on in the same state the previous
 * figures stay, so an unchanged run answers the same status and costs no status write.
 */
const MOVING_FIELDS = [
  'totalExecutionDurationSeconds',
  'totalResourceUtilization',
  'billedResourceUtilization',
] as const satisfies readonly (keyof JobRunStatus)[];

const RUN_DETAIL_FIELDS = [
  'stateDetails',
  'submittedAt',
  'startedAt',
  'endedAt',
  'attempt',
  ...MOVING_FIELDS,
] as const satisfies readonly (keyof JobRunStatus)[];
type RunDetails = Pick<JobRunStatus, (typeof RUN_DETAIL_FIELDS)[number]>;

const iso = (d: Date | undefined) => d?.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** What the run says about itself; the moving figures only when its state changed or it ended. */
function runDetails(run: AwsJobRun, previous: JobRunStatus): RunDetails {
  const moved = run.state !== previous.state || FINAL_JOB_RUN_STATES.includes(run.state);
  return {
    stateDetails: run.stateDetails,
    submittedAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    attempt: run.attempt,
    ...(moved
      ? {
          totalExecutionDurationSeconds: run.totalExecutionDurationSeconds,
          totalResourceUtilization: run.totalResourceUtilization,
          billedResourceUtilization: run.billedResourceUtilization,
        }
      : pickRunDetails(previous, MOVING_FIELDS)),
  };
}

function pickRunDetails<F extends keyof JobRunStatus>(
  status: JobRunStatus,
  fields: readonly F[],
): Pick<JobRunStatus, F> {
  return Object.fromEntries(fields.map((f) => [f, status[f]])) as Pick<JobRunStatus, F>;
}
