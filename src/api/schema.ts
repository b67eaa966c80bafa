// The one source of truth for the EmrServerlessApplication API: TypeScript types, runtime
// validation, and (through crd.ts) the CRD's openAPIV3Schema with its admission rules.
//
// Rules that OpenAPI cannot say (map key lengths, a pattern with a readable message, field
// dependencies, immutability) are written once here as a zod refinement plus the equivalent
// CEL rule in `x-kubernetes-validations`, so admission and the controller refuse the same input
// with the same words.
import { z } from 'zod';
import { OPERATOR_TAG_PREFIX } from './constants.js';

export interface CelRule {
  rule: string;
  message: string;
}

/** The same regular expression as a CEL string literal (RE2 needs no escaped slash). */
const celRegex = (re: RegExp) => `'${re.source.replaceAll('\\/', '/').replaceAll('\\', '\\\\')}'`;

/** A string checked by a regular expression, with one message for admission and runtime. */
export function matching(re: RegExp, message: string, length: { min: number; max: number }) {
  return z
    .string()
    .min(length.min, { message })
    .max(length.max, { message })
    .refine((s) => re.test(s), { message })
    .meta({ 'x-kubernetes-validations': [{ rule: `self.matches(${celRegex(re)})`, message }] });
}

/** A rule on every key of a map, written once for zod and CEL. */
export interface KeyRule {
  test: (key: string) => boolean;
  /** CEL over one key `k`. */
  cel: string;
  message: string;
}

/** A string-to-string map with bounded size, key length and value length, and optional key rules. */
export function stringMap(
  what: string,
  limits: { maxEntries: number; key: [number, number]; value: [number, number] },
  keyRules: KeyRule[] = [],
) {
  const [kmin, kmax] = limits.key;
  const [vmin, vmax] = limits.value;
  const keyMessage = `${what} keys must be ${kmin} to ${kmax} characters long`;
  const valueMessage = `${what} values must be ${vmin} to ${vmax} characters long`;
  const sizeMessage = `${what} may hold at most ${limits.maxEntries} entries`;
  const rules: CelRule[] = [
    { rule: `self.all(k, size(k) >= ${kmin} && size(k) <= ${kmax})`, message: keyMessage },
    ...keyRules.map((r) => ({ rule: `self.all(k, ${r.cel})`, message: r.message })),
  ];
  let map = z
    .record(z.string(), z.string().min(vmin, { message: valueMessage }).max(vmax, { message: valueMessage }))
    .refine((m) => Object.keys(m).every((k) => k.length >= kmin && k.length <= kmax), { message: keyMessage })
    .refine((m) => Object.keys(m).length <= limits.maxEntries, { message: sizeMessage });
  for (const r of keyRules) map = map.refine((m) => Object.keys(m).every(r.test), { message: r.message });
  return map.meta({ maxProperties: limits.maxEntries, 'x-kubernetes-validations': rules });
}

// --- disk encryption: the heart of the product -------------------------------------------

/** AWS's pattern, written without escapes so the same text is valid JS, RE2 and CEL. */
export const KMS_KEY_ARN_PATTERN = /^arn:aws[a-zA-Z0-9-]*:kms:[a-zA-Z0-9-]*:[0-9]{12}:key\/[a-zA-Z0-9-]+$/;

const kmsKeyArn = matching(
  KMS_KEY_ARN_PATTERN,
  'encryptionKeyArn must be a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (an alias or a bare key id is not accepted), 20 to 2048 characters',
  { min: 20, max: 2048 },
);

export const DiskEncryptionConfiguration = z
  .object({
    encryptionKeyArn: kmsKeyArn.optional().meta({
      description: 'ARN of the symmetric customer-managed KMS key that encrypts the workers’ local disks.',
    }),
    encryptionContext: stringMap('encryptionContext', { maxEntries: 8, key: [1, 128], value: [1, 384] })
      .optional()
      .meta({
        description:
          'Encryption context sent with every KMS request. It appears in plaintext in CloudTrail: never put secrets here.',
      }),
  })
  .refine((c) => c.encryptionContext === undefined || c.encryptionKeyArn !== undefined, {
    message:
      'encryptionContext requires encryptionKeyArn: the AWS-owned key takes no context (use {} alone for the AWS-owned key)',
  })
  .meta({
    description:
      'Absent: not managed. {}: use the AWS-owned key. {encryptionKeyArn, encryptionContext?}: use exactly this key and context.',
    // One value, owned and replaced as a whole: without it, server-side apply of `{}` over a key
    // leaves an emptied map that it stores as null instead of `{}`.
    'x-kubernetes-map-type': 'atomic',
    'x-kubernetes-validations': [
      {
        rule: '!has(self.encryptionContext) || has(self.encryptionKeyArn)',
        message:
          'encryptionContext requires encryptionKeyArn: the AWS-owned key takes no context (use {} alone for the AWS-owned key)',
      },
    ],
  });
export type DiskEncryptionConfiguration = z.infer<typeof DiskEncryptionConfiguration>;

// --- the other application fields, as the CreateApplication API takes them --------------

const capacityString = z.string().min(1).max(15);

const WorkerResourceConfig = z.object({
  cpu: capacityString,
  memory: capacityString,
  disk: capacityString.optional(),
  diskType: z.string().min(1).max(15).optional(),
});

const InitialCapacityConfig = z.object({
  workerCount: z.number().int().min(1).max(1_000_000),
  workerConfiguration: WorkerResourceConfig.optional(),
});

const MaximumAllowedResources = z.object({
  cpu: capacityString,
  memory: capacityString,
  disk: capacityString.optional(),
});

const ImageConfigurationInput = z.object({
  imageUri: z.string().min(1).max(1024).optional(),
  applicationLevelDigestResolution: z.boolean().optional(),
});

// `configurations` nests without a fixed depth; the CRD keeps its inner levels as they are
// (a structural schema cannot recurse) and AWS validates them.
export const Configuration = z.object({
  classification: z.string().min(1).max(1024),
  properties: z.record(z.string().min(1).max(1024), z.string().max(1024 * 1024)).optional(),
  configurations: z.array(z.record(z.string(), z.unknown())).max(100).optional(),
});

export const MonitoringConfiguration = z.object({
  s3MonitoringConfiguration: z
    .object({
      logUri: z.string().min(1).max(10280).optional(),
      encryptionKeyArn: z.string().max(2048).optional(),
    })
    .optional(),
  managedPersistenceMonitoringConfiguration: z
    .object({ enabled: z.boolean().optional(), encryptionKeyArn: z.string().max(2048).optional() })
    .optional(),
  cloudWatchLoggingConfiguration: z
    .object({
      enabled: z.boolean(),
      logGroupName: z.string().min(1).max(512).optional(),
      logStreamNamePrefix: z.string().min(1).max(512).optional(),
      encryptionKeyArn: z.string().max(2048).optional(),
      logTypes: z.record(z.string().min(1).max(50), z.array(z.string().min(1).max(50)).max(5)).optional(),
    })
    .optional(),
  prometheusMonitoringConfiguration: z
    .object({ remoteWriteUrl: z.string().min(1).max(10280).optional() })
    .optional(),
});

/** Fields the service also accepts while the application is STARTED. */
export const STARTED_UPDATABLE_FIELDS = [
  'maximumCapacity',
  'schedulerConfiguration',
  'imageConfiguration',
  'workerTypeSpecifications',
] as const;

/** The application fields the operator manages, each only when present in spec. */
export const ApplicationFields = z.object({
  releaseLabel: z.string().min(1).max(64).optional().meta({ description: 'EMR release, e.g. emr-7.5.0.' }),
  architecture: z.enum(['ARM64', 'X86_64'], { error: 'architecture must be ARM64 or X86_64' }).optional(),
  autoStartConfiguration: z.object({ enabled: z.boolean().optional() }).optional(),
  autoStopConfiguration: z
    .object({
      enabled: z.boolean().optional(),
      idleTimeoutMinutes: z.number().int().min(1).max(10080).optional(),
    })
    .optional(),
  initialCapacity: z.record(z.string().min(1).max(50), InitialCapacityConfig).optional(),
  maximumCapacity: MaximumAllowedResources.optional(),
  networkConfiguration: z
    .object({
      subnetIds: z.array(z.string().min(1).max(32)).max(16).optional(),
      securityGroupIds: z.array(z.string().min(1).max(32)).max(5).optional(),
    })
    .optional(),
  imageConfiguration: ImageConfigurationInput.optional(),
  workerTypeSpecifications: z
    .record(z.string().min(1).max(50), z.object({ imageConfiguration: ImageConfigurationInput.optional() }))
    .optional(),
  runtimeConfiguration: z.array(Configuration).max(100).optional(),
  monitoringConfiguration: MonitoringConfiguration.optional(),
  interactiveConfiguration: z
    .object({
      studioEnabled: z.boolean().optional(),
      livyEndpointEnabled: z.boolean().optional(),
      sessionEnabled: z.boolean().optional(),
    })
    .optional(),
  schedulerConfiguration: z
    .object({
      queueTimeoutMinutes: z.number().int().min(0).max(43200).optional(),
      maxConcurrentRuns: z.number().int().min(1).max(1000).optional(),
    })
    .optional(),
  identityCenterConfiguration: z
    .object({
      identityCenterInstanceArn: z.string().min(1).max(1024).optional(),
      userBackgroundSessionsEnabled: z.boolean().optional(),
    })
    .optional(),
  jobLevelCostAllocationConfiguration: z.object({ enabled: z.boolean().optional() }).optional(),
  diskEncryptionConfiguration: DiskEncryptionConfiguration.optional(),
});
export type ApplicationFields = z.infer<typeof ApplicationFields>;
export type ApplicationFieldName = keyof ApplicationFields;
export const APPLICATION_FIELD_NAMES = Object.keys(ApplicationFields.shape) as ApplicationFieldName[];

// --- spec ---------------------------------------------------------------------------------

// --- binding: the fields that choose the application --------------------------------------

/** The spec fields that choose which application a resource is bound to. */
export const BINDING_FIELDS = ['applicationId', 'region', 'name', 'type'] as const;

/**
 * Once status records the binding (applicationId and region), or a create written ahead of
 * CreateApplication (status.pendingCreate: the name, region and client token it is sent with),
 * adding, removing or changing a binding field is refused. Written at the root of the schema:
 * only there can one rule see spec, status and the object before the change. Before either the
 * fields stay fixable (a typo'd applicationId that was never found). The operator checks the
 * same on its side (ImmutableFieldConflict) for a CRD installed without these rules.
 */
export const BINDING_RULES = BINDING_FIELDS.map((field) => ({
  rule:
    `!has(oldSelf.status) || !(has(oldSelf.status.applicationId) || has(oldSelf.status.pendingCreate)) || ` +
    `(has(self.spec.${field}) == has(oldSelf.spec.${field}) && ` +
    `(!has(self.spec.${field}) || self.spec.${field} == oldSelf.spec.${field}))`,
  messageExpression:
    `has(oldSelf.status.applicationId) ? ` +
    `('spec.${field} cannot be added, removed or changed: this resource is bound to application ' + ` +
    `oldSelf.status.applicationId + ' for life. Put spec.${field} back, or create a new resource for another application.') : ` +
    `('spec.${field} cannot be added, removed or changed: application ' + oldSelf.status.pendingCreate.name + ` +
    `' is being created for this resource in ' + oldSelf.status.pendingCreate.region + ` +
    `' (status.pendingCreate) and the resource binds it once it is found. Put spec.${field} back, or delete this resource and create a new one.')`,
  reason: 'FieldValueForbidden',
  fieldPath: `.spec.${field}`,
}));

/** The AWS tag key pattern (aws-facts.md), without escapes so it is valid JS, RE2 and CEL. */
const TAG_KEY_PATTERN = /^[A-Za-z0-9 /_.:=+@-]+$/;
/** Tags the operator puts on every application it binds (see ownership.ts). */
export const OPERATOR_TAG_COUNT = 4;
/** The rules of tag keys: AWS's pattern, and the operator's and AWS's reserved prefixes. */
export const TAG_KEY_RULES: KeyRule[] = [
  {
    test: (k) => TAG_KEY_PATTERN.test(k),
    cel: `k.matches(${celRegex(TAG_KEY_PATTERN)})`,
    message: 'tag keys may hold only letters, digits, spaces and _ . : / = + - @',
  },
  {
    test: (k) => !k.startsWith(OPERATOR_TAG_PREFIX) && !k.toLowerCase().startsWith('aws:'),
    cel: `!k.startsWith('${OPERATOR_TAG_PREFIX}') && !k.lowerAscii().startsWith('aws:')`,
    message: `tag keys may not start with ${OPERATOR_TAG_PREFIX} (the operator's ownership tags) or aws: (reserved by AWS)`,
  },
];
const requiredToCreate = (field: string): CelRule => ({
  rule: `has(self.applicationId) || has(self.${field})`,
  message: `spec.${field} is required to create an application (or set spec.applicationId to adopt an existing one)`,
});

export const UPDATE_STRATEGIES = ['WaitForStop', 'StopWhenIdle'] as const;
export const DELETION_POLICIES = ['Delete', 'Retain'] as const;

export const Spec = ApplicationFields.extend({
  applicationId: matching(/^[0-9a-z]{1,64}$/, 'applicationId must be 1 to 64 lowercase letters and digits', {
    min: 1,
    max: 64,
  })
    .optional()
    .meta({
      description:
        'Adopt this existing application instead of creating one (only in namespaces the operator allows adoption in). Fixed once bound.',
    }),
  region: matching(/^[a-z]{2}(-[a-z]+)+-[0-9]+$/, 'region must be an AWS region name such as eu-west-1', {
    min: 1,
    max: 32,
  })
    .optional()
    .meta({ description: 'AWS region; defaults to the operator’s region. Fixed once bound.' }),
  name: matching(/^[A-Za-z0-9._/#-]+$/, 'name must be 1 to 64 characters of letters, digits and . _ / # -', {
    min: 1,
    max: 64,
  })
    .optional()
    .meta({ description: 'Application name. Required when creating; fixed once bound.' }),
  type: z
    .enum(['SPARK', 'HIVE'], { error: 'type must be SPARK or HIVE' })
    .optional()
    .meta({ description: 'Application type. Required when creating; fixed once bound.' }),
  // AWS allows 200 tags; the operator's ownership tags take the rest.
  tags: stringMap(
    'tag',
    { maxEntries: 200 - OPERATOR_TAG_COUNT, key: [1, 128], value: [0, 256] },
    TAG_KEY_RULES,
  )
    .optional()
    .meta({
      description: `Tags of the application. Keys under ${OPERATOR_TAG_PREFIX} and aws: are reserved. The operator's own tags are never compared.`,
    }),
  updateStrategy: z
    .enum(UPDATE_STRATEGIES, { error: 'updateStrategy must be WaitForStop or StopWhenIdle' })
    .optional()
    .meta({
      description:
        'How changes the service refuses while STARTED are applied: WaitForStop (default) waits for the application to stop; StopWhenIdle stops it once no job runs, updates, and starts it again.',
    }),
  deletionPolicy: z
    .enum(DELETION_POLICIES, { error: 'deletionPolicy must be Delete or Retain' })
    .optional()
    .meta({
      description:
        'What deleting the resource does in AWS. Default: Delete for applications the operator created, Retain for adopted ones (status.origin). Delete on an adopted application needs adoption allowed in the namespace.',
    }),
})
  .superRefine((spec, ctx) => {
    if (spec.applicationId) return;
    for (const field of ['name', 'type', 'releaseLabel'] as const) {
      if (spec[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: requiredToCreate(field).message });
    }
  })
  .meta({
    'x-kubernetes-validations': [
      requiredToCreate('name'),
      requiredToCreate('type'),
      requiredToCreate('releaseLabel'),
    ],
  });
export type Spec = z.infer<typeof Spec>;
export type UpdateStrategy = (typeof UPDATE_STRATEGIES)[number];
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

// --- status -------------------------------------------------------------------------------

export const Condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
  reason: z.string(),
  message: z.string(),
});
export type Condition = z.infer<typeof Condition>;

export const ENCRYPTION_SUMMARIES = ['CustomerManaged', 'AwsOwned', 'Unmanaged'] as const;
export const ORIGINS = ['Created', 'Adopted'] as const;
export type Origin = (typeof ORIGINS)[number];

export const KEY_POLICY_VERDICTS = ['Allows', 'Denies', 'Unknown', 'NotReadable'] as const;

export const KeyHealth = z.object({
  verified: z.boolean().meta({ description: 'Whether DescribeKey confirmed the key is usable.' }),
  state: z.string().optional().meta({ description: 'KMS KeyState when known, e.g. Enabled or Disabled.' }),
  reason: z.string().optional().meta({ description: 'Why the key is not verified or not usable.' }),
  policy: z
    .object({
      verdict: z.enum(KEY_POLICY_VERDICTS).meta({
        description:
          'Whether the key policy lets EMR Serverless use the key for this resource: Allows, Denies, Unknown (a statement the operator cannot decide) or NotReadable (GetKeyPolicy failed).',
      }),
      message: z
        .string()
        .optional()
        .meta({ description: 'What is missing or undecided, and how to fix it.' }),
    })
    .optional()
    .meta({ description: 'The key policy check (GetKeyPolicy), when it ran.' }),
});
export type KeyHealth = z.infer<typeof KeyHealth>;

export const DiskEncryptionStatus = z.object({
  mode: z.enum(['CustomerManaged', 'AwsOwned']).meta({ description: 'What AWS holds now.' }),
  encryptionKeyArn: z.string().optional(),
  encryptionContext: z.record(z.string(), z.string()).optional(),
  managed: z
    .boolean()
    .meta({ description: 'Whether spec.diskEncryptionConfiguration is present (managed).' }),
  key: KeyHealth.optional().meta({ description: 'Health of the declared key, when one is declared.' }),
});
export type DiskEncryptionStatus = z.infer<typeof DiskEncryptionStatus>;

export const UpdateAttempts = z.object({
  digest: z.string().meta({ description: 'SHA-256 of the fields and values sent.' }),
  fields: z.array(z.string()).meta({ description: 'The fields sent.' }),
  count: z.number().int().meta({ description: 'How many times this same update was sent.' }),
  generation: z.number().int().meta({ description: 'The spec generation the update was sent for.' }),
  lastAttemptTime: z.string().meta({ description: 'When it was last sent.' }),
});
export type UpdateAttempts = z.infer<typeof UpdateAttempts>;

export const Correction = z.object({
  digest: z.string().meta({ description: 'SHA-256 of the fields and values of the correction.' }),
  fields: z.array(z.string()).meta({ description: 'The fields the correction sets.' }),
  sentTime: z.string().meta({ description: 'When the correction was last sent.' }),
  accepted: z.boolean().meta({ description: 'AWS was seen holding the correction after it was last sent.' }),
  undone: z
    .number()
    .int()
    .meta({ description: 'How many times AWS was found differing again after it had held the correction.' }),
  undoneTimes: z.array(z.string()).meta({
    description: 'When the most recent of those undos were found (the last few, within the fight window).',
  }),
  fightSince: z.string().optional().meta({
    description:
      'When enough undos within the fight window made the resource Stalled ExternalChangeFight; absent otherwise.',
  }),
});
export type Correction = z.infer<typeof Correction>;

export const PendingCreate = z.object({
  name: z.string().meta({ description: 'The application name CreateApplication is sent with.' }),
  region: z.string().meta({ description: 'The region CreateApplication is sent to.' }),
  clientToken: z
    .string()
    .meta({ description: 'The client token of CreateApplication: the same on every attempt.' }),
  notFoundSince: z.string().optional().meta({
    description:
      'When a search (ListApplications by name, then the owner tag) first found no application created by it. A listing may lag: CreateApplication is sent again only once a search at least the listing lag later finds none either.',
  }),
});
export type PendingCreate = z.infer<typeof PendingCreate>;

export const Status = z.object({
  observedGeneration: z.number().int().optional(),
  applicationId: z.string().optional(),
  arn: z.string().optional(),
  region: z.string().optional(),
  account: z.string().optional().meta({
    description:
      'AWS account id of the application: the account of the namespace role, else of the operator. Fixed once bound.',
  }),
  origin: z.enum(ORIGINS).optional().meta({
    description:
      'How the binding was made: Created by the operator or Adopted (spec.applicationId). It chooses the default deletionPolicy.',
  }),
  state: z.string().optional(),
  stateDetails: z.string().optional(),
  encryption: z.enum(ENCRYPTION_SUMMARIES).optional().meta({
    description: 'Summary for `kubectl get`: CustomerManaged or AwsOwned when managed, Unmanaged when not.',
  }),
  diskEncryption: DiskEncryptionStatus.optional(),
  restartAfterUpdate: z.boolean().optional().meta({
    description:
      'Written before the operator stops a STARTED application to update it; it is started again afterwards.',
  }),
  updateAttempts: UpdateAttempts.optional().meta({
    description:
      'Written before each UpdateApplication; AWS still differing after the same update is sent repeatedly makes the resource Stalled NotConverging.',
  }),
  correction: Correction.optional().meta({
    description:
      'The last update the operator sent to put AWS back in line with spec, and how often something else undid it; written before each UpdateApplication and kept for the fight window (see ExternalChangeFight).',
  }),
  pendingCreate: PendingCreate.optional().meta({
    description:
      'Written before CreateApplication is sent, cleared once the application is bound (status.applicationId). Recovery after a lost answer searches with these values, not spec; meanwhile the binding fields of spec are fixed as after binding.',
  }),
  deletionSearch: z.string().optional().meta({
    description:
      'While a resource whose application id was never recorded is deleted: when a search (ListApplications by name and owner tag) first found nothing. A listing may lag, so the finalizer stays until a search at least the listing lag later finds nothing either.',
  }),
  conditions: z
    .array(Condition)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
});
export type Status = z.infer<typeof Status>;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  resourceVersion?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The resource as read from the API server: spec is unchecked until parsed with `Spec`. */
export interface EmrServerlessApplication {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: unknown;
  status?: Status;
}
