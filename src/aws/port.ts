// The small port through which the operator talks to AWS. SDK types stop at its
// implementation (sdk-port.ts); the planner and executor see only these shapes.
import type { ApplicationFields } from '../api/schema.js';

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
}

export interface CreateApplicationInput extends ApplicationFields {
  name: string;
  type: string;
  releaseLabel: string;
  tags: Record<string, string>;
  clientToken: string;
}

/** What DescribeKey said about a key. */
export type KeyFacts =
  | { kind: 'found'; arn: string; keyState: string; keySpec: string; keyUsage: string }
  | { kind: 'notFound'; message: string }
  | { kind: 'accessDenied'; message: string };

/** One region's EMR Serverless and KMS, as the operator uses them. */
export interface AwsPort {
  readonly region: string;
  /** undefined when the service answers ResourceNotFound. TERMINATED apps are returned. */
  getApplication(applicationId: string): Promise<AwsApplication | undefined>;
  /** The non-terminated app with this name tagged with this owner uid, if any. */
  findOwnedApplication(name: string, ownerUid: string): Promise<AwsApplication | undefined>;
  createApplication(input: CreateApplicationInput): Promise<{ applicationId: string; arn: string }>;
  /** Sends exactly the given fields; answers the application as updated. */
  updateApplication(applicationId: string, changes: ApplicationFields): Promise<AwsApplication>;
  startApplication(applicationId: string): Promise<void>;
  stopApplication(applicationId: string): Promise<void>;
  deleteApplication(applicationId: string): Promise<void>;
  tagApplication(arn: string, tags: Record<string, string>): Promise<void>;
  untagApplication(arn: string, tagKeys: string[]): Promise<void>;
  /** Job runs in a non-final state (they block StopApplication). */
  countActiveJobRuns(applicationId: string): Promise<number>;
  /** Must be called on the port of the key's own region. */
  describeKey(keyArn: string): Promise<KeyFacts>;
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
  | 'notFound';

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
