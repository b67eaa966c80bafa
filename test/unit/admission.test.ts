// The admission policy that refuses nulls, as generated into crds/ (test/e2e/null-values.test.ts
// runs it on a real API server).
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FIRST_NULL_MEMBER, NULL_MEMBER_AT_END, STATUS_AT_END } from '../../src/api/admission.js';
import { crdYaml } from '../../src/api/crd.js';

type Node = { [key: string]: unknown };
interface Policy {
  metadata: { name: string };
  spec: {
    failurePolicy: string;
    matchConstraints: { resourceRules: unknown[] };
    variables: Array<{ name: string; expression: string }>;
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

  /** The regular expressions the policy's CEL `find`s, as the API server reads them from crds/. */
  const finds = (variable: string) =>
    [
      ...policy.spec.variables
        .find((v) => v.name === variable)!
        .expression.matchAll(/find\('((?:[^'\\]|\\.)*)'\)/g),
    ].map((m) => m[1]!.replace(/\\(.)/g, '$1'));

  it('carries the expressions the table below runs', () => {
    expect(finds('statusTail')).toEqual([STATUS_AT_END]);
    expect(finds('appliedNull')).toEqual([FIRST_NULL_MEMBER, NULL_MEMBER_AT_END]);
  });

  /**
   * The policy's `specAt`, `statusTail`, `appliedSpec` and `appliedNull`, step by step (RE2 and
   * JavaScript agree on these expressions: no lookaround, no backreference, leftmost-first).
   */
  const appliedNull = (lastApplied: string): string => {
    const find = (text: string, re: string) => text.match(new RegExp(re))?.[0] ?? '';
    const specAt = lastApplied.indexOf('"spec":{');
    const statusTail = lastApplied.includes('},"status":')
      ? find(lastApplied.substring(lastApplied.indexOf('},"status":')), finds('statusTail')[0]!)
      : '';
    const end = lastApplied.length - statusTail.length;
    const appliedSpec =
      specAt < 0 ? '' : end > specAt ? lastApplied.substring(specAt, end) : lastApplied.substring(specAt);
    const [first, member] = finds('appliedNull') as [string, string];
    return find(find(appliedSpec, first), member);
  };
  /** kubectl's last-applied configuration: compact JSON, members sorted (status after spec), a newline. */
  const applied = (spec: unknown, status?: unknown) =>
    `${JSON.stringify({
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: { name: 'a', annotations: { note: '"spec":{"x":null}' } },
      spec,
      ...(status !== undefined && { status }),
    })}\n`;
  const condition = {
    lastTransitionTime: 't',
    message: 'm',
    reason: 'Reconciled',
    status: 'True',
    type: 'Ready',
  };

  it.each([
    // [what, spec, status, the null member found ('' for none)]
    [
      'a null key ARN',
      { diskEncryptionConfiguration: { encryptionKeyArn: null } },
      undefined,
      '"encryptionKeyArn":null}',
    ],
    ['a null context value', { a: 1, encryptionContext: { team: null, x: 'y' } }, undefined, '"team":null,'],
    ['the first of two nulls', { a: null, b: { c: null } }, undefined, '"a":null,'],
    ['a name with escapes', { tags: { 'a\\"b:': null } }, undefined, '"a\\\\\\"b:":null}'],
    ['a null deep in a list', { r: [{ c: [{ p: { 'spark.x': null } }] }] }, undefined, '"spark.x":null}'],
    ['text inside a value', { properties: { 'spark.conf': 'a:null,b', quoted: 'x":null}' } }, undefined, ''],
    ['a value that begins with :null,', { sparkSubmitParameters: ':null,' }, undefined, ''],
    ['a tag value that begins with :null}', { tags: { team: ':null}' } }, undefined, ''],
    ['a list item that begins with :null,', { subnetIds: ['a', ':null,', ':null}'] }, undefined, ''],
    ['a name that ends with a comma, then such a value', { tags: { 'a,': ':null,' } }, undefined, ''],
    ['no null', { subnetIds: ['a'] }, undefined, ''],
    ['a null under status', { name: 'a' }, { applicationId: null }, ''],
    [
      'nulls deep in an exported status',
      { name: 'a' },
      { conditions: [{ ...condition, reason: null }], diskEncryption: { encryptionContext: { a: null } } },
      '',
    ],
    [
      'a null in spec, and one under status',
      { tags: { team: null } },
      { applicationId: null },
      '"team":null}',
    ],
    [
      'a null tag named status',
      { tags: { a: 'b', status: null } },
      { applicationId: null },
      '"status":null}',
    ],
    [
      'a status member nested in spec, and a null after it',
      { r: [{ c: { a: {}, status: { q: 1 } } }], z: null },
      { conditions: [condition], x: null },
      '"z":null}',
    ],
  ])('%s', (_what, spec, status, found) => {
    expect(appliedNull(applied(spec, status))).toBe(found);
  });

  it('searches the rest of the text when an applied status is nested deeper than it follows', () => {
    // The safe side: such a status is judged as if it were spec.
    expect(appliedNull(applied({ name: 'a' }, { a: { b: { c: { d: { e: null } } } } }))).toBe('"e":null}');
    expect(appliedNull(applied({ name: 'a' }, { a: { b: { c: { d: null } } } }))).toBe('');
  });
});
