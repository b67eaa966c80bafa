// The EmrServerlessPolicy API: what a cluster admin allows the resources of some namespaces to
// reach in AWS (keys, execution roles, where logs and metrics go). Cluster-scoped, so a tenant
// with edit rights in a namespace can neither write one nor escape one. The same source of truth
// as the other kinds: types, runtime validation, and (through crd.ts) the CRD. What each field
// enforces, at admission and in the operator, is in policy-rules.ts.
import { z } from 'zod';
import type { ObjectMeta } from './schema.js';

/**
 * An allow-list entry: an exact value, or a pattern where `*` stands for any run of characters
 * (`arn:aws:kms:*:111122223333:key/*`). Every other character is literal; the whole value must match.
 */
const Pattern = z
  .string()
  .min(1, { message: 'a pattern must be 1 to 2048 characters' })
  .max(2048, { message: 'a pattern must be 1 to 2048 characters' });
const patterns = (description: string) =>
  z
    .array(Pattern)
    .max(64)
    .optional()
    .meta({
      description: `${description} Exact values or patterns where * matches any characters. Absent: not restricted by this policy; []: nothing allowed.`,
    });

export const LABEL_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** A Kubernetes label selector (metav1.LabelSelector): every term must hold. */
export const LabelSelector = z
  .object({
    matchLabels: z.record(z.string().min(1).max(317), z.string().max(63)).optional(),
    matchExpressions: z
      .array(
        z.object({
          key: z.string().min(1).max(317),
          operator: z.enum(LABEL_SELECTOR_OPERATORS, {
            error: 'operator must be In, NotIn, Exists or DoesNotExist',
          }),
          values: z.array(z.string().max(63)).max(64).optional(),
        }),
      )
      .max(32)
      .optional(),
  })
  .meta({
    description: 'Namespaces whose labels match (an empty selector {} matches every namespace).',
    'x-kubernetes-map-type': 'atomic',
  });
export type LabelSelector = z.infer<typeof LabelSelector>;

export const JOB_RUN_KEY_OVERRIDES = ['Allowed', 'Forbidden'] as const;

const NEEDS_A_SELECTOR =
  'spec.namespaces or spec.namespaceSelector is required: a policy must say which namespaces it governs';

export const PolicySpec = z
  .object({
    namespaces: z.array(z.string().min(1).max(63)).max(256).optional().meta({
      description: 'Namespaces this policy governs, by name (in addition to namespaceSelector).',
    }),
    namespaceSelector: LabelSelector.optional(),
    encryption: z
      .object({
        requireCustomerManagedKey: z.boolean().optional().meta({
          description:
            'Applications must declare diskEncryptionConfiguration.encryptionKeyArn ({} and an absent field are refused), and a job run may not override the key with {}.',
        }),
        allowedKeyArns: patterns(
          'The KMS keys a resource may name: disk encryption keys (application and job-level) and log encryption keys.',
        ),
        jobRunKeyOverride: z
          .enum(JOB_RUN_KEY_OVERRIDES, { error: 'jobRunKeyOverride must be Allowed or Forbidden' })
          .optional()
          .meta({
            description:
              'Allowed (default): a job run may set configurationOverrides.diskEncryptionConfiguration. Forbidden: job runs use their application’s key.',
          }),
      })
      .optional(),
    jobRuns: z
      .object({
        allowedExecutionRoleArns: patterns('The IAM roles a job run may run as (spec.executionRoleArn).'),
      })
      .optional(),
    monitoring: z
      .object({
        allowedS3LogUris: patterns(
          'Where logs may be written: monitoringConfiguration.s3MonitoringConfiguration.logUri of applications and job runs.',
        ),
        allowedPrometheusRemoteWriteUrls: patterns(
          'Where metrics may be sent: monitoringConfiguration.prometheusMonitoringConfiguration.remoteWriteUrl of applications and job runs.',
        ),
      })
      .optional(),
    network: z
      .object({
        allowedSubnetIds: patterns(
          'The subnets an application may place its workers in (networkConfiguration.subnetIds).',
        ),
        allowedSecurityGroupIds: patterns(
          'The security groups an application may use (networkConfiguration.securityGroupIds).',
        ),
      })
      .optional(),
  })
  .refine((s) => s.namespaces !== undefined || s.namespaceSelector !== undefined, {
    message: NEEDS_A_SELECTOR,
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: 'has(self.namespaces) || has(self.namespaceSelector)', message: NEEDS_A_SELECTOR },
    ],
  });
export type PolicySpec = z.infer<typeof PolicySpec>;

/** A policy as read from the API server: spec is unchecked until parsed with `PolicySpec`. */
export interface EmrServerlessPolicy {
  apiVersion: string;
  kind: string;
  metadata: Omit<ObjectMeta, 'namespace'> & { namespace?: string };
  spec: unknown;
}
