// What IAM is asked for each EMR Serverless call: the action, the resource and the condition keys
// the request carries, as AWS's Service Authorization Reference lists them for emr-serverless
// (src/aws/authorization.json holds the same facts for the operator's printed policy).
//  - An action on an application, a job run or a session carries that resource's tags
//    (`aws:ResourceTag/K`); CreateApplication and ListApplications have no resource type (`*`).
//  - Tags sent with a request carry `aws:RequestTag/K` and `aws:TagKeys`; tagging at creation
//    (CreateApplication, StartJobRun, StartSession with tags) is also authorised as TagResource,
//    on a resource that has no tags yet.
//  - StartJobRun and StartSession pass the execution role: `iam:PassRole` on it, with
//    `iam:PassedToService`.
// A job run's own disk encryption key is checked separately, as KMS judges it (keyUses).
import type { AccessRequest, RequestContext } from './iam.js';

/** What authorization needs to know of the service's resources. */
export interface ResourceLookup {
  /** The tags of a visible application, job run or session, by ARN; undefined when it is not visible. */
  tagsOf(arn: string): Record<string, string> | undefined;
}

export interface EmrCall {
  operation: string;
  account: string;
  region: string;
  applicationId?: string | undefined;
  jobRunId?: string | undefined;
  sessionId?: string | undefined;
  /** TagResource, UntagResource, ListTagsForResource: the ARN in the path. */
  resourceArn?: string | undefined;
  body: Record<string, unknown>;
  query: URLSearchParams;
}

/** A use of a KMS key that EMR Serverless makes on the caller's behalf. */
export interface KeyUseRequest {
  keyArn: string;
  actions: string[];
  context: RequestContext;
}

export const EMR_SERVERLESS_PRINCIPAL = 'emr-serverless.amazonaws.com';
/** What submitting with a job-level key asks of the submitter (AWS's disk encryption guide). */
const SUBMITTER_KEY_ACTIONS = ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'];

const action = (operation: string) => `emr-serverless:${operation}`;

function requestTags(tags: unknown): RequestContext {
  if (!tags || typeof tags !== 'object' || Array.isArray(tags)) return {};
  const entries = Object.entries(tags as Record<string, unknown>).filter(([, v]) => typeof v === 'string');
  if (entries.length === 0) return {};
  return {
    ...Object.fromEntries(entries.map(([k, v]) => [`aws:RequestTag/${k}`, v as string])),
    'aws:TagKeys': entries.map(([k]) => k),
  };
}

function resourceTags(tags: Record<string, string> | undefined): RequestContext {
  return Object.fromEntries(Object.entries(tags ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
}

/** The IAM requests one EMR Serverless call makes. */
export function emrAccessRequests(call: EmrCall, lookup: ResourceLookup): AccessRequest[] {
  const appArn = `arn:aws:emr-serverless:${call.region}:${call.account}:/applications/${call.applicationId}`;
  const on = (arn: string, extra: RequestContext = {}): AccessRequest => ({
    action: action(call.operation),
    resource: arn,
    context: { ...resourceTags(lookup.tagsOf(arn)), ...extra },
  });
  const tagsSent = requestTags(call.body.tags);
  const tagOnCreate: AccessRequest[] =
    Object.keys(tagsSent).length > 0
      ? [{ action: action('TagResource'), resource: '*', context: tagsSent }]
      : [];
  const passRole = (): AccessRequest[] =>
    typeof call.body.executionRoleArn === 'string'
      ? [
          {
            action: 'iam:PassRole',
            resource: call.body.executionRoleArn,
            context: { 'iam:PassedToService': EMR_SERVERLESS_PRINCIPAL },
          },
        ]
      : [];
  switch (call.operation) {
    case 'CreateApplication':
      return [{ action: action('CreateApplication'), resource: '*', context: tagsSent }, ...tagOnCreate];
    case 'ListApplications':
      return [{ action: action('ListApplications'), resource: '*' }];
    case 'StartJobRun':
    case 'StartSession':
      return [on(appArn, tagsSent), ...passRole(), ...tagOnCreate];
    case 'GetJobRun':
    case 'CancelJobRun':
    case 'ListJobRunAttempts':
    case 'GetDashboardForJobRun':
      return [on(`${appArn}/jobruns/${call.jobRunId}`)];
    case 'GetSession':
    case 'TerminateSession':
    case 'GetSessionEndpoint':
      return [on(`${appArn}/sessions/${call.sessionId}`)];
    case 'TagResource':
      return [on(call.resourceArn ?? '*', tagsSent)];
    case 'UntagResource': {
      const keys = call.query.getAll('tagKeys');
      return [on(call.resourceArn ?? '*', keys.length > 0 ? { 'aws:TagKeys': keys } : {})];
    }
    case 'ListTagsForResource':
      return [on(call.resourceArn ?? '*')];
    default:
      // GetApplication, UpdateApplication, DeleteApplication, Start/StopApplication, ListJobRuns,
      // ListSessions, GetResourceDashboard: the application.
      return [on(appArn)];
  }
}

/**
 * The keys EMR Serverless uses on the submitter's behalf at StartJobRun: a job-level key must let
 * the submitter describe it and make and open data keys, through EMR Serverless in this region.
 */
export function emrKeyUses(call: EmrCall): KeyUseRequest[] {
  if (call.operation !== 'StartJobRun') return [];
  const overrides = call.body.configurationOverrides as Record<string, unknown> | undefined;
  const disk = overrides?.diskEncryptionConfiguration as
    | { encryptionKeyArn?: unknown; encryptionContext?: unknown }
    | undefined;
  if (typeof disk?.encryptionKeyArn !== 'string') return [];
  const context =
    disk.encryptionContext && typeof disk.encryptionContext === 'object'
      ? (disk.encryptionContext as Record<string, string>)
      : {};
  return [
    {
      keyArn: disk.encryptionKeyArn,
      actions: SUBMITTER_KEY_ACTIONS,
      context: {
        'kms:ViaService': `emr-serverless.${call.region}.amazonaws.com`,
        ...Object.fromEntries(Object.entries(context).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
      },
    },
  ];
}
