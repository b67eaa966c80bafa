import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdFiles, crdYaml } from '../../src/api/crd.js';
import { Spec } from '../../src/api/schema.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const base = { name: 'analytics', type: 'SPARK', releaseLabel: 'emr-7.5.0' };

describe('the CRD', () => {
  it.each(crdFiles().map((f) => [f.file, f.yaml]))(
    'crds/%s holds exactly what the schema generates (run `emr-serverless-operator crd --output-dir crds` after a schema change)',
    (file, yaml) => {
      const committed = readFileSync(new URL(`../../crds/${file}`, import.meta.url), 'utf8');
      expect(committed).toBe(yaml);
    },
  );

  it('crd prints every CRD, each with its admission policies, as one YAML stream', () => {
    const kinds = parseAllDocuments(crdYaml()).map((d) => {
      const o = d.toJS() as { kind: string; metadata: { name: string }; spec: { names?: { kind: string } } };
      return o.kind === 'CustomResourceDefinition'
        ? `CRD/${o.spec.names?.kind}`
        : `${o.kind}/${o.metadata.name}`;
    });
    const pair = (name: string) => [
      `ValidatingAdmissionPolicy/${name}`,
      `ValidatingAdmissionPolicyBinding/${name}`,
    ];
    expect(kinds).toEqual([
      'CRD/EmrServerlessApplication',
      ...pair('emrserverlessapplications.emrserverless.operator.dev-refuse-nulls'),
      'CRD/EmrServerlessJobRun',
      ...pair('emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls'),
      // The policy kind: its own nulls refused (a null allow-list must not read as "no limit"),
      // and the policies' rules for the two kinds they govern.
      'CRD/EmrServerlessPolicy',
      ...pair('emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls'),
      ...pair('emrserverlessapplications.emrserverless.operator.dev-namespace-policies'),
      ...pair('emrserverlessjobruns.emrserverless.operator.dev-namespace-policies'),
    ]);
  });

  it('declares no defaults: the API server must store spec exactly as applied', () => {
    expect(crdYaml()).not.toMatch(/^\s+default:/m);
  });
});

describe('spec validation (the same rules admission applies)', () => {
  const messageOf = (spec: unknown) => {
    const r = Spec.safeParse(spec);
    return r.success ? undefined : r.error.issues.map((i) => i.message).join('; ');
  };

  it.each([
    ['absent config', base],
    ['{} (AWS-owned key)', { ...base, diskEncryptionConfiguration: {} }],
    ['a key', { ...base, diskEncryptionConfiguration: { encryptionKeyArn: KEY } }],
    [
      'a key and 8 context pairs',
      {
        ...base,
        diskEncryptionConfiguration: {
          encryptionKeyArn: KEY,
          encryptionContext: Object.fromEntries([...Array(8)].map((_, i) => [`k${i}`, 'v'])),
        },
      },
    ],
    [
      'a cross-account multi-Region key',
      {
        ...base,
        diskEncryptionConfiguration: {
          encryptionKeyArn: 'arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab',
        },
      },
    ],
    [
      'a GovCloud key',
      {
        ...base,
        diskEncryptionConfiguration: {
          encryptionKeyArn: 'arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd',
        },
      },
    ],
    ['adoption without name and type', { applicationId: '00fabc123' }],
  ])('accepts %s', (_, spec) => expect(messageOf(spec)).toBeUndefined());

  it.each([
    [
      'an alias ARN',
      {
        ...base,
        diskEncryptionConfiguration: { encryptionKeyArn: 'arn:aws:kms:eu-west-1:111122223333:alias/data' },
      },
      'must be a KMS key ARN',
    ],
    [
      'a bare key id',
      { ...base, diskEncryptionConfiguration: { encryptionKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab' } },
      'must be a KMS key ARN',
    ],
    [
      'a context without a key',
      { ...base, diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } },
      'encryptionContext requires encryptionKeyArn',
    ],
    [
      '9 context pairs',
      {
        ...base,
        diskEncryptionConfiguration: {
          encryptionKeyArn: KEY,
          encryptionContext: Object.fromEntries([...Array(9)].map((_, i) => [`k${i}`, 'v'])),
        },
      },
      'at most 8 entries',
    ],
    [
      'an empty context value',
      { ...base, diskEncryptionConfiguration: { encryptionKeyArn: KEY, encryptionContext: { a: '' } } },
      'values must be 1 to 384',
    ],
    [
      'a 129-character context key',
      {
        ...base,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY, encryptionContext: { ['k'.repeat(129)]: 'v' } },
      },
      'keys must be 1 to 128',
    ],
    [
      'a 385-character context value',
      {
        ...base,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY, encryptionContext: { a: 'v'.repeat(385) } },
      },
      'values must be 1 to 384',
    ],
    ['a missing name when creating', { type: 'SPARK', releaseLabel: 'emr-7.5.0' }, 'spec.name is required'],
    ['a missing type when creating', { name: 'a', releaseLabel: 'emr-7.5.0' }, 'spec.type is required'],
    ['an unknown type', { ...base, type: 'PRESTO' }, 'type must be SPARK or HIVE'],
    [
      'an unknown update strategy',
      { ...base, updateStrategy: 'Now' },
      'updateStrategy must be WaitForStop or StopWhenIdle',
    ],
    ['a bad name', { ...base, name: 'has space' }, 'name must be'],
  ])('refuses %s', (_, spec, message) => expect(messageOf(spec)).toContain(message));
});
