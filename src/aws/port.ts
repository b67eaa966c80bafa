// The small port through which the operator talks to AWS. SDK types stop at its
// implementation (sdk-port.ts); the planners and the kinds' actions see only these shapes.
import type { JobConfigurationOverrides, JobDriver } from '../api/jobrun-schema.js';
import type { ApplicationFields, DiskEncryptionConfiguration } from '../api/schema.js';

export const APPLICATION_STATES = [
  'CREATING',
  'CREATED',
  'STARTING',
  'STARTED',
  'STOPPING',
  'STOPPED',
  'TERMINATED',
] as const;
export type ApplicationState = (typeof APPLICATION_STATES)[number];

/** An application as GetApplication answers it, in the same field names as the spec. */
export interface AwsApplication extends ApplicationFields {
  applicationId: string;
  arn: string;
  name?: string;
  type: string;
  releaseLabel: string;
  state: ApplicationState;
  stateDetails?: string;
  tags: Record<string, string>;
  /** When the service last changed the application (any field or state; tags are not known to move it). */
  updatedAt?: Date;
}

/** One live application as ListApplications answers it: enough to tell whether it moved. */
export interface ApplicationSummary {
  applicationId: string;
  name?: string;
  state: ApplicationState;
  updatedAt?: Date;
}

export interface CreateApplicationInput extends ApplicationFields {
  name: string;
  type: string;
  releaseLabel: string;
  tags: Record<string, string>;
  clientToken: string;
}

export const JOB_RUN_STATES = [
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'RUNNING',
  'SUCCESS',
  'FAILED',
  'CANCELLING',
  'CANCELLED',
  'QUEUED',
] as const;
export type JobRunState = (typeof JOB_RUN_STATES)[number];
export const FINAL_JOB_RUN_STATES: readonly JobRunState[] = ['SUCCESS', 'FAILED', 'CANCELLED'];

export interface StartJobRunInput {
  applicationId: string;
  clientToken: string;
  name: string;
  executionRoleArn: string;
  jobDriver: JobDriver;
  configurationOverrides?: JobConfigurationOverrides;
  tags: Record<string, string>;
  executionTimeoutMinutes?: number;
  mode?: 'BATCH' | 'STREAMING';
  retryPolicy?: { maxAttempts?: number; maxFailedAttemptsPerHour?: number };
}

export interface ResourceUtilization {
  vCPUHour?: number;
  memoryGBHour?: number;
  storageGBHour?: number;
}

/** A job run as GetJobRun answers it: the parts the operator shows or acts on. */
export interface AwsJobRun {
  applicationId: string;
  jobRunId: string;
  arn: string;
  name?: string;
  state: JobRunState;
  stateDetails?: string;
  createdAt?: Date;
  startedAt?: Date;
  endedAt?: Date;
  attempt?: number;
  totalExecutionDurationSeconds?: number;
  totalResourceUtilization?: ResourceUtilization;
  billedResourceUtilization?: ResourceUtilization;
  /** The disk encryption the run was started with, as the service resolved it. */
  diskEncryptionConfiguration?: DiskEncryptionConfiguration;
  tags: Record<string, string>;
}

export interface OwnedJobRunQuery {
  name: string;
  ownerUid: string;
  /** The declaration's digest (SUBMISSION_TAG): a run with it is found however old. */
  submission?: string;
  /** Without `submission`, only runs created since then are read (the uid's run is not older). */
  createdAfter: Date;
  /** Listed by mode explicitly: whether ListJobRuns without one includes STREAMING runs is unknown. */
  mode: 'BATCH' | 'STREAMING';
}

/** What DescribeKey said about a key. */
export type KeyFacts =
  | { kind: 'found'; arn: string; keyState: string; keySpec: string; keyUsage: string }
  | { kind: 'notFound'; message: string }
  | { kind: 'accessDenied'; message: string };

/**
 * What GetKeyPolicy (policy name `default`) said. `unreadable`: the service refused the request
 * for another reason than the key or the caller's rights; the policy is then not known.
 */
export type KeyPolicyFacts =
  | { kind: 'found'; policy: string }
  | { kind: 'notFound'; message: string }
  | { kind: 'accessDenied'; message: string }
  | { kind: 'unreadable'; message: string };

/** Counts of what keeps an application busy; each exact up to a page, a lower bound above. */
export interface ActiveWork {
  jobRuns: number;
  sessions: number;
}

export interface AwsPort {
  readonly region: string;
  /** The account of the namespace role this port acts as; undefined for the operator's own identity. */
  readonly account?: string | undefined;
  /** undefined when the service answers ResourceNotFound. TERMINATED apps are returned. */
  getApplication(applicationId: string): Promise<AwsApplication | undefined>;
  /** Every application not TERMINATED (all pages of ListApplications). */
  listApplications(): Promise<ApplicationSummary[]>;
  /**
   * The non-terminated app with this name tagged with this owner uid, if any. `candidates`: the
   * ids a listing already names with this name (the scope's shared listing): only those are read.
   */
  findOwnedApplication(
    name: string,
    ownerUid: string,
    candidates?: readonly string[],
  ): Promise<AwsApplication | undefined>;
  createApplication(input: CreateApplicationInput): Promise<{ applicationId: string; arn: string }>;
  /** Sends exactly the given fields; answers the application as updated. */
  updateApplication(applicationId: string, changes: ApplicationFields): Promise<AwsApplication>;
  startApplication(applicationId: string): Promise<void>;
  stopApplication(applicationId: string): Promise<void>;
  deleteApplication(applicationId: string): Promise<void>;
  tagApplication(arn: string, tags: Record<string, string>): Promise<void>;
  untagApplication(arn: string, tagKeys: string[]): Promise<void>;
  /**
   * The work that keeps an application busy: job runs of every mode in a non-final state, and
   * interactive sessions not ended (either blocks StopApplication and DeleteApplication).
   */
  countActiveWork(applicationId: string): Promise<ActiveWork>;
  /** Answers the run StartJobRun made (the same one again for a clientToken already used). */
  startJobRun(input: StartJobRunInput): Promise<{ jobRunId: string; arn: string }>;
  /** undefined when the service answers ResourceNotFound. */
  getJobRun(applicationId: string, jobRunId: string): Promise<AwsJobRun | undefined>;
  cancelJobRun(applicationId: string, jobRunId: string): Promise<void>;
  /**
   * The run of this application with this name and mode, created at or after `createdAfter`,
   * tagged with this owner uid, if any: how a run whose StartJobRun answer was lost is found again.
   */
  findOwnedJobRun(applicationId: string, query: OwnedJobRunQuery): Promise<AwsJobRun | undefined>;
  /** Must be called on the port of the key's own region. */
  describeKey(keyArn: string): Promise<KeyFacts>;
  /** The key's `default` key policy; on the port of the key's own region. */
  getKeyPolicy(keyArn: string): Promise<KeyPolicyFacts>;
}

/** How the operator treats a failed AWS call. */
export type AwsErrorKind =
  | 'throttled' // retry with backoff
  | 'transient' // 5xx, network, timeouts: retry with backoff
  | 'stateRace' // the app changed state between read and write: look again soon
  | 'invalid' // the service refused the input: Stalled until spec changes
  | 'accessDenied' // IAM: Stalled until permissions change (re-checked on resync)
  | 'quota' // ServiceQuotaExceeded: Stalled, re-checked on resync
  | 'conflict' // ConflictException: retry
  | 'notFound'
  | 'noAccountMapping'; // the namespace names no role and one is required: Stalled until an admin maps it

export class AwsError extends Error {
  constructor(
    readonly kind: AwsErrorKind,
    readonly code: string,
    message: string,
    readonly operation: string,
  ) {
    super(message);
    this.name = 'AwsError';
  }
}
