// The AWS permissions the operator and its applications need, as data: printed by the CLI,
// shipped in docs, and checked by tests against what the code calls.
import { OPERATOR_TAG_PREFIX, OWNER_CLUSTER_TAG, OWNER_UID_TAG } from '../api/constants.js';
import { matchesPattern, type NamedPolicy } from '../api/policy-rules.js';

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

/** PassJobExecutionRoles' Resource unless narrowed: every role of every account. */
export const ANY_ROLE = 'arn:aws:iam::*:role/*';
/** UseJobLevelDiskEncryptionKeys' (and VerifyDiskEncryptionKeys') Resource unless narrowed. */
export const ANY_KEY = 'arn:aws:kms:*:*:key/*';

export interface OperatorIamPolicyOptions {
  /** The cluster's `run --cluster-id`: scopes every write to this cluster's applications. */
  clusterId?: string;
  /**
   * PassJobExecutionRoles' Resource: role ARNs or patterns (`*` as in IAM). Absent: ANY_ROLE.
   * Empty: the statement is left out (no role may be passed).
   */
  passRoleResources?: readonly string[];
  /** UseJobLevelDiskEncryptionKeys' Resource: key ARNs or patterns. Absent: ANY_KEY. Empty: left out. */
  jobKeyResources?: readonly string[];
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
  const { passRoleResources: roles, jobKeyResources: keys } = options;
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
        Resource: ANY_KEY,
      },
      ...(roles?.length === 0
        ? []
        : [
            {
              // The wide default (every role) unless narrowed: key-policy --policies, --pass-role-arn
              // or --role-path. Whoever can create an EmrServerlessJobRun runs as a role this allows.
              Sid: 'PassJobExecutionRoles',
              Effect: 'Allow',
              Action: [JOB_SUBMISSION_ACTIONS.passRole],
              Resource: roles ? [...roles] : ANY_ROLE,
              Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
            },
          ]),
      ...(keys?.length === 0
        ? []
        : [
            {
              // Only through EMR Serverless (a job run's own key). The wide default (every key)
              // unless narrowed: key-policy --policies.
              Sid: 'UseJobLevelDiskEncryptionKeys',
              Effect: 'Allow',
              Action: [...JOB_SUBMISSION_ACTIONS.jobLevelKey],
              Resource: keys ? [...keys] : ANY_KEY,
              Condition: { StringLike: { 'kms:ViaService': 'emr-serverless.*.amazonaws.com' } },
            },
          ]),
    ],
  };
}

/** An EmrServerlessPolicy read for narrowing, with where it was read from (for messages). */
export interface PolicyFromFile extends NamedPolicy {
  file?: string;
}

/** What narrows the job submission statements; several sources add up (their union). */
export interface JobSubmissionBounds {
  /** EmrServerlessPolicy objects: their jobRuns.allowedExecutionRoleArns and encryption.allowedKeyArns. */
  policies?: readonly PolicyFromFile[];
  /** Role ARNs or patterns to allow passing (`--pass-role-arn`). */
  passRoleArns?: readonly string[];
  /** IAM role paths (`/teams/`): every role under them (`--role-path`). */
  rolePaths?: readonly string[];
}

/**
 * Why a pattern (`*` = any characters, the rest literal) cannot be an IAM Resource with the same
 * meaning, or undefined when it can. IAM's `*` is ours; but IAM also reads `?` as any one
 * character and `${...}` as a policy variable, where a pattern means them literally. Role names
 * and key ids contain neither, so a pattern holding one is refused rather than escaped.
 */
export function iamResourceProblem(pattern: string): string | undefined {
  if (pattern.includes('?')) {
    return 'contains "?", which IAM reads as a wildcard for any one character (a pattern here means it literally, and role names and key ids never contain it): remove it, or use *';
  }
  if (pattern.includes('${')) {
    return 'contains "${", which IAM reads as the start of a policy variable: remove it';
  }
  if (pattern !== '*' && !pattern.startsWith('arn:')) return 'is not an ARN (arn:...) or *';
  return undefined;
}

/** The role pattern for an IAM role path: `/teams/` -> `arn:aws:iam::*:role/teams/*`. */
export function rolePathPattern(path: string): string {
  // IAM: "/" alone, or "/" + printable ASCII + "/", at most 512 characters.
  if (!/^\/(?:[\x21-\x7e]*\/)?$/.test(path) || path.length > 512) {
    throw new Error(`--role-path must be / or start and end with / (like /teams/analytics/), got ${path}`);
  }
  const pattern = `arn:aws:iam::*:role${path}*`;
  const problem = iamResourceProblem(pattern);
  if (problem) throw new Error(`--role-path ${path} ${problem}`);
  return pattern;
}

/**
 * The union of patterns without those another one covers: a pattern q covers p when q matches
 * p's own text (p's `*` taken literally, which only q's `*` can match), so every value p matches,
 * q matches too. The first of two equivalent patterns stays.
 */
export function unionOfPatterns(patterns: Iterable<string>): string[] {
  const kept: string[] = [];
  for (const p of patterns) {
    if (kept.some((q) => q === p || matchesPattern(p, q))) continue;
    const covered = kept.filter((q) => matchesPattern(q, p));
    for (const q of covered) kept.splice(kept.indexOf(q), 1);
    kept.push(p);
  }
  return kept;
}

const named = (policies: readonly PolicyFromFile[]) =>
  [...new Set(policies.map((p) => `"${p.name}"${p.file ? ` (${p.file})` : ''}`))].join(', ');

/**
 * PassJobExecutionRoles' and UseJobLevelDiskEncryptionKeys' Resource for these bounds, as
 * operatorIamPolicy options, and notes for the reader (where a bound stays wide or a statement is
 * left out). A policy that leaves a list absent does not restrict it: that statement keeps the
 * wide default. Throws for a pattern IAM would read differently (iamResourceProblem).
 */
export function jobSubmissionResources(bounds: JobSubmissionBounds): {
  options: Pick<OperatorIamPolicyOptions, 'passRoleResources' | 'jobKeyResources'>;
  notes: string[];
} {
  const policies = bounds.policies ?? [];
  const notes: string[] = [];
  const options: Pick<OperatorIamPolicyOptions, 'passRoleResources' | 'jobKeyResources'> = {};
  const checked = (patterns: readonly string[], where: string) =>
    patterns.map((pattern) => {
      const problem = iamResourceProblem(pattern);
      if (problem) throw new Error(`${where}: ${pattern} ${problem}`);
      return pattern;
    });
  const policyWhere = (p: PolicyFromFile, list: string) => `EmrServerlessPolicy ${named([p])} ${list}`;

  const roles = [
    ...policies.flatMap((p) =>
      checked(
        p.spec.jobRuns?.allowedExecutionRoleArns ?? [],
        policyWhere(p, 'jobRuns.allowedExecutionRoleArns'),
      ),
    ),
    ...checked(bounds.passRoleArns ?? [], '--pass-role-arn'),
    ...(bounds.rolePaths ?? []).map(rolePathPattern),
  ];
  const rolesOpen = policies.filter((p) => p.spec.jobRuns?.allowedExecutionRoleArns === undefined);
  if (rolesOpen.length > 0) {
    notes.push(
      `EmrServerlessPolicy ${named(rolesOpen)} sets no jobRuns.allowedExecutionRoleArns (any role): PassJobExecutionRoles keeps Resource ${ANY_ROLE}`,
    );
  } else if (policies.length > 0 || roles.length > 0) {
    options.passRoleResources = unionOfPatterns(roles);
    if (roles.length === 0) {
      notes.push(
        'no policy allows any execution role (allowedExecutionRoleArns: []): PassJobExecutionRoles is left out, so no job run can be submitted',
      );
    }
  }

  if (policies.length > 0) {
    // A policy that forbids job-level keys needs none: its job runs use their application's key.
    const withJobKeys = policies.filter((p) => p.spec.encryption?.jobRunKeyOverride !== 'Forbidden');
    const keysOpen = withJobKeys.filter((p) => p.spec.encryption?.allowedKeyArns === undefined);
    const keys = withJobKeys.flatMap((p) =>
      checked(p.spec.encryption?.allowedKeyArns ?? [], policyWhere(p, 'encryption.allowedKeyArns')),
    );
    if (withJobKeys.length === 0) {
      options.jobKeyResources = [];
      notes.push(
        'every policy sets encryption.jobRunKeyOverride: Forbidden: UseJobLevelDiskEncryptionKeys is left out',
      );
    } else if (keysOpen.length > 0) {
      notes.push(
        `EmrServerlessPolicy ${named(keysOpen)} sets no encryption.allowedKeyArns (any key): UseJobLevelDiskEncryptionKeys keeps Resource ${ANY_KEY}`,
      );
    } else {
      options.jobKeyResources = unionOfPatterns(keys);
      if (keys.length === 0) {
        notes.push(
          'no policy allows any KMS key (allowedKeyArns: []): UseJobLevelDiskEncryptionKeys is left out',
        );
      }
    }
  }
  return { options, notes };
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
