// The AWS permissions the operator and its applications need, as data: printed by the CLI,
// shipped in docs, and checked by tests against what the code calls.
import { OPERATOR_TAG_PREFIX, OWNER_CLUSTER_TAG, OWNER_UID_TAG } from '../api/constants.js';
import { matchesPattern, type NamedPolicy } from '../api/policy-rules.js';

/** Every EMR Serverless action the operator's port calls, and the KMS reads that verify keys. */
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
    'emr-serverless:ListSessions',
    'emr-serverless:StartJobRun',
    'emr-serverless:GetJobRun',
    'emr-serverless:CancelJobRun',
    'emr-serverless:TagResource',
    'emr-serverless:UntagResource',
    'emr-serverless:ListTagsForResource',
  ],
  // GetKeyPolicy: whether the key policy lets EMR Serverless use the key (key-policy-check.ts).
  kms: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
} as const;

/**
 * What submitting a job run needs besides the calls the operator makes: passing the job's
 * execution role to EMR Serverless, and (for a job-level key) using the key, which the service
 * checks on the submitter's behalf.
 */
export const JOB_SUBMISSION_ACTIONS = {
  passRole: 'iam:PassRole',
  // EMR Serverless describes the key (enabled, symmetric) and uses it as the submitter: a
  // submitter without all three has its StartJobRun rejected.
  jobLevelKey: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
} as const;

/**
 * An AWS partition: the `arn:NAME:` of its ARNs and the domain of its service principals and
 * endpoints. ARNs and service names printed in a policy must be the partition's, or the policy
 * silently allows nothing.
 */
export interface Partition {
  name: 'aws' | 'aws-cn' | 'aws-us-gov';
  domain: 'amazonaws.com' | 'amazonaws.com.cn';
}

export const AWS_PARTITION: Partition = { name: 'aws', domain: 'amazonaws.com' };
const PARTITIONS: readonly Partition[] = [
  AWS_PARTITION,
  { name: 'aws-cn', domain: 'amazonaws.com.cn' },
  { name: 'aws-us-gov', domain: 'amazonaws.com' },
];

/** The partition of a region: `cn-*` is China, `us-gov-*` GovCloud (US), the rest commercial. */
export function partitionOfRegion(region: string): Partition {
  if (region.startsWith('cn-')) return PARTITIONS[1]!;
  if (region.startsWith('us-gov-')) return PARTITIONS[2]!;
  return AWS_PARTITION;
}

/** The partition an ARN names (`arn:PARTITION:...`), or undefined for another or a malformed one. */
export function partitionOfArn(arn: string): Partition | undefined {
  const name = /^arn:([^:]+):/.exec(arn)?.[1];
  return PARTITIONS.find((p) => p.name === name);
}

/** EMR Serverless' service principal (key policies, iam:PassedToService) in a partition. */
export const emrServerlessPrincipal = (p: Partition) => `emr-serverless.${p.domain}`;
/** EMR Serverless' `kms:ViaService` value: its endpoint in a region (or `*`, any region). */
export const emrServerlessViaService = (p: Partition, region = '*') => `emr-serverless.${region}.${p.domain}`;
/** Every role of every account of a partition. */
export const anyRole = (p: Partition) => `arn:${p.name}:iam::*:role/*`;
/** Every KMS key of every account and region of a partition. */
export const anyKey = (p: Partition) => `arn:${p.name}:kms:*:*:key/*`;

type Statement = Record<string, unknown>;

const emr = (...ops: string[]) => ops.map((op) => `emr-serverless:${op}`);
const resourceTag = (key: string) => `aws:ResourceTag/${key}`;
const requestTag = (key: string) => `aws:RequestTag/${key}`;

/** PassJobExecutionRoles' Resource unless narrowed (commercial partition): every role of every account. */
export const ANY_ROLE = anyRole(AWS_PARTITION);
/** UseJobLevelDiskEncryptionKeys' (and VerifyDiskEncryptionKeys') Resource unless narrowed (commercial partition). */
export const ANY_KEY = anyKey(AWS_PARTITION);

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
  /** The partition of the ARNs and service names (from `--region`). Absent: commercial (`aws`). */
  partition?: Partition;
  /** Also allow `cloudtrail:LookupEvents`, which the `key-usage` command calls (optional). */
  keyUsage?: boolean;
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
  const partition = options.partition ?? AWS_PARTITION;
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
        // GetJobRun too: before a submission, the tags of runs of the same name (which may not be
        // ours) are read, to find a run whose answer was lost or that an equal declaration made.
        // ListSessions: an open interactive session keeps an application busy, as a job run does.
        Action: emr(
          'GetApplication',
          'ListApplications',
          'ListJobRuns',
          'ListSessions',
          'GetJobRun',
          'ListTagsForResource',
        ),
        Resource: '*',
      },
      {
        // CreateApplication alone: the tags it writes are authorised as TagResource too, and that
        // TagResource is TagNewOrUnclaimedResources' (a TagResource here would also match a claim
        // of an application someone else claimed: IAM Allows add up).
        Sid: 'CreateOwnedApplications',
        Effect: 'Allow',
        Action: emr('CreateApplication'),
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
        // Tagging at creation (CreateApplication, StartJobRun) and the claim of an application
        // nobody claimed: EMR Serverless has no condition key that tells them apart, and a
        // resource being created carries no tags yet, so both are a TagResource on a resource
        // without the uid tag (and, with a cluster, without another cluster's tag).
        Sid: 'TagNewOrUnclaimedResources',
        Effect: 'Allow',
        Action: emr('TagResource'),
        Resource: '*',
        Condition: {
          ...claimedInRequest,
          Null: { ...claimedInRequest.Null, [resourceTag(OWNER_UID_TAG)]: 'true' },
          ...(cluster && { StringEqualsIfExists: { [resourceTag(OWNER_CLUSTER_TAG)]: cluster } }),
        },
      },
      {
        // EmrServerlessJobRun: submit only to applications the operator owns (the application's
        // tags), with the run claimed in the request (its tags; TagNewOrUnclaimedResources covers
        // tagging at creation).
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
        Resource: anyKey(partition),
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
              Resource: roles ? [...roles] : anyRole(partition),
              Condition: { StringEquals: { 'iam:PassedToService': emrServerlessPrincipal(partition) } },
            },
          ]),
      ...(keys?.length === 0
        ? []
        : [
            {
              // Only through EMR Serverless (a job run's own key), in any region of the partition.
              // The wide default (every key) unless narrowed: key-policy --policies.
              Sid: 'UseJobLevelDiskEncryptionKeys',
              Effect: 'Allow',
              Action: [...JOB_SUBMISSION_ACTIONS.jobLevelKey],
              Resource: keys ? [...keys] : anyKey(partition),
              Condition: { StringLike: { 'kms:ViaService': emrServerlessViaService(partition) } },
            },
          ]),
      ...(options.keyUsage
        ? [
            {
              // Optional: `key-usage` reads the keys' GenerateDataKey and Decrypt events from
              // CloudTrail's event history. LookupEvents has no resource type.
              Sid: 'ReadKeyUsageFromCloudTrail',
              Effect: 'Allow',
              Action: ['cloudtrail:LookupEvents'],
              Resource: '*',
            },
          ]
        : []),
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
  /** The partition of the printed ARNs (role paths, the wide defaults named in notes). */
  partition?: Partition;
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

/** The role pattern for an IAM role path: `/teams/` -> `arn:aws:iam::*:role/teams/*` (in the partition's ARNs). */
export function rolePathPattern(path: string, partition: Partition = AWS_PARTITION): string {
  // IAM: "/" alone, or "/" + printable ASCII + "/", at most 512 characters.
  if (!/^\/(?:[\x21-\x7e]*\/)?$/.test(path) || path.length > 512) {
    throw new Error(`--role-path must be / or start and end with / (like /teams/analytics/), got ${path}`);
  }
  const pattern = `arn:${partition.name}:iam::*:role${path}*`;
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
  const partition = bounds.partition ?? AWS_PARTITION;
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
    ...(bounds.rolePaths ?? []).map((path) => rolePathPattern(path, partition)),
  ];
  const rolesOpen = policies.filter((p) => p.spec.jobRuns?.allowedExecutionRoleArns === undefined);
  if (rolesOpen.length > 0) {
    notes.push(
      `EmrServerlessPolicy ${named(rolesOpen)} sets no jobRuns.allowedExecutionRoleArns (any role): PassJobExecutionRoles keeps Resource ${anyRole(partition)}`,
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
        `EmrServerlessPolicy ${named(keysOpen)} sets no encryption.allowedKeyArns (any key): UseJobLevelDiskEncryptionKeys keeps Resource ${anyKey(partition)}`,
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
  /** The operator's role, so verification (DescribeKey, GetKeyPolicy) works for keys in other accounts. */
  operatorRoleArn?: string;
  /**
   * Job runs name this key themselves (a job-level key) and the operator's role submits them:
   * the submitter needs kms:DescribeKey, kms:GenerateDataKey and kms:Decrypt through EMR
   * Serverless. Needs operatorRoleArn.
   */
  jobLevelKey?: boolean;
}

const APPLICATION_ARN =
  /^arn:([a-z0-9-]+):emr-serverless:([a-z0-9-]+):([0-9]{12}):\/applications\/([0-9a-z*]+)$/;

/** The partition and region of an application ARN; throws for anything else. */
function applicationArnParts(arn: string): { partition: Partition; region: string; account: string } {
  const match = APPLICATION_ARN.exec(arn);
  const partition = partitionOfArn(arn);
  if (!match || !partition) {
    throw new Error(
      `--application-arn must look like arn:PARTITION:emr-serverless:REGION:ACCOUNT:/applications/ID (or /applications/*; PARTITION aws, aws-cn or aws-us-gov), got ${arn}`,
    );
  }
  const region = match[2]!;
  if (partitionOfRegion(region).name !== partition.name) {
    throw new Error(
      `--application-arn names region ${region}, which is not in partition ${partition.name} (arn:${partitionOfRegion(region).name}:...), got ${arn}`,
    );
  }
  return { partition, region, account: match[3]! };
}

/**
 * A whole key policy for a disk encryption key of `account`: AWS's default statement (the account
 * uses the key as its IAM policies allow) and EMR Serverless for any application, any context.
 * What the demo and the tests give their keys; a production key is better scoped with
 * keyPolicyStatements (the application's ARN and context).
 */
export function diskEncryptionKeyPolicy(account: string, partition: Partition = AWS_PARTITION) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'EnableIamUserPermissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition.name}:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Sid: 'AllowEmrServerlessDiskEncryption',
        Effect: 'Allow',
        Principal: { Service: emrServerlessPrincipal(partition) },
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: '*',
      },
    ],
  };
}

/** The statements to add to the KMS key policy so EMR Serverless can encrypt the workers' disks. */
export function keyPolicyStatements(options: KeyPolicyOptions): Statement[] {
  const { partition, region, account } = applicationArnParts(options.applicationArn);
  if (options.jobLevelKey && !options.operatorRoleArn) {
    throw new Error('--job-level-key needs --operator-role-arn (the role that submits the job runs)');
  }
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
      Principal: { Service: emrServerlessPrincipal(partition) },
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
    // Unconditioned: the operator calls DescribeKey and GetKeyPolicy itself (verification), and
    // EMR Serverless calls DescribeKey on the submitter's behalf for a job-level key.
    statements.push({
      Sid: 'AllowOperatorToVerifyKey',
      Effect: 'Allow',
      Principal: { AWS: options.operatorRoleArn },
      Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'],
      Resource: '*',
    });
  }
  if (options.jobLevelKey && options.operatorRoleArn) {
    statements.push(jobLevelKeySubmitterStatement(options.operatorRoleArn, partition, region));
  }
  return statements;
}

/**
 * The key policy statement that lets the submitter of job runs naming this key (the operator's
 * role) use it, only through EMR Serverless in the application's region. No encryption context
 * condition: the job's context may differ from the application's.
 */
function jobLevelKeySubmitterStatement(roleArn: string, partition: Partition, region: string): Statement {
  return {
    Sid: 'AllowOperatorToSubmitJobRunsWithKey',
    Effect: 'Allow',
    Principal: { AWS: roleArn },
    Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
    Resource: '*',
    Condition: { StringEquals: { 'kms:ViaService': emrServerlessViaService(partition, region) } },
  };
}

/**
 * The statement the submitter's own IAM policy needs for a job-level key in another account
 * (IAM and the key policy must both allow a cross-account use): the key policy alone is not
 * enough. UseJobLevelDiskEncryptionKeys of operatorIamPolicy is this statement for every key, or
 * the keys of the policies.
 */
export function jobLevelKeyIamStatement(
  keyArnOrPattern: string,
  partition: Partition,
  region = '*',
): Statement {
  return {
    Sid: 'UseJobLevelDiskEncryptionKeys',
    Effect: 'Allow',
    Action: [...JOB_SUBMISSION_ACTIONS.jobLevelKey],
    Resource: keyArnOrPattern,
    Condition: {
      [region === '*' ? 'StringLike' : 'StringEquals']: {
        'kms:ViaService': emrServerlessViaService(partition, region),
      },
    },
  };
}
