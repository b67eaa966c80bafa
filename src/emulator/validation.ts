// Input constraints of the EMR Serverless and KMS models (Smithy length, range, pattern, enum and
// required traits) as zod schemas, and the Coral-style message of a failed validation:
//   1 validation error detected: Value 'a b' at 'name' failed to satisfy constraint:
//   Member must satisfy regular expression pattern: ^[A-Za-z0-9._/#-]+$
// Unknown members are dropped, as AWS services ignore them.
import { type ZodType, z } from 'zod';
import { validationError } from './errors.js';

// ---------------------------------------------------------------- patterns (anchored, full match)
export const APPLICATION_ID = /^[0-9a-z]+$/;
export const JOB_RUN_ID = /^[0-9a-z]+$/;
const APPLICATION_NAME = /^[A-Za-z0-9._/#-]+$/;
const RELEASE_LABEL = /^[A-Za-z0-9._/-]+$/;
const CLIENT_TOKEN = /^[A-Za-z0-9._-]+$/;
export const ENCRYPTION_KEY_ARN = /^arn:(aws[a-zA-Z0-9-]*):kms:[a-zA-Z0-9-]*:([0-9]{12}):key\/[a-zA-Z0-9-]+$/;
const TAG_KEY = /^[A-Za-z0-9 /_.:=+@-]+$/;
const TAG_VALUE = /^[A-Za-z0-9 /_.:=+@-]*$/;
const CPU_SIZE = /^[1-9][0-9]*(\s)?(vCPU|vcpu|VCPU)?$/;
const MEMORY_SIZE = /^[1-9][0-9]*(\s)?(GB|gb|gB|Gb)?$/;
const DISK_SIZE = /^[1-9][0-9]*(\s)?(GB|gb|gB|Gb)$/;
const DISK_TYPE = /^(SHUFFLE_OPTIMIZED|[Ss]huffle_[Oo]ptimized|STANDARD|[Ss]tandard)$/;
const WORKER_TYPE = /^[a-zA-Z]+[-_]*[a-zA-Z]+$/;
const NON_BLANK = /^[\s\S]*\S[\s\S]*$/;
const SUBNET_OR_SG = /^[-0-9a-zA-Z]+.*$/;
const LOG_GROUP_NAME = /^[.\-_/#A-Za-z0-9]+$/;
const LOG_STREAM_PREFIX = /^[^:*]*$/;
const IAM_ROLE_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):iam::([0-9]{12}):(role((\u002F)|(\u002F[\u0021-\u007F]+\u002F))[\w+=,.@-]+)$/;
export const RESOURCE_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):emr-serverless:.+:(\d{12}):\/applications\/[0-9a-zA-Z]+(\/jobruns\/[0-9a-zA-Z]+|\/sessions\/[0-9a-zA-Z]+)?$/;
export const SESSION_ID = /^[0-9a-z]+$/;
const NEXT_TOKEN = /^[A-Za-z0-9_=-]+$/;

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

export const SESSION_STATES = [
  'SUBMITTED',
  'STARTING',
  'STARTED',
  'IDLE',
  'BUSY',
  'FAILED',
  'TERMINATING',
  'TERMINATED',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

// ---------------------------------------------------------------- building blocks
const str = (min: number, max: number, pattern?: RegExp) => {
  let s = z.string().min(min).max(max);
  if (pattern) s = s.regex(pattern);
  return s;
};

/** A map with at most `max` entries (Smithy `length` on a map). */
function map<K extends ZodType<string>, V extends ZodType>(key: K, value: V, max: number, min = 0) {
  return z.record(key, value).superRefine((m, ctx) => {
    const n = Object.keys(m).length;
    if (n > max)
      ctx.addIssue({ code: 'custom', message: `Member must have length less than or equal to ${max}` });
    if (n < min)
      ctx.addIssue({ code: 'custom', message: `Member must have length greater than or equal to ${min}` });
  });
}

const list = <T extends ZodType>(item: T, max: number, min = 0) => z.array(item).min(min).max(max);

export const tagMap = map(str(1, 128, TAG_KEY), str(0, 256, TAG_VALUE), 200);

const workerResourceConfig = z.object({
  cpu: str(1, 15, CPU_SIZE),
  memory: str(1, 15, MEMORY_SIZE),
  disk: str(1, 15, DISK_SIZE).optional(),
  diskType: z.string().regex(DISK_TYPE).optional(),
});

const initialCapacity = map(
  str(1, 50, WORKER_TYPE),
  z.object({
    workerCount: z.int().min(1).max(1_000_000),
    workerConfiguration: workerResourceConfig.optional(),
  }),
  10,
);

const maximumCapacity = z.object({
  cpu: str(1, 15, CPU_SIZE),
  memory: str(1, 15, MEMORY_SIZE),
  disk: str(1, 15, DISK_SIZE).optional(),
});

const autoStartConfiguration = z.object({ enabled: z.boolean().optional() });
const autoStopConfiguration = z.object({
  enabled: z.boolean().optional(),
  idleTimeoutMinutes: z.int().min(1).max(10080).optional(),
});

const networkConfiguration = z.object({
  subnetIds: list(str(1, 32, SUBNET_OR_SG), 16).optional(),
  securityGroupIds: list(str(1, 32, SUBNET_OR_SG), 5).optional(),
});

const imageUri = str(1, 1024);
const imageConfigurationInput = z.object({
  imageUri: imageUri.optional(),
  applicationLevelDigestResolution: z.boolean().optional(),
});
const workerTypeSpecifications = map(
  str(1, 50, WORKER_TYPE),
  z.object({ imageConfiguration: imageConfigurationInput.optional() }),
  50,
);

interface ConfigurationShape {
  classification: string;
  properties?: Record<string, string> | undefined;
  configurations?: ConfigurationShape[] | undefined;
}
const configuration: z.ZodType<ConfigurationShape> = z.lazy(() =>
  z.object({
    classification: str(1, 1024, NON_BLANK),
    properties: map(str(1, 1024, NON_BLANK), z.string().max(1024), 100).optional(),
    configurations: list(configuration, 100).optional(),
  }),
);
const configurationList = list(configuration, 100);

export const encryptionKeyArn = str(20, 2048, ENCRYPTION_KEY_ARN);

const monitoringConfiguration = z.object({
  s3MonitoringConfiguration: z
    .object({ logUri: str(1, 10280).optional(), encryptionKeyArn: encryptionKeyArn.optional() })
    .optional(),
  managedPersistenceMonitoringConfiguration: z
    .object({ enabled: z.boolean().optional(), encryptionKeyArn: encryptionKeyArn.optional() })
    .optional(),
  cloudWatchLoggingConfiguration: z
    .object({
      enabled: z.boolean(),
      logGroupName: str(1, 512, LOG_GROUP_NAME).optional(),
      logStreamNamePrefix: str(1, 512, LOG_STREAM_PREFIX).optional(),
      encryptionKeyArn: encryptionKeyArn.optional(),
      logTypes: map(str(1, 50, WORKER_TYPE), list(str(1, 50, WORKER_TYPE), 5, 1), 4, 1).optional(),
    })
    .optional(),
  prometheusMonitoringConfiguration: z.object({ remoteWriteUrl: str(1, 10280).optional() }).optional(),
});

export const diskEncryptionConfiguration = z.object({
  encryptionKeyArn: encryptionKeyArn.optional(),
  encryptionContext: map(str(1, 128), str(1, 384), 8).optional(),
});

const interactiveConfiguration = z.object({
  studioEnabled: z.boolean().optional(),
  livyEndpointEnabled: z.boolean().optional(),
  sessionEnabled: z.boolean().optional(),
});

const schedulerConfiguration = z.object({
  queueTimeoutMinutes: z.int().optional(),
  maxConcurrentRuns: z.int().optional(),
});

const identityCenterConfiguration = z.object({
  identityCenterInstanceArn: str(1, 1024).optional(),
  userBackgroundSessionsEnabled: z.boolean().optional(),
});

const jobLevelCostAllocationConfiguration = z.object({ enabled: z.boolean().optional() });

const clientToken = str(1, 64, CLIENT_TOKEN);

/** The application fields shared by Create and Update (all optional). */
const applicationFields = {
  initialCapacity: initialCapacity.optional(),
  maximumCapacity: maximumCapacity.optional(),
  autoStartConfiguration: autoStartConfiguration.optional(),
  autoStopConfiguration: autoStopConfiguration.optional(),
  networkConfiguration: networkConfiguration.optional(),
  architecture: z.enum(['ARM64', 'X86_64']).optional(),
  imageConfiguration: imageConfigurationInput.optional(),
  workerTypeSpecifications: workerTypeSpecifications.optional(),
  runtimeConfiguration: configurationList.optional(),
  monitoringConfiguration: monitoringConfiguration.optional(),
  diskEncryptionConfiguration: diskEncryptionConfiguration.optional(),
  interactiveConfiguration: interactiveConfiguration.optional(),
  schedulerConfiguration: schedulerConfiguration.optional(),
  identityCenterConfiguration: identityCenterConfiguration.optional(),
  jobLevelCostAllocationConfiguration: jobLevelCostAllocationConfiguration.optional(),
};

export const createApplicationRequest = z.object({
  name: str(1, 64, APPLICATION_NAME).optional(),
  releaseLabel: str(1, 64, RELEASE_LABEL),
  type: str(1, 64),
  clientToken: clientToken.optional(),
  tags: tagMap.optional(),
  ...applicationFields,
});
export type CreateApplicationInput = z.infer<typeof createApplicationRequest>;

export const updateApplicationRequest = z.object({
  clientToken: clientToken.optional(),
  releaseLabel: str(1, 64, RELEASE_LABEL).optional(),
  ...applicationFields,
});
export type UpdateApplicationInput = z.infer<typeof updateApplicationRequest>;

/** The fields UpdateApplication may carry (besides the token) and the output stores. */
export const UPDATABLE_FIELDS = Object.keys(updateApplicationRequest.shape).filter(
  (k) => k !== 'clientToken',
);

const jobDriver = z.object({
  sparkSubmit: z
    .object({
      entryPoint: str(1, 256, NON_BLANK),
      // EntryPointArgument: length 0 and up, no pattern (an empty argument is an argument).
      entryPointArguments: z.array(z.string()).optional(),
      sparkSubmitParameters: str(1, 102400, NON_BLANK).optional(),
    })
    .optional(),
  hive: z
    .object({
      query: str(1, 10280, NON_BLANK),
      initQueryFile: str(1, 256, NON_BLANK).optional(),
      parameters: str(1, 102400, NON_BLANK).optional(),
    })
    .optional(),
});

export const startJobRunRequest = z.object({
  clientToken: clientToken.optional(),
  executionRoleArn: str(20, 2048, IAM_ROLE_ARN),
  executionIamPolicy: z
    .object({ policy: str(1, 2048).optional(), policyArns: list(str(20, 2048), 10).optional() })
    .optional(),
  jobDriver: jobDriver.optional(),
  configurationOverrides: z
    .object({
      applicationConfiguration: configurationList.optional(),
      monitoringConfiguration: monitoringConfiguration.optional(),
      diskEncryptionConfiguration: diskEncryptionConfiguration.optional(),
    })
    .optional(),
  tags: tagMap.optional(),
  executionTimeoutMinutes: z.int().min(0).max(1_000_000).optional(),
  name: str(1, 256, NON_BLANK).optional(),
  mode: z.enum(['BATCH', 'STREAMING']).optional(),
  retryPolicy: z
    .object({ maxAttempts: z.int().min(1).optional(), maxFailedAttemptsPerHour: z.int().min(1).optional() })
    .optional(),
  flexExecution: z.object({ enabled: z.boolean().optional() }).optional(),
});
export type StartJobRunInput = z.infer<typeof startJobRunRequest>;

export const startSessionRequest = z.object({
  clientToken: clientToken.optional(),
  executionRoleArn: str(20, 2048, IAM_ROLE_ARN),
  // Only runtime configuration: a session runs on its application's disk encryption.
  configurationOverrides: z.object({ runtimeConfiguration: configurationList.optional() }).optional(),
  tags: tagMap.optional(),
  idleTimeoutMinutes: z.int().min(0).max(1_000_000).optional(),
  name: str(1, 256, NON_BLANK).optional(),
});
export type StartSessionInput = z.infer<typeof startSessionRequest>;

export const tagResourceRequest = z.object({ tags: tagMap });

export const untagKeys = list(str(1, 128, TAG_KEY), 200, 1);

export const resourceArn = str(60, 1024, RESOURCE_ARN);
export const applicationId = str(1, 64, APPLICATION_ID);
export const jobRunId = str(1, 64, JOB_RUN_ID);
export const nextToken = str(1, 1024, NEXT_TOKEN);
export const maxResults = z.int().min(1).max(50);
export const applicationStates = list(z.enum(APPLICATION_STATES), 7, 1);
export const jobRunStates = list(z.enum(JOB_RUN_STATES), 8);
export const sessionId = str(1, 64, SESSION_ID);
export const sessionStates = list(z.enum(SESSION_STATES), 8, 1);
export const resourceType = z.enum(['SESSION']);
export const resourceId = str(1, 64, SESSION_ID);
export const attemptNumber = z.int().min(1);

// ---------------------------------------------------------------- messages
function show(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return `'${String(value)}'`;
  return `'${JSON.stringify(value)}'`;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function constraint(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'too_small':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value greater than or equal to ${String(issue.minimum)}`
        : `Member must have length greater than or equal to ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
        ? `Member must have value less than or equal to ${String(issue.maximum)}`
        : `Member must have length less than or equal to ${String(issue.maximum)}`;
    case 'invalid_format':
      return issue.format === 'regex' && 'pattern' in issue
        ? `Member must satisfy regular expression pattern: ${String(issue.pattern).replace(/^\/|\/[a-z]*$/g, '')}`
        : `Member must be a valid ${issue.format}`;
    case 'invalid_value':
      return `Member must satisfy enum value set: [${issue.values.map(String).join(', ')}]`;
    case 'invalid_type':
      if (value === undefined || value === null) return 'Member must not be null';
      return `Member must be of type ${issue.expected === 'int' ? 'integer' : issue.expected}`;
    case 'invalid_key':
      return `Map keys must satisfy constraint: [${issue.issues.map((i) => constraint(i, undefined)).join(', ')}]`;
    default:
      return issue.message;
  }
}

/** The Coral-style message listing every failed constraint. */
export function validationMessage(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  const parts = issues.map((issue) => {
    let path = issue.path;
    let value = valueAt(input, path);
    if (issue.code === 'invalid_key') {
      // The failing key is the last path element; name the map, show the key.
      value = path[path.length - 1];
      path = path.slice(0, -1);
    }
    const where = path.map(String).join('.') || 'input';
    return `Value ${show(value)} at '${where}' failed to satisfy constraint: ${constraint(issue, value)}`;
  });
  const n = parts.length;
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`;
}

/** Parses `input` with `schema` or throws the ValidationException the service would answer. */
export function parseInput<T extends ZodType>(schema: T, input: unknown): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) throw validationError(validationMessage(r.error.issues, input));
  return r.data;
}

const memberSchemas = new WeakMap<ZodType, Map<string, ZodType>>();

/** Like parseInput for one named member (a path or query parameter). */
export function parseMember<T extends ZodType>(schema: T, name: string, value: unknown): z.infer<T> {
  // Hot path (every GetApplication): build the wrapping object schema once per member.
  let byName = memberSchemas.get(schema);
  if (!byName) {
    byName = new Map();
    memberSchemas.set(schema, byName);
  }
  let wrapped = byName.get(name);
  if (!wrapped) {
    wrapped = z.object({ [name]: schema });
    byName.set(name, wrapped);
  }
  return (parseInput(wrapped, { [name]: value }) as Record<string, unknown>)[name] as z.infer<T>;
}
