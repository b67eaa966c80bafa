// Builds the CustomResourceDefinitions from the zod schemas, and with each the admission policy
// that refuses nulls (admission.ts). crds/ holds their YAML, one file per kind; a test keeps them
// equal.
import { stringify } from 'yaml';
import { z } from 'zod';
import { admissionPolicy } from './admission.js';
import {
  APPLICATION_KIND,
  APPLICATION_PLURAL,
  APPLICATION_SHORT_NAMES,
  APPLICATION_SINGULAR,
  CATEGORIES,
  GROUP,
  JOB_RUN_KIND,
  JOB_RUN_PLURAL,
  JOB_RUN_SHORT_NAMES,
  JOB_RUN_SINGULAR,
  POLICY_KIND,
  POLICY_PLURAL,
  POLICY_SHORT_NAMES,
  POLICY_SINGULAR,
  VERSION,
} from './constants.js';
import { JobRunSpec, JobRunStatus } from './jobrun-schema.js';
import { policyAdmissionPolicies } from './policy-rules.js';
import { PolicySpec } from './policy-schema.js';
import { BINDING_RULES, Spec, Status } from './schema.js';

type JsonSchema = { [key: string]: unknown };

/**
 * zod emits plain JSON Schema; Kubernetes wants a structural schema. This keeps what
 * Kubernetes understands and turns "any value" into x-kubernetes-preserve-unknown-fields.
 */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (node === null || typeof node !== 'object') return node;
  const schema: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    // zod's integer bounds default to JavaScript's safe range: noise in a CRD.
    if ((key === 'maximum' || key === 'minimum') && Math.abs(value as number) === Number.MAX_SAFE_INTEGER)
      continue;
    if (key === 'additionalProperties' && isEmptySchema(value)) {
      schema['x-kubernetes-preserve-unknown-fields'] = true;
      continue;
    }
    schema[key] = key === 'properties' ? mapValues(value as JsonSchema, structural) : structural(value);
  }
  if (schema.type === 'integer') schema.format = 'int64';
  return schema;
}

const isEmptySchema = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length === 0;
const mapValues = (o: JsonSchema, f: (v: unknown) => unknown) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

function openApiSchema(schema: z.ZodType): JsonSchema {
  return structural(
    z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }),
  ) as JsonSchema;
}

/**
 * Marks every property and map value below the root `nullable`. The API server silently drops
 * a null it may not store, which turns a template value that did not render into a removed
 * field (for a key ARN: `{}`, the AWS-owned key). Stored, the null stays visible to the
 * admission policy and the operator, which refuse it (see src/api/nulls.ts). CEL rules
 * skip null values and `has()` is false for them, so the CRD's own rules are unchanged.
 */
function keepingNulls(schema: JsonSchema): JsonSchema {
  const nullable = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    return { ...keepingNulls(node as JsonSchema), nullable: true };
  };
  const out: JsonSchema = { ...schema };
  if (schema.properties) out.properties = mapValues(schema.properties as JsonSchema, nullable);
  if (typeof schema.additionalProperties === 'object')
    out.additionalProperties = nullable(schema.additionalProperties);
  if (schema.items) out.items = keepingNulls(schema.items as JsonSchema);
  return out;
}

/** spec's schema as the CRD declares it. */
const specSchema = (d: KindDefinition) => keepingNulls(openApiSchema(d.spec));

interface KindDefinition {
  /** The schema's source file, named in the generated YAML's header. */
  source: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  printerColumns: Array<{ name: string; type: string; jsonPath: string }>;
  spec: z.ZodType;
  /** Absent for a kind the operator never writes status to. */
  status?: z.ZodType;
  /** Default Namespaced. */
  scope?: 'Namespaced' | 'Cluster';
  /** Rules over the whole object (old and new), where spec alone cannot say them. */
  rootRules?: unknown[];
  /** Admission policies that go with the kind besides the one refusing nulls. */
  admission?: () => Array<Record<string, unknown>>;
}

const READY_COLUMN = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const AGE_COLUMN = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const APPLICATION: KindDefinition = {
  source: 'src/api/schema.ts',
  kind: APPLICATION_KIND,
  plural: APPLICATION_PLURAL,
  singular: APPLICATION_SINGULAR,
  shortNames: APPLICATION_SHORT_NAMES,
  description: 'An AWS EMR Serverless application, kept equal to this declaration.',
  printerColumns: [
    { name: 'Application ID', type: 'string', jsonPath: '.status.applicationId' },
    { name: 'State', type: 'string', jsonPath: '.status.state' },
    { name: 'Encryption', type: 'string', jsonPath: '.status.encryption' },
    READY_COLUMN,
    AGE_COLUMN,
  ],
  spec: Spec,
  status: Status,
  rootRules: BINDING_RULES,
};

const JOB_RUN: KindDefinition = {
  source: 'src/api/jobrun-schema.ts',
  kind: JOB_RUN_KIND,
  plural: JOB_RUN_PLURAL,
  singular: JOB_RUN_SINGULAR,
  shortNames: JOB_RUN_SHORT_NAMES,
  description:
    'One EMR Serverless job run on an EmrServerlessApplication of the same namespace, submitted once.',
  printerColumns: [
    { name: 'Application', type: 'string', jsonPath: '.spec.applicationRef.name' },
    { name: 'Job Run ID', type: 'string', jsonPath: '.status.jobRunId' },
    { name: 'State', type: 'string', jsonPath: '.status.state' },
    // A date column: kubectl shows how long ago the run started, with no status write per poll.
    { name: 'Started', type: 'date', jsonPath: '.status.startedAt' },
    { name: 'Encryption', type: 'string', jsonPath: '.status.diskEncryption.mode' },
    { name: 'Key Source', type: 'string', jsonPath: '.status.diskEncryption.source' },
    READY_COLUMN,
    AGE_COLUMN,
  ],
  spec: JobRunSpec,
  status: JobRunStatus,
};

const POLICY: KindDefinition = {
  source: 'src/api/policy-schema.ts',
  kind: POLICY_KIND,
  plural: POLICY_PLURAL,
  singular: POLICY_SINGULAR,
  shortNames: POLICY_SHORT_NAMES,
  scope: 'Cluster',
  description:
    'What the EmrServerlessApplications and EmrServerlessJobRuns of some namespaces may reach in AWS: KMS keys, execution roles, log and metric destinations, subnets. Written by the cluster admin; every policy that selects a namespace applies.',
  printerColumns: [
    { name: 'Namespaces', type: 'string', jsonPath: '.spec.namespaces' },
    { name: 'Selector', type: 'string', jsonPath: '.spec.namespaceSelector' },
    { name: 'Require CMK', type: 'boolean', jsonPath: '.spec.encryption.requireCustomerManagedKey' },
    AGE_COLUMN,
  ],
  spec: PolicySpec,
  admission: policyAdmissionPolicies,
};

const scope = (d: KindDefinition) => d.scope ?? 'Namespaced';

function customResourceDefinition(d: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${d.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: scope(d),
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.singular,
        shortNames: d.shortNames,
        // Not in the tenants' categories: `kubectl get emr` must not need the admin's kind.
        ...(scope(d) === 'Namespaced' && { categories: CATEGORIES }),
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(d.status && { subresources: { status: {} } }),
          additionalPrinterColumns: d.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: d.description,
              required: ['spec'],
              ...(d.rootRules && { 'x-kubernetes-validations': d.rootRules }),
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(d),
                ...(d.status && { status: openApiSchema(d.status) }),
              },
            },
          },
        },
      ],
    },
  };
}

/** The EmrServerlessApplication CRD. */
export function buildCrd(): Record<string, unknown> {
  return customResourceDefinition(APPLICATION);
}

/** The EmrServerlessJobRun CRD. */
export function buildJobRunCrd(): Record<string, unknown> {
  return customResourceDefinition(JOB_RUN);
}

/** The EmrServerlessPolicy CRD. */
export function buildPolicyCrd(): Record<string, unknown> {
  return customResourceDefinition(POLICY);
}

/** Each kind's file in crds/: its CRD and the admission policies that go with it. */
export function crdFiles(): Array<{ file: string; crd: Record<string, unknown>; yaml: string }> {
  return [APPLICATION, JOB_RUN, POLICY].map((d) => {
    const crd = customResourceDefinition(d);
    const policies = [...admissionPolicy(d.plural, specSchema(d)), ...(d.admission?.() ?? [])];
    const documents = [crd, ...policies].map((doc) => stringify(doc, { lineWidth: 0 }));
    const sources = d.admission ? 'src/api/admission.ts and src/api/policy-rules.ts' : 'src/api/admission.ts';
    const yaml = `# Generated from ${d.source} and ${sources} by \`emr-serverless-operator crd\`. Do not edit.\n${documents.join('---\n')}`;
    return { file: `${GROUP}_${d.plural}.yaml`, crd, yaml };
  });
}

/** Every CRD and admission policy, as one YAML stream (what `crd` prints). */
export function crdYaml(): string {
  return crdFiles()
    .map((f) => f.yaml)
    .join('---\n');
}
