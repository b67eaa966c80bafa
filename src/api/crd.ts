// Builds the CustomResourceDefinition from the zod schema, and with it the admission policy that
// refuses nulls (admission.ts). crds/ holds their YAML; a test keeps the two equal.
import { stringify } from 'yaml';
import { z } from 'zod';
import { admissionPolicy } from './admission.js';
import { CATEGORIES, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './constants.js';
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
const specSchema = () => keepingNulls(openApiSchema(Spec));

export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Application ID', type: 'string', jsonPath: '.status.applicationId' },
            { name: 'State', type: 'string', jsonPath: '.status.state' },
            { name: 'Encryption', type: 'string', jsonPath: '.status.encryption' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'An AWS EMR Serverless application, kept equal to this declaration.',
              required: ['spec'],
              'x-kubernetes-validations': BINDING_RULES,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: openApiSchema(Status),
              },
            },
          },
        },
      ],
    },
  };
}

/** The CRD and the admission policy that goes with it, as one YAML stream. */
export function crdYaml(): string {
  const documents = [buildCrd(), ...admissionPolicy(PLURAL, specSchema())].map((d) =>
    stringify(d, { lineWidth: 0 }),
  );
  return `# Generated from src/api/schema.ts and src/api/admission.ts by \`emr-serverless-operator crd\`. Do not edit.\n${documents.join('---\n')}`;
}
