// The shapes a job run plan is made of: what the job run planner is given and what it answers.
import type { EmrServerlessJobRun, JobRunStatus } from '../../api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../../api/schema.js';
import type { AwsJobRun, KeyFacts, KeyPolicyFacts, StartJobRunInput } from '../../aws/port.js';
import type { PlanOptions } from '../application/types.js';
import type { NamespacePolicies } from '../policies.js';
import type { RecordedEvent } from '../ports.js';

export type JobRunAction = (
  | { kind: 'AddFinalizer' }
  | { kind: 'RemoveFinalizer' }
  | { kind: 'StartJobRun'; region: string; input: StartJobRunInput }
  | { kind: 'CancelJobRun'; region: string; applicationId: string; jobRunId: string }
  /** Deletes the resource itself (ttlSecondsAfterFinished). */
  | { kind: 'DeleteResource' }
) & {
  /** Recorded once the action has succeeded. */
  events?: RecordedEvent[];
};

/** Which application a run goes to, and where. */
export interface JobRunTarget {
  applicationId: string;
  region: string;
}

export interface JobRunObserved {
  /** The EmrServerlessApplication named by spec.applicationRef, from the cache; undefined when none. */
  application?: EmrServerlessApplication;
  /** The run: undefined when there was nothing to look up, null when it was not found. */
  run?: AwsJobRun | null;
  /** DescribeKey's answer for the job-level key, when one is declared and checked. */
  key?: KeyFacts;
  /** GetKeyPolicy's answer for the job-level key, when DescribeKey found it and policy checks are on. */
  keyPolicy?: KeyPolicyFacts;
  /** The role the run is submitted as (the namespace's), when known: for a key of another account. */
  submitterRoleArn?: string;
  /**
   * The AWS account this reconcile acts in, when known: the namespace role's, the found run's, or
   * (for a submitted run not found) the operator's own, asked of STS.
   */
  account?: string;
  /** The EmrServerlessPolicies governing the namespace; looked up only before submission. */
  policies?: NamespacePolicies;
}

export interface JobRunPlanInput {
  resource: EmrServerlessJobRun;
  observed: JobRunObserved;
  options: PlanOptions;
  now: Date;
}

export interface JobRunPlan {
  actions: JobRunAction[];
  status: JobRunStatus;
  /** Events to record now (entering a waiting or stalled state, warnings). */
  events: RecordedEvent[];
  requeueAfterMs: number;
  /** The policies that refuse the submission (Stalled PolicyViolation); absent when none does. */
  refusedBy?: string[];
}
