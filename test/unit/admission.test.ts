// The admission policy that refuses nulls, as generated into crds/ (test/e2e/null-values.test.ts
// runs it on a real API server).
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { NULL_MEMBER } from '../../src/api/admission.js';
import { crdYaml } from '../../src/api/crd.js';

type Node = { [key: string]: unknown };
interface Policy {
  metadata: { name: string };
  spec: {
    failurePolicy: string;
    matchConstraints: { resourceRules: unknown[] };
    validations: Array<{ message?: string; messageExpression?: string }>;
  };
}
const [crd, policyDoc, bindingDoc] = parseAllDocuments(crdYaml()).map((d) => d.toJS() as Node);
const policy = policyDoc as unknown as Policy;
const binding = bindingDoc as unknown as { spec: unknown };
const spec = (
  crd as unknown as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Node } } } }> };
  }
).spec.versions[0]!.schema.openAPIV3Schema.properties.spec;

/** Every node of the spec schema the CRD keeps a null for and no enum refuses. */
function nullable(schema: Node, path: string): string[] {
  const out: string[] = [];
  const visit = (child: Node, at: string) => {
    if (child.nullable && !child.enum) out.push(at);
    out.push(...nullable(child, at));
  };
  for (const [k, v] of Object.entries((schema.properties ?? {}) as Record<string, Node>))
    visit(v, `${path}.${k}`);
  if (typeof schema.additionalProperties === 'object')
    visit(schema.additionalProperties as Node, `${path}[*]`);
  if (typeof schema.items === 'object') visit(schema.items as Node, `${path}[*]`);
  return out;
}

describe('the null admission policy', () => {
  const validations = policy.spec.validations;

  it('is bound, denies, and matches only writes of the resource itself (not status, not delete)', () => {
    expect(binding.spec).toEqual({
      policyName: policy.metadata.name,
      validationActions: ['Deny'],
    });
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([
      expect.objectContaining({ operations: ['CREATE', 'UPDATE'], resources: ['emrserverlessapplications'] }),
    ]);
  });

  it('has one check per place the CRD keeps a null, naming it; the {} hint only for disk encryption', () => {
    const paths = nullable(spec, 'spec');
    expect(paths).toContain('spec.diskEncryptionConfiguration.encryptionKeyArn');
    expect(paths).toContain('spec.diskEncryptionConfiguration.encryptionContext[*]');
    expect(paths).toContain('spec.tags[*]');
    expect(paths).not.toContain('spec.deletionPolicy');
    const stored = validations.filter((v) => v.message);
    expect(stored.map((v) => v.message!.split(' is null')[0])).toEqual(paths);
    for (const v of stored) {
      expect(v.message!.includes('diskEncryptionConfiguration: {}')).toBe(
        v.message!.startsWith('spec.diskEncryptionConfiguration'),
      );
    }
  });

  it('finds a null member in kubectl’s compact JSON, and not text inside a string value', () => {
    const first = (value: unknown) => JSON.stringify(value).match(new RegExp(NULL_MEMBER))?.[0];
    expect(first({ spec: { diskEncryptionConfiguration: { encryptionKeyArn: null } } })).toBe(
      '"encryptionKeyArn":null}',
    );
    expect(first({ spec: { a: 1, encryptionContext: { team: null, x: 'y' } } })).toBe('"team":null,');
    expect(first({ spec: { properties: { 'spark.conf': 'a:null,b', quoted: 'x":null}' } } })).toBeUndefined();
    expect(first({ spec: { subnetIds: ['a'] } })).toBeUndefined();
  });
});
