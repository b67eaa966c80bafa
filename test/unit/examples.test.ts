// Every manifest in examples/ is an EmrServerlessApplication or EmrServerlessJobRun whose spec
// passes the API schema, or an EmrServerlessPolicy (cluster-scoped) whose spec does, and the
// policy refuses what its comments say it refuses.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  API_VERSION,
  APPLICATION_KIND,
  APPLICATION_PLURAL,
  JOB_RUN_KIND,
  JOB_RUN_PLURAL,
  POLICY_KIND,
} from '../../src/api/constants.js';
import { JobRunSpec } from '../../src/api/jobrun-schema.js';
import { type NamedPolicy, policyViolations, selectsNamespace } from '../../src/api/policy-rules.js';
import { PolicySpec } from '../../src/api/policy-schema.js';
import { Spec } from '../../src/api/schema.js';

const SPECS = { [APPLICATION_KIND]: Spec, [JOB_RUN_KIND]: JobRunSpec, [POLICY_KIND]: PolicySpec } as const;

const dir = new URL('../../examples/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: unknown;
}
const docsOf = (file: string) =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Doc);

describe('examples/', () => {
  it('holds manifests', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files)(
    '%s: every document is a valid EmrServerlessApplication, EmrServerlessJobRun or EmrServerlessPolicy',
    (file) => {
      const docs = docsOf(file);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        expect(doc.apiVersion).toBe(API_VERSION);
        expect(Object.keys(SPECS)).toContain(doc.kind);
        expect(doc.metadata.name).toMatch(/^[a-z0-9-]+$/);
        // No example names a namespace: kubectl apply -n puts them where the reader wants, and a
        // policy is cluster-scoped.
        expect(doc.metadata.namespace).toBeUndefined();
        const parsed = SPECS[doc.kind as keyof typeof SPECS].safeParse(doc.spec);
        expect(parsed.success, parsed.error?.message).toBe(true);
      }
    },
  );
});

describe('examples/08-namespace-policy.yaml', () => {
  const [doc] = docsOf('08-namespace-policy.yaml');
  const policy: NamedPolicy = { name: doc!.metadata.name, spec: PolicySpec.parse(doc!.spec) };
  const refused = (file: string) =>
    docsOf(file).map((d) => ({
      name: d.metadata.name,
      fields: policyViolations(d.kind === APPLICATION_KIND ? APPLICATION_PLURAL : JOB_RUN_PLURAL, d.spec, [
        policy,
      ]).map((v) => v.field),
    }));

  it('is one policy, for the labelled finance namespaces only', () => {
    expect(docsOf('08-namespace-policy.yaml')).toHaveLength(1);
    expect(doc!.kind).toBe(POLICY_KIND);
    const labels = { 'emrserverless.operator.dev/tenant': 'finance' };
    expect(selectsNamespace(policy.spec, { name: 'finance', labels })).toBe(true);
    // The namespaces the other examples are applied to carry no such label.
    expect(selectsNamespace(policy.spec, { name: 'default' })).toBe(false);
    expect(selectsNamespace(policy.spec, { name: 'finance' })).toBe(false);
  });

  it('allows examples/01 and refuses examples/03 and the job runs of examples/07, as it says', () => {
    expect(refused('01-customer-managed-key.yaml')).toEqual([{ name: 'analytics', fields: [] }]);
    expect(refused('03-aws-owned-key.yaml')).toEqual([
      { name: 'analytics', fields: ['spec.diskEncryptionConfiguration.encryptionKeyArn'] },
    ]);
    expect(refused('07-job-runs.yaml')).toEqual([
      { name: 'nightly-etl', fields: ['spec.executionRoleArn'] },
      {
        name: 'pii-export',
        fields: ['spec.executionRoleArn', 'spec.configurationOverrides.diskEncryptionConfiguration'],
      },
      {
        name: 'signing-key-report',
        fields: ['spec.executionRoleArn', 'spec.configurationOverrides.diskEncryptionConfiguration'],
      },
    ]);
    const logs = (logUri: string) =>
      policyViolations(
        APPLICATION_PLURAL,
        {
          diskEncryptionConfiguration: { encryptionKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k' },
          monitoringConfiguration: { s3MonitoringConfiguration: { logUri } },
        },
        [policy],
      ).map((v) => v.field);
    expect(logs('s3://finance-logs/analytics/')).toEqual([]);
    expect(logs('s3://finance-logs-public/analytics/')).toEqual([
      'spec.monitoringConfiguration.s3MonitoringConfiguration.logUri',
    ]);
  });
});
