// Namespace policies end to end, on the real API server:
// - the admission policies (CEL, generated from src/api/policy-rules.ts) and the operator's own
//   check (the same table, evaluated in TypeScript) agree on a table of cases;
// - a tenant with nothing but the shipped edit role in its own namespace (`kubectl --as`) is
//   refused another team's execution role, a key outside the list, `{}` and an absent key where a
//   customer-managed key is required, with zero AWS writes;
// - the operator enforces the same when admission cannot: a policy added after the resource,
//   and the admission policies removed.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { APPLICATION_PLURAL, JOB_RUN_PLURAL } from '../../src/api/constants.js';
import { type NamedPolicy, policyViolations, selectsNamespace } from '../../src/api/policy-rules.js';
import { PolicySpec } from '../../src/api/policy-schema.js';
import {
  ACCOUNT,
  baseSpec,
  CRD_DIR,
  condition,
  E2e,
  jobRunManifest,
  manifest,
  ROOT,
  reportFailures,
  waitFor,
} from '../support/e2e.js';

let e2e: E2e;
const run = Math.random().toString(16).slice(2, 8);
const created: string[] = [];

beforeAll(async () => {
  e2e = await E2e.start('e2e-policies');
});

afterAll(async () => {
  if (e2e && created.length > 0)
    await e2e.kubectl(['delete', 'emrserverlesspolicies', ...created, '--ignore-not-found'], {
      check: false,
    });
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Creates (or replaces) a policy as the cluster admin; cleaned up after the file. */
async function applyPolicy(name: string, spec: Record<string, unknown>): Promise<void> {
  if (!created.includes(name)) created.push(name);
  await e2e.apply({
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessPolicy',
    metadata: { name },
    spec,
  });
}

const KEY_A = `arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000001`;
const KEY_B = `arn:aws:kms:eu-west-1:444455556666:key/bbbbbbbb-0000-0000-0000-000000000002`;
const ROLE = (name: string) => `arn:aws:iam::111122223333:role/${name}`;
const app = (extra: Record<string, unknown> = {}) => baseSpec('agree', extra);
const job = (extra: Record<string, unknown> = {}) => ({
  applicationRef: { name: 'agree' },
  executionRoleArn: ROLE('team-a-etl'),
  jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
  ...extra,
});
const disk = (encryptionKeyArn?: string) => ({
  diskEncryptionConfiguration: encryptionKeyArn ? { encryptionKeyArn } : {},
});

interface AgreementCase {
  label: string;
  kind: typeof APPLICATION_PLURAL | typeof JOB_RUN_PLURAL;
  spec: Record<string, unknown>;
  /** Each selects the case's namespace by name unless it brings its own selection. */
  policies: Array<Record<string, unknown>>;
  /** The namespace's labels (selector cases). */
  labels?: Record<string, string>;
}

const requireCmk = { encryption: { requireCustomerManagedKey: true } };
const keys = (...allowedKeyArns: string[]) => ({ encryption: { allowedKeyArns } });
const roles = (...allowedExecutionRoleArns: string[]) => ({ jobRuns: { allowedExecutionRoleArns } });
const s3Log = (logUri: string) => ({ monitoringConfiguration: { s3MonitoringConfiguration: { logUri } } });

const CASES: AgreementCase[] = [
  {
    label: 'a policy for another namespace',
    kind: APPLICATION_PLURAL,
    spec: app(disk()),
    policies: [{ ...requireCmk, namespaces: ['elsewhere'] }],
  },
  { label: 'CMK required, {}', kind: APPLICATION_PLURAL, spec: app(disk()), policies: [requireCmk] },
  { label: 'CMK required, field absent', kind: APPLICATION_PLURAL, spec: app(), policies: [requireCmk] },
  { label: 'CMK required, a key', kind: APPLICATION_PLURAL, spec: app(disk(KEY_A)), policies: [requireCmk] },
  { label: 'exact key listed', kind: APPLICATION_PLURAL, spec: app(disk(KEY_A)), policies: [keys(KEY_A)] },
  {
    label: 'exact key, another key',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_B)),
    policies: [keys(KEY_A)],
  },
  {
    label: 'account pattern, key of that account',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_A)),
    policies: [keys('arn:aws:kms:*:111122223333:key/*')],
  },
  {
    label: 'account pattern, key of another account',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_B)),
    policies: [keys('arn:aws:kms:*:111122223333:key/*')],
  },
  {
    label: 'no key allowed ([]), a key',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_A)),
    policies: [keys()],
  },
  { label: 'no key allowed ([]), {}', kind: APPLICATION_PLURAL, spec: app(disk()), policies: [keys()] },
  {
    label: 'a dot in a pattern is literal',
    kind: APPLICATION_PLURAL,
    spec: app(s3Log('s3://logsXteam-a/app/')),
    policies: [{ monitoring: { allowedS3LogUris: ['s3://logs.team-a/*'] } }],
  },
  {
    label: 'log URI under the allowed prefix',
    kind: APPLICATION_PLURAL,
    spec: app(s3Log('s3://team-a-logs/app/')),
    policies: [{ monitoring: { allowedS3LogUris: ['s3://team-a-logs/*'] } }],
  },
  {
    label: "log URI in another team's bucket",
    kind: APPLICATION_PLURAL,
    spec: app(s3Log('s3://team-b-logs/')),
    policies: [{ monitoring: { allowedS3LogUris: ['s3://team-a-logs/*'] } }],
  },
  {
    label: 'no remote write allowed',
    kind: APPLICATION_PLURAL,
    spec: app({
      monitoringConfiguration: {
        prometheusMonitoringConfiguration: { remoteWriteUrl: 'https://evil.example.com/write' },
      },
    }),
    policies: [{ monitoring: { allowedPrometheusRemoteWriteUrls: [] } }],
  },
  {
    label: 'a ? in a pattern is literal and matches',
    kind: APPLICATION_PLURAL,
    spec: app({
      monitoringConfiguration: {
        prometheusMonitoringConfiguration: { remoteWriteUrl: 'https://aps.example.com/write?x=1' },
      },
    }),
    policies: [{ monitoring: { allowedPrometheusRemoteWriteUrls: ['https://aps.example.com/write?x=*'] } }],
  },
  {
    label: 'subnets all allowed',
    kind: APPLICATION_PLURAL,
    spec: app({ networkConfiguration: { subnetIds: ['subnet-a1', 'subnet-a2'] } }),
    policies: [{ network: { allowedSubnetIds: ['subnet-a*'] } }],
  },
  {
    label: 'one subnet outside',
    kind: APPLICATION_PLURAL,
    spec: app({ networkConfiguration: { subnetIds: ['subnet-a1', 'subnet-b1'] } }),
    policies: [{ network: { allowedSubnetIds: ['subnet-a*'] } }],
  },
  {
    label: 'a security group outside',
    kind: APPLICATION_PLURAL,
    spec: app({ networkConfiguration: { securityGroupIds: ['sg-2'] } }),
    policies: [{ network: { allowedSecurityGroupIds: ['sg-1'] } }],
  },
  {
    label: 'a log encryption key outside the keys',
    kind: APPLICATION_PLURAL,
    spec: app({
      monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://l/', encryptionKeyArn: KEY_B } },
    }),
    policies: [keys(KEY_A)],
  },
  {
    label: 'two policies, key in both',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_A)),
    policies: [keys('arn:aws:kms:*'), keys('*:111122223333:*')],
  },
  {
    label: 'two policies, key in one',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_B)),
    policies: [keys('arn:aws:kms:*'), keys('*:111122223333:*')],
  },
  {
    label: 'two policies, one about another namespace',
    kind: APPLICATION_PLURAL,
    spec: app(disk(KEY_A)),
    policies: [keys(KEY_A), { ...keys(KEY_B), namespaces: ['elsewhere'] }],
  },
  {
    label: 'selector matchLabels match',
    kind: APPLICATION_PLURAL,
    spec: app(disk()),
    labels: { tier: 'gold' },
    policies: [{ ...requireCmk, namespaceSelector: { matchLabels: { tier: 'gold' } } }],
  },
  {
    label: 'selector matchLabels mismatch',
    kind: APPLICATION_PLURAL,
    spec: app(disk()),
    labels: { tier: 'silver' },
    policies: [{ ...requireCmk, namespaceSelector: { matchLabels: { tier: 'gold' } } }],
  },
  {
    label: 'selector In match',
    kind: APPLICATION_PLURAL,
    spec: app(disk()),
    labels: { tier: 'gold' },
    policies: [
      {
        ...requireCmk,
        namespaceSelector: {
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'platinum'] }],
        },
      },
    ],
  },
  {
    label: 'selector NotIn, value listed',
    kind: APPLICATION_PLURAL,
    spec: app(disk()),
    labels: { tier: 'gold' },
    policies: [
      {
        ...requireCmk,
        namespaceSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] },
      },
    ],
  },
  {
    label: 'selector Exists',
    kind: APPLICATION_PLURAL,
    spec: app(),
    labels: { pci: 'cardholder' },
    policies: [
      { ...requireCmk, namespaceSelector: { matchExpressions: [{ key: 'pci', operator: 'Exists' }] } },
    ],
  },
  {
    label: 'selector DoesNotExist, label present',
    kind: APPLICATION_PLURAL,
    spec: app(),
    labels: { pci: 'cardholder' },
    policies: [
      { ...requireCmk, namespaceSelector: { matchExpressions: [{ key: 'pci', operator: 'DoesNotExist' }] } },
    ],
  },
  {
    label: 'job role listed exactly',
    kind: JOB_RUN_PLURAL,
    spec: job(),
    policies: [roles(ROLE('team-a-etl'))],
  },
  {
    label: 'job role exact, longer name',
    kind: JOB_RUN_PLURAL,
    spec: job({ executionRoleArn: ROLE('team-a-etl2') }),
    policies: [roles(ROLE('team-a-etl'))],
  },
  {
    label: "job as another team's role",
    kind: JOB_RUN_PLURAL,
    spec: job({ executionRoleArn: ROLE('team-b-data') }),
    policies: [roles(ROLE('team-a-*'))],
  },
  { label: 'job role by pattern', kind: JOB_RUN_PLURAL, spec: job(), policies: [roles(ROLE('team-a-*'))] },
  { label: 'no role allowed', kind: JOB_RUN_PLURAL, spec: job(), policies: [roles()] },
  {
    label: 'job-level key forbidden',
    kind: JOB_RUN_PLURAL,
    spec: job({ configurationOverrides: disk(KEY_A) }),
    policies: [{ encryption: { jobRunKeyOverride: 'Forbidden' } }],
  },
  {
    label: 'job-level key forbidden, none set',
    kind: JOB_RUN_PLURAL,
    spec: job(),
    policies: [{ encryption: { jobRunKeyOverride: 'Forbidden' } }],
  },
  {
    label: 'CMK required, job-level {}',
    kind: JOB_RUN_PLURAL,
    spec: job({ configurationOverrides: disk() }),
    policies: [requireCmk],
  },
  {
    label: 'CMK required, job without its own key',
    kind: JOB_RUN_PLURAL,
    spec: job(),
    policies: [requireCmk],
  },
  {
    label: 'job-level key outside the keys',
    kind: JOB_RUN_PLURAL,
    spec: job({ configurationOverrides: disk(KEY_B) }),
    policies: [keys(KEY_A)],
  },
  {
    label: 'job-level key inside the keys',
    kind: JOB_RUN_PLURAL,
    spec: job({ configurationOverrides: disk(KEY_A) }),
    policies: [keys(KEY_A)],
  },
  {
    label: 'job log URI outside',
    kind: JOB_RUN_PLURAL,
    spec: job({ configurationOverrides: s3Log('s3://team-b-logs/') }),
    policies: [{ monitoring: { allowedS3LogUris: ['s3://team-a-logs/*'] } }],
  },
  {
    label: 'an application-only rule does not touch job runs',
    kind: JOB_RUN_PLURAL,
    spec: job(),
    policies: [{ network: { allowedSubnetIds: [] } }],
  },
];

describe('admission and the operator agree', () => {
  it(`on ${CASES.length} cases`, async () => {
    // Each case in its own namespace; each policy selects it by name or, for selector cases,
    // through a label no other namespace carries besides the case's own labels.
    const prepared = CASES.map((c, i) => {
      const namespace = `agree-${run}-${i}`;
      const scope = `agree-${run}-${i}`;
      const labels = { 'policy-agreement': scope, ...c.labels };
      const policies = c.policies.map((p, j) => {
        const spec = { ...p } as Record<string, unknown>;
        if (spec.namespaceSelector) {
          const selector = spec.namespaceSelector as { matchLabels?: Record<string, string> };
          spec.namespaceSelector = {
            ...selector,
            matchLabels: { ...selector.matchLabels, 'policy-agreement': scope },
          };
        } else if (!spec.namespaces) spec.namespaces = [namespace];
        return { name: `agree-${run}-${i}-${j}`, spec: PolicySpec.parse(spec) };
      });
      return { c, namespace, labels, policies };
    });
    const objects = prepared.flatMap(({ namespace, labels, policies }) => [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels } },
      ...policies.map((p) => {
        created.push(p.name);
        return {
          apiVersion: 'emrserverless.operator.dev/v1alpha1',
          kind: 'EmrServerlessPolicy',
          metadata: { name: p.name },
          spec: p.spec,
        };
      }),
    ]);
    await e2e.apply(objects.map((o) => stringify(o)).join('---\n'));

    const disagreements: string[] = [];
    for (const { c, namespace, labels, policies } of prepared) {
      const governing: NamedPolicy[] = policies.filter((p) =>
        selectsNamespace(p.spec, { name: namespace, labels }),
      );
      const expected = policyViolations(c.kind, c.spec, governing);
      const kind = c.kind === APPLICATION_PLURAL ? 'EmrServerlessApplication' : 'EmrServerlessJobRun';
      const object = {
        apiVersion: 'emrserverless.operator.dev/v1alpha1',
        kind,
        metadata: { name: 'agree', namespace },
        spec: c.spec,
      };
      const result = await e2e.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], {
        input: stringify(object),
        check: false,
      });
      const refused = result.exitCode !== 0;
      const agreed = refused
        ? expected.some((v) => result.stderr.includes(v.message))
        : expected.length === 0;
      if (!agreed)
        disagreements.push(
          `${c.label}: the operator says ${JSON.stringify(expected.map((v) => v.message))}, admission said ${refused ? result.stderr.trim() : 'allowed'}`,
        );
    }
    expect(disagreements).toEqual([]);
    // The table covers both outcomes for both kinds.
    const outcomes = prepared.map(({ c, namespace, labels, policies }) => [
      c.kind,
      policyViolations(
        c.kind,
        c.spec,
        policies.filter((p) => selectsNamespace(p.spec, { name: namespace, labels })),
      ).length > 0,
    ]);
    for (const kind of [APPLICATION_PLURAL, JOB_RUN_PLURAL])
      for (const refused of [true, false]) expect(outcomes).toContainEqual([kind, refused]);
    await e2e.kubectl([
      'delete',
      'emrserverlesspolicies',
      ...prepared.flatMap((p) => p.policies.map((q) => q.name)),
    ]);
  });
});

describe('a tenant with edit rights in its namespace', () => {
  const tenant = () => `system:serviceaccount:${e2e.namespace}:tenant`;
  const asTenant = (args: string[], input?: string) =>
    e2e.kubectl(['--as', tenant(), ...args], { check: false, ...(input !== undefined && { input }) });
  const tenantApply = async (yaml: string) => {
    const result = await asTenant(['apply', '-f', '-'], yaml);
    if (result.exitCode !== 0) throw new Error(`tenant apply failed: ${result.stderr}`);
  };
  const tenantRefused = async (yaml: string) => {
    const result = await asTenant(['apply', '-f', '-'], yaml);
    expect(result.exitCode, result.stdout).not.toBe(0);
    return result.stderr;
  };
  const writes = (mark: number) => e2e.writesSince(mark);
  let keyA: string; // the team's key, listed
  let keyB: string; // another key of the account, listed by the pattern only
  let keyOther: string; // a key the list does not hold
  const policy = () => `${e2e.namespace}-team-a`;
  const narrow = () => `${e2e.namespace}-narrow`;

  beforeAll(async () => {
    // The shipped tenant roles, bound in this namespace only: what a platform team gives a team.
    // Server-side, as test/integration/manifests applies manifests/ in the same cluster: one field manager.
    await e2e.kubectl(['apply', '--server-side', '-f', join(ROOT, 'manifests', 'tenant-roles.yaml')]);
    await e2e.kubectl(['create', 'serviceaccount', 'tenant']);
    // The test control plane runs no controller-manager, so no aggregation into `edit`: bind the
    // two shipped roles that `edit` aggregates, and nothing else.
    for (const role of ['view', 'edit'])
      await e2e.kubectl([
        'create',
        'rolebinding',
        `tenant-${role}`,
        `--clusterrole=emr-serverless-operator-${role}`,
        `--serviceaccount=${e2e.namespace}:tenant`,
      ]);
    [keyA, keyB, keyOther] = [
      await e2e.createKey(),
      await e2e.createKey(),
      await e2e.createKey({ account: '999988887777' }),
    ];
    await applyPolicy(policy(), {
      namespaces: [e2e.namespace],
      encryption: {
        requireCustomerManagedKey: true,
        allowedKeyArns: [`arn:aws:kms:eu-west-1:${ACCOUNT}:key/*`],
      },
      jobRuns: { allowedExecutionRoleArns: [`arn:aws:iam::${ACCOUNT}:role/team-a-*`] },
    });
  });

  it('may not write a policy, nor any status', async () => {
    for (const question of [
      ['create', 'emrserverlesspolicies'],
      ['patch', 'emrserverlessapplications', '--subresource=status'],
      ['update', 'emrserverlessjobruns', '--subresource=status'],
    ]) {
      const answer = await asTenant(['auth', 'can-i', ...question]);
      expect(answer.stdout.trim(), question.join(' ')).toBe('no');
    }
    expect((await asTenant(['auth', 'can-i', 'create', 'emrserverlessjobruns'])).stdout.trim()).toBe('yes');
  });

  it('is refused {}, an absent key and a key outside the list, with zero AWS writes', async () => {
    const mark = await e2e.mark();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['{}', baseSpec('data', disk()), 'requires a customer-managed key'],
      ['absent', baseSpec('data'), 'requires a customer-managed key'],
      [
        'outside',
        baseSpec('data', disk(keyOther)),
        `refuses spec.diskEncryptionConfiguration.encryptionKeyArn ${keyOther}`,
      ],
    ];
    for (const [label, spec, message] of cases) {
      const stderr = await tenantRefused(manifest('data', spec));
      expect(stderr, label).toContain(`EmrServerlessPolicy ${policy()}`);
      expect(stderr, label).toContain(message);
    }
    expect(await e2e.exists('data')).toBe(false);
    expect(await writes(mark)).toEqual([]);
  });

  it('gets applications on a key inside the list', async () => {
    const mark = await e2e.mark();
    await tenantApply(manifest('data', baseSpec('data', disk(keyA))));
    await tenantApply(manifest('jobs', baseSpec('jobs', disk(keyA))));
    const ready = await e2e.waitForReady('data', 'True', 'Reconciled');
    await e2e.waitForReady('jobs', 'True', 'Reconciled');
    expect(ready.status?.diskEncryption?.encryptionKeyArn).toBe(keyA);
    expect(await writes(mark)).toEqual(['CreateApplication', 'CreateApplication']);
  });

  it("is refused another team's execution role and a job-level key outside the list", async () => {
    const mark = await e2e.mark();
    const otherRole = await tenantRefused(
      jobRunManifest('steal', 'jobs', { executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/team-b-data` }),
    );
    expect(otherRole).toContain(
      `EmrServerlessPolicy ${policy()} refuses spec.executionRoleArn arn:aws:iam::${ACCOUNT}:role/team-b-data`,
    );
    const otherKey = await tenantRefused(
      jobRunManifest('steal', 'jobs', {
        executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/team-a-etl`,
        configurationOverrides: disk(keyOther),
      }),
    );
    expect(otherKey).toContain(
      'refuses spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn',
    );
    expect(await e2e.jobExists('steal')).toBe(false);
    expect(await writes(mark)).toEqual([]);
  });

  it('runs a job as its own role', async () => {
    const mark = await e2e.mark();
    await tenantApply(
      jobRunManifest('etl', 'jobs', { executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/team-a-etl` }),
    );
    await e2e.waitForJob('etl', 'submitted', (r) => r.status?.jobRunId);
    expect((await writes(mark)).filter((w) => w === 'StartJobRun')).toEqual(['StartJobRun']);
  });

  it('two policies on the namespace both apply; one added after the application stalls it, unchanged', async () => {
    await e2e.kubectl(['label', 'namespace', e2e.namespace, `tier-${run}=gold`]);
    const mark = await e2e.mark();
    await applyPolicy(narrow(), {
      namespaceSelector: { matchLabels: { [`tier-${run}`]: 'gold' } },
      encryption: { allowedKeyArns: [keyB] },
    });
    // The application is on keyA, which the new policy does not allow: reported, never changed.
    const stalled = await e2e.waitForStalled('data', 'PolicyViolation');
    expect(condition(stalled, 'Stalled')?.message).toContain(`EmrServerlessPolicy ${narrow()}`);
    expect(stalled.status?.diskEncryption?.encryptionKeyArn).toBe(keyA);
    await e2e.waitForEvent('data', 'PolicyViolation');
    // A new resource must satisfy both: keyA fails the new policy, keyOther both; keyB passes both.
    expect(await tenantRefused(manifest('more', baseSpec('more', disk(keyA))))).toContain(
      `EmrServerlessPolicy ${narrow()}`,
    );
    expect(await tenantRefused(manifest('more', baseSpec('more', disk(keyOther))))).toContain(
      'EmrServerlessPolicy',
    );
    await tenantApply(manifest('more', baseSpec('more', disk(keyB))));
    await e2e.waitForReady('more', 'True', 'Reconciled');
    // The tenant moves the first application to the key both allow: one update, Ready again.
    await tenantApply(manifest('data', baseSpec('data', disk(keyB))));
    await e2e.waitForReady('data', 'True', 'Reconciled');
    expect((await writes(mark)).filter((w) => w !== 'TagResource').sort()).toEqual([
      'CreateApplication',
      'UpdateApplication',
    ]);
  });

  it('without the admission policies, the operator refuses alone, with zero AWS writes', async () => {
    const bindings = [APPLICATION_PLURAL, JOB_RUN_PLURAL].map(
      (p) => `${p}.emrserverless.operator.dev-namespace-policies`,
    );
    await e2e.kubectl(['delete', 'validatingadmissionpolicybinding', ...bindings]);
    try {
      const mark = await e2e.mark();
      // Admission needs a moment to see the binding gone: retry until the API server takes it.
      const sneak = jobRunManifest('sneak', 'jobs', {
        executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/team-b-data`,
      });
      await waitUntilAccepted(() => asTenant(['apply', '-f', '-'], sneak));
      await tenantApply(manifest('plain', baseSpec('plain', disk())));
      const job = await e2e.waitForJobCondition('sneak', 'Stalled', 'PolicyViolation');
      expect(condition(job, 'Stalled')?.message).toContain('refuses spec.executionRoleArn');
      await e2e.waitForStalled('plain', 'PolicyViolation');
      // Resyncs passed (reads happened) and still nothing was written.
      await waitFor('a resync', async () => (await e2e.callsSince(mark)).length > 4, { timeoutMs: 20_000 });
      expect(await writes(mark)).toEqual([]);
    } finally {
      await e2e.kubectl([
        'apply',
        '--server-side',
        '--force-conflicts',
        '-f',
        join(CRD_DIR, 'emrserverless.operator.dev_emrserverlesspolicies.yaml'),
      ]);
    }
  });
});

async function waitUntilAccepted(
  attempt: () => Promise<{ exitCode: number; stderr: string }>,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const result = await attempt();
    if (result.exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`still refused: ${result.stderr}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
