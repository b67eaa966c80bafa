// Builds the CustomResourceDefinition from the zod schema. crds/ holds its YAML; a test keeps
// the two equal.
import { stringify } from 'yaml';
import { z } from 'zod';
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
                spec: openApiSchema(Spec),
                status: openApiSchema(Status),
              },
            },
          },
        },
      ],
    },
  };
}

export function crdYaml(): string {
  return `# Generated from src/api/schema.ts by \`emr-serverless-operator crd\`. Do not edit.\n${stringify(buildCrd(), { lineWidth: 0 })}`;
}
