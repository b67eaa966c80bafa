// The EmrServerlessJobRun API: one StartJobRun, declared like everything else. The same source
// of truth as schema.ts (types, runtime validation, the CRD through crd.ts), reusing its
// disk encryption configuration and helpers so both kinds refuse a key with the same words.
import { z } from 'zod';
import {
  Condition,
  Configuration,
  DiskEncryptionConfiguration,
  KeyHealth,
  MonitoringConfiguration,
  matching,
  type ObjectMeta,
  OPERATOR_TAG_COUNT,
  stringMap,
  TAG_KEY_RULES,
} from './schema.js';

const NON_BLANK = /\S/;
const nonBlank = (what: string, max: number) =>
  z
    .string()
    .min(1, { message: `${what} must be 1 to ${max} characters` })
    .max(max, { message: `${what} must be 1 to ${max} characters` })
    .refine((s) => NON_BLANK.test(s), { message: `${what} must not be blank` });

export const JobDriver = z
  .object({
    sparkSubmit: z
      .object({
        entryPoint: nonBlank('entryPoint', 256),
        // An argument may be empty (`--flag ""`): the service model allows length 0 and no pattern.
        entryPointArguments: z
          .array(
            z.string().max(10280, { message: 'entryPointArguments items must be at most 10280 characters' }),
          )
          .optional(),
        sparkSubmitParameters: nonBlank('sparkSubmitParameters', 102400).optional(),
      })
      .optional(),
    hive: z
      .object({
        query: nonBlank('query', 10280),
        initQueryFile: nonBlank('initQueryFile', 256).optional(),
        parameters: nonBlank('parameters', 102400).optional(),
      })
      .optional(),
  })
  .refine((d) => (d.sparkSubmit === undefined) !== (d.hive === undefined), {
    message: 'jobDriver must hold exactly one of sparkSubmit or hive',
  })
  .meta({
    description: 'What the job runs: exactly one of sparkSubmit or hive.',
    'x-kubernetes-validations': [
      {
        rule: 'has(self.sparkSubmit) != has(self.hive)',
        message: 'jobDriver must hold exactly one of sparkSubmit or hive',
      },
    ],
  });
export type JobDriver = z.infer<typeof JobDriver>;

export const JobConfigurationOverrides = z.object({
  applicationConfiguration: z.array(Configuration).max(100).optional(),
  monitoringConfiguration: MonitoringConfiguration.optional(),
  diskEncryptionConfiguration: DiskEncryptionConfiguration.optional().meta({
    description:
      'Absent: the job uses its application’s key (nothing is sent). {encryptionKeyArn, encryptionContext?}: this job’s workers use exactly this key. {}: sent as is; see docs/reference.md for what the operator assumes it means.',
  }),
});
export type JobConfigurationOverrides = z.infer<typeof JobConfigurationOverrides>;

/** The operator's tags on a run: the ownership tags and the submission tag. */
export const JOB_RUN_OPERATOR_TAG_COUNT = OPERATOR_TAG_COUNT + 1;

/** The run's tags: the application's rules (AWS's key pattern, the reserved prefixes, and room for the operator's tags). */
const jobRunTags = stringMap(
  'tag',
  { maxEntries: 200 - JOB_RUN_OPERATOR_TAG_COUNT, key: [1, 128], value: [0, 256] },
  TAG_KEY_RULES,
).meta({
  description:
    'Tags of the job run. Keys under emrserverless.operator.dev/ and aws: are reserved (the operator tags the run with its ownership tags, as an application, and with its submission digest).',
});

export const JOB_RUN_DELETION_POLICIES = ['Cancel', 'Orphan'] as const;
export type JobRunDeletionPolicy = (typeof JOB_RUN_DELETION_POLICIES)[number];

const IAM_ROLE_ARN = /^arn:aws[a-zA-Z0-9-]*:iam::[0-9]{12}:role\/[A-Za-z0-9+=,.@_/-]+$/;

const immutableSpecMessage =
  'spec is immutable once the job run is created: a job run is submitted once; for another run, recreate the resource with a changed spec or a new spec.rerunToken';

export const JobRunSpec = z
  .object({
    applicationRef: z
      .object({
        name: z
          .string()
          .min(1, { message: 'applicationRef.name must be 1 to 253 characters' })
          .max(253, { message: 'applicationRef.name must be 1 to 253 characters' }),
      })
      .meta({ description: 'The EmrServerlessApplication, in this namespace, the job runs on.' }),
    name: nonBlank('name', 256)
      .optional()
      .meta({ description: 'The job run’s name in AWS; defaults to the resource’s name.' }),
    executionRoleArn: matching(
      IAM_ROLE_ARN,
      'executionRoleArn must be an IAM role ARN such as arn:aws:iam::111122223333:role/emr-job, 20 to 2048 characters',
      { min: 20, max: 2048 },
    ).meta({ description: 'The IAM role the job runs as.' }),
    jobDriver: JobDriver,
    configurationOverrides: JobConfigurationOverrides.optional(),
    tags: jobRunTags.optional(),
    executionTimeoutMinutes: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .meta({ description: 'AWS cancels the run after this many minutes (AWS default 720; 0: no limit).' }),
    mode: z.enum(['BATCH', 'STREAMING'], { error: 'mode must be BATCH or STREAMING' }).optional(),
    retryPolicy: z
      .object({
        maxAttempts: z.number().int().min(1).max(10).optional(),
        maxFailedAttemptsPerHour: z.number().int().min(1).max(1000).optional(),
      })
      .optional(),
    deletionPolicy: z
      .enum(JOB_RUN_DELETION_POLICIES, { error: 'deletionPolicy must be Cancel or Orphan' })
      .optional()
      .meta({
        description:
          'What deleting the resource does to a run that has not finished: Cancel (default) cancels it, Orphan leaves it running.',
      }),
    ttlSecondsAfterFinished: z.number().int().min(0).max(31_536_000).optional().meta({
      description:
        'Delete the resource this many seconds after the run finished (as Kubernetes Jobs do). Absent: kept. A resource declared again after its run finished finds that run and is not deleted again.',
    }),
    rerunToken: nonBlank('rerunToken', 128).optional().meta({
      description:
        'Part of what identifies the run: a resource declared again (deleted and recreated, as a GitOps tool does) with the same namespace, name and spec finds the run already made and submits nothing. Set a new value (a date, a build number) to submit a new run of an otherwise unchanged spec.',
    }),
  })
  .meta({ 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: immutableSpecMessage }] });
export type JobRunSpec = z.infer<typeof JobRunSpec>;

// --- status -------------------------------------------------------------------------------

export const JOB_RUN_KEY_SOURCES = ['Job', 'Application'] as const;
export type JobRunKeySource = (typeof JOB_RUN_KEY_SOURCES)[number];

export const JobRunDiskEncryptionStatus = z.object({
  mode: z.enum(['CustomerManaged', 'AwsOwned']).meta({ description: 'The key the run’s workers use.' }),
  source: z
    .enum(JOB_RUN_KEY_SOURCES)
    .meta({ description: 'Job: the job’s own override. Application: the application’s key.' }),
  encryptionKeyArn: z.string().optional(),
  encryptionContext: z.record(z.string(), z.string()).optional(),
  key: KeyHealth.optional().meta({ description: 'Health of the effective key, when it is a customer key.' }),
});
export type JobRunDiskEncryptionStatus = z.infer<typeof JobRunDiskEncryptionStatus>;

const ResourceUtilization = z.object({
  vCPUHour: z.number().optional(),
  memoryGBHour: z.number().optional(),
  storageGBHour: z.number().optional(),
});

const FIGURES =
  'As GetJobRun reported it when the run last changed state; final once the run has ended (not rewritten on every poll of a running run).';

export const JobRunStatus = z.object({
  observedGeneration: z.number().int().optional(),
  /** The application the run was submitted to, and where. */
  applicationId: z.string().optional(),
  region: z.string().optional(),
  account: z.string().optional().meta({
    description:
      'The AWS account the run belongs to: its application’s, recorded at submission. A namespace that acts in another account later submits or changes nothing (AccountMappingChanged).',
  }),
  jobRunId: z.string().optional(),
  arn: z.string().optional(),
  state: z.string().optional(),
  stateDetails: z.string().optional(),
  submittedAt: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  attempt: z.number().int().optional(),
  totalExecutionDurationSeconds: z.number().int().optional().meta({ description: FIGURES }),
  totalResourceUtilization: ResourceUtilization.optional().meta({ description: FIGURES }),
  billedResourceUtilization: ResourceUtilization.optional().meta({ description: FIGURES }),
  diskEncryption: JobRunDiskEncryptionStatus.optional(),
  deletionSearch: z.string().optional().meta({
    description:
      'While a resource whose job run id was never recorded is deleted: when a search (ListJobRuns by name and owner tag) first found nothing. A listing may lag, so the finalizer stays until a search at least the listing lag later finds nothing either.',
  }),
  conditions: z
    .array(Condition)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
});
export type JobRunStatus = z.infer<typeof JobRunStatus>;

/** The resource as read from the API server: spec is unchecked until parsed with `JobRunSpec`. */
export interface EmrServerlessJobRun {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & { creationTimestamp?: string };
  spec: unknown;
  status?: JobRunStatus;
}
