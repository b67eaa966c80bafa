// The job run's status builder: collects a plan's actions and events, then derives status,
// conditions and the requeue delay from one verdict, with the pieces the application's
// builder uses (conditions.ts, outcome.ts).
import type { JobRunDiskEncryptionStatus, JobRunSpec, JobRunStatus } from '../../api/jobrun-schema.js';
import type { DiskEncryptionConfiguration, DiskEncryptionStatus, KeyHealth } from '../../api/schema.js';
import { type AwsJobRun, FINAL_JOB_RUN_STATES } from '../../aws/port.js';
import { encryptionIntent } from '../compare.js';
import { conditionsFor, findCondition, type Verdict } from '../conditions.js';
import { OutcomeBase, withoutUndefined } from '../outcome-base.js';
import type { RecordedEvent } from '../ports.js';
import type { ReasonOf } from '../reasons.js';
import type { JobRunAction, JobRunPlan, JobRunPlanInput, JobRunTarget } from './types.js';

/** Slowest poll while a run is not final (also bounded by the resync period). */
export const RUN_POLL_MAX_MS = 5 * 60_000;

/** A job run plan's parts; the verdicts are OutcomeBase's, the status is made here. */
export class JobRunOutcome extends OutcomeBase<JobRunStatus, JobRunAction, JobRunPlan> {
  declare protected readonly input: JobRunPlanInput;
  protected readonly pollMaxMs = RUN_POLL_MAX_MS;
  /** Health of the job-level key, when one is declared and was checked. */
  keyHealth?: KeyHealth;
  private run?: AwsJobRun;
  private target?: JobRunTarget;
  private account?: string;
  /** The application's disk encryption, recorded before submission for a run that inherits it. */
  private inherited?: DiskEncryptionStatus;

  constructor(
    input: JobRunPlanInput,
    private readonly spec: JobRunSpec | undefined,
  ) {
    super(input);
  }

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

  protected finish(verdict: Verdict, requeueAfterMs: number): JobRunPlan {
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
