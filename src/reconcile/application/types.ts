// The shapes a plan is made of: what the planner is given and what it answers.
import type { ApplicationFields, EmrServerlessApplication, Status } from '../../api/schema.js';
import type {
  ActiveWork,
  AwsApplication,
  CreateApplicationInput,
  KeyFacts,
  KeyPolicyFacts,
} from '../../aws/port.js';
import type { PlanOptions } from '../options.js';
import type { NamespacePolicies } from '../policies.js';
import type { RecordedEvent } from '../ports.js';

export type Action = (
  | { kind: 'AddFinalizer' }
  | { kind: 'RemoveFinalizer' }
  | { kind: 'CreateApplication'; input: CreateApplicationInput }
  | { kind: 'UpdateApplication'; applicationId: string; changes: ApplicationFields }
  | { kind: 'TagApplication'; arn: string; tags: Record<string, string> }
  | { kind: 'UntagApplication'; arn: string; tagKeys: string[] }
  /** Tag an application with this resource's ownership tags unless another resource holds it; see ownership.ts. */
  | { kind: 'ClaimApplication'; applicationId: string; arn: string; tags: Record<string, string> }
  | { kind: 'StartApplication' | 'StopApplication' | 'DeleteApplication'; applicationId: string }
) & {
  /** Recorded once the action has succeeded. */
  events?: RecordedEvent[];
};

export interface Observed {
  /** The application: undefined when there was nothing to look up, null when it was not found. */
  app: AwsApplication | null | undefined;
  /** Job runs not in a final state and sessions not ended; looked up only when a plan asks (`needs`). */
  activeWork?: ActiveWork;
  /** DescribeKey's answer for the declared key, when one is declared and verification is on. */
  key?: KeyFacts;
  /** GetKeyPolicy's answer for the declared key, when DescribeKey found it and policy checks are on. */
  keyPolicy?: KeyPolicyFacts;
  /**
   * The AWS account this reconcile acts in: the namespace role's, or the operator's own when
   * known (a found application's ARN, or STS for a bound application not found); else undefined.
   */
  account?: string;
  /** The EmrServerlessPolicies governing the namespace; looked up for every plan but deletion's. */
  policies?: NamespacePolicies;
}

export interface PlanInput {
  resource: EmrServerlessApplication;
  observed: Observed;
  options: PlanOptions;
  now: Date;
}

export interface Plan {
  actions: Action[];
  status: Status;
  /** Events to record now (entering a waiting or stalled state, warnings). */
  events: RecordedEvent[];
  requeueAfterMs: number;
  /** The plan cannot be made without this observation: fetch it and plan again. */
  needs?: 'activeWork';
  /** The fields of a correction this plan found undone by another writer (fights.ts), for metrics. */
  undone?: string[];
  /** The policies that refuse the resource (Stalled PolicyViolation); absent when none does. */
  refusedBy?: string[];
}

export type { PlanOptions };
