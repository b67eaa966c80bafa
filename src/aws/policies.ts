// The AWS permissions the operator and its applications need, as data: printed by the CLI,
// shipped in docs, and checked by tests against what the code calls.
import { OPERATOR_TAG_PREFIX, OWNER_CLUSTER_TAG, OWNER_UID_TAG } from '../api/constants.js';

/** Every EMR Serverless action the operator's port calls, and KMS DescribeKey to verify keys. */
export const OPERATOR_ACTIONS = {
  emrServerless: [
    'emr-serverless:CreateApplication',
    'emr-serverless:GetApplication',
    'emr-serverless:UpdateApplication',
    'emr-serverless:DeleteApplication',
    'emr-serverless:ListApplications',
    'emr-serverless:StartApplication',
    'emr-serverless:StopApplication',
    'emr-serverless:ListJobRuns',
    'emr-serverless:StartJobRun',
    'emr-serverless:GetJobRun',
    'emr-serverless:CancelJobRun',
    'emr-serverless:TagResource',
    'emr-serverless:UntagResource',
    'emr-serverless:ListTagsForResource',
  ],
  kms: ['kms:DescribeKey'],
} as const;

/**
 * What submitting a job run needs besides the calls the operator makes: passing the job's
 * execution role to EMR Serverless, and (for a job-level key) using the key, which the service
 * checks on the submitter's behalf.
 */
export const JOB_SUBMISSION_ACTIONS = {
  passRole: 'iam:PassRole',
  jobLevelKey: ['kms:GenerateDataKey', 'kms:Decrypt'],
} as const;

type Statement = Record<string, unknown>;

const emr = (...ops: string[]) => ops.map((op) => `emr-serverless:${op}`);
const resourceTag = (key: string) => `aws:ResourceTag/${key}`;
const requestTag = (key: string) => `aws:RequestTag/${key}`;

export interface OperatorIamPolicyOptions {
  /** The cluster's `run --cluster-id`: scopes every write to this cluster's applications. */
  clusterId?: string;
}

/**
 * The IAM policy for the operator's role (IRSA or EKS Pod Identity). Writes follow the ownership
 * tags: only applications carrying the operator's uid tag (and this cluster's tag, when given)
 * may be changed, created only with that tag, and the tag itself is never removed.
 * docs/aws-permissions.md explains each statement.
 */
export function operatorIamPolicy(options: OperatorIamPolicyOptions = {}): {
  Version: string;
  Statement: Statement[];
} {
  const cluster = options.clusterId;
  const owned = {
    Null: { [resourceTag(OWNER_UID_TAG)]: 'false' },
    ...(cluster && { StringEquals: { [resourceTag(OWNER_CLUSTER_TAG)]: cluster } }),
  };
  const claimedInRequest = {
    Null: { [requestTag(OWNER_UID_TAG)]: 'false' },
    'ForAnyValue:StringEquals': { 'aws:TagKeys': [OWNER_UID_TAG] },
    ...(cluster && { StringEquals: { [requestTag(OWNER_CLUSTER_TAG)]: cluster } }),
  };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadEmrServerlessApplications',
        Effect: 'Allow',
        // GetJobRun too: finding a run after a crash reads runs of the same name that may not be ours.
        Action: emr('GetApplication', 'ListApplications', 'ListJobRuns', 'GetJobRun', 'ListTagsForResource'),
        Resource: '*',
      },
      {
        Sid: 'CreateOwnedApplications',
        Effect: 'Allow',
        Action: emr('CreateApplication', 'TagResource'),
        Resource: '*',
        Condition: claimedInRequest,
      },
      {
        Sid: 'ManageOwnedApplications',
        Effect: 'Allow',
        Action: emr(
          'UpdateApplication',
          'DeleteApplication',
          'StartApplication',
          'StopApplication',
          'TagResource',
        ),
        Resource: '*',
        Condition: owned,
      },
      {
        Sid: 'UntagOwnedApplicationsButNotTheClaim',
        Effect: 'Allow',
        Action: emr('UntagResource'),
        Resource: '*',
        Condition: { ...owned, 'ForAllValues:StringNotLike': { 'aws:TagKeys': [`${OPERATOR_TAG_PREFIX}*`] } },
      },
      {
        Sid: 'ClaimUnclaimedApplications',
        Effect: 'Allow',
        Action: emr('TagResource'),
        Resource: '*',
        Condition: {
          ...claimedInRequest,
          Null: { ...claimedInRequest.Null, [resourceTag(OWNER_UID_TAG)]: 'true' },
        },
      },
      {
        // EmrServerlessJobRun: submit only to applications the operator owns (the application's
        // tags), with the run claimed in the request (its tags; CreateOwnedApplications' TagResource
        // covers tagging at creation).
        Sid: 'SubmitJobRunsToOwnedApplications',
        Effect: 'Allow',
        Action: emr('StartJobRun'),
        Resource: '*',
        Condition: {
          Null: { [resourceTag(OWNER_UID_TAG)]: 'false', [requestTag(OWNER_UID_TAG)]: 'false' },
          ...(cluster && {
            StringEquals: {
              [resourceTag(OWNER_CLUSTER_TAG)]: cluster,
              [requestTag(OWNER_CLUSTER_TAG)]: cluster,
            },
          }),
        },
      },
      {
        // Cancel on deletion: only runs the operator submitted (the run's own tags).
        Sid: 'CancelOwnedJobRuns',
        Effect: 'Allow',
        Action: emr('CancelJobRun'),
        Resource: '*',
        Condition: owned,
      },
      {
        Sid: 'VerifyDiskEncryptionKeys',
        Effect: 'Allow',
        Action: [...OPERATOR_ACTIONS.kms],
        Resource: 'arn:aws:kms:*:*:key/*',
      },
      {
        // Narrow Resource to your job execution roles.
        Sid: 'PassJobExecutionRoles',
        Effect: 'Allow',
        Action: [JOB_SUBMISSION_ACTIONS.passRole],
        Resource: 'arn:aws:iam::*:role/*',
        Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
      },
      {
        // Only through EMR Serverless (a job run's own key); narrow Resource to those keys.
        Sid: 'UseJobLevelDiskEncryptionKeys',
        Effect: 'Allow',
        Action: [...JOB_SUBMISSION_ACTIONS.jobLevelKey],
        Resource: 'arn:aws:kms:*:*:key/*',
        Condition: { StringLike: { 'kms:ViaService': 'emr-serverless.*.amazonaws.com' } },
      },
    ],
  };
}

export interface KeyPolicyOptions {
  /** The application's ARN, or a pattern such as arn:aws:emr-serverless:REGION:ACCOUNT:/applications/* before it exists. */
  applicationArn: string;
  encryptionContext?: Record<string, string>;
  /** The job runtime role, which needs the key too. */
  runtimeRoleArn?: string;
  /** The operator's role, so DescribeKey verification works for keys in other accounts. */
  operatorRoleArn?: string;
}

const APPLICATION_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):emr-serverless:([a-z0-9-]+):([0-9]{12}):\/applications\/([0-9a-z*]+)$/;

/** The statements to add to the KMS key policy so EMR Serverless can encrypt the workers' disks. */
export function keyPolicyStatements(options: KeyPolicyOptions): Statement[] {
  const match = APPLICATION_ARN.exec(options.applicationArn);
  if (!match) {
    throw new Error(
      `--application-arn must look like arn:aws:emr-serverless:REGION:ACCOUNT:/applications/ID (or /applications/*), got ${options.applicationArn}`,
    );
  }
  const account = match[3]!;
  const contextConditions = Object.fromEntries(
    Object.entries(options.encryptionContext ?? {}).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]),
  );
  const withContext = (conditions: Record<string, unknown>) =>
    Object.keys(contextConditions).length > 0
      ? { ...conditions, StringEquals: { ...(conditions.StringEquals as object), ...contextConditions } }
      : conditions;
  const statements: Statement[] = [
    {
      Sid: 'AllowEmrServerlessDiskEncryption',
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: withContext({
        StringEquals: { 'aws:SourceAccount': account },
        ArnLike: { 'aws:SourceArn': options.applicationArn },
      }),
    },
  ];
  if (options.runtimeRoleArn) {
    statements.push({
      Sid: 'AllowJobRuntimeRole',
      Effect: 'Allow',
      Principal: { AWS: options.runtimeRoleArn },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      ...(Object.keys(contextConditions).length ? { Condition: { StringEquals: contextConditions } } : {}),
    });
  }
  if (options.operatorRoleArn) {
    statements.push({
      Sid: 'AllowOperatorToVerifyKey',
      Effect: 'Allow',
      Principal: { AWS: options.operatorRoleArn },
      Action: 'kms:DescribeKey',
      Resource: '*',
    });
  }
  return statements;
}
