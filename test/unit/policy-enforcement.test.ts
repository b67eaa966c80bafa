// EmrServerlessPolicies in the planners, table-driven: a spec a policy refuses gets no AWS write
// (Stalled PolicyViolation, a Warning once), deletion and submitted runs are never held up, a
// broken policy fails closed, and --require-namespace-policy refuses unselected namespaces.
import { describe, expect, it } from 'vitest';
import { FINALIZER, OWNER_NAME_TAG, OWNER_NAMESPACE_TAG, OWNER_UID_TAG } from '../../src/api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../../src/api/jobrun-schema.js';
import type { NamedPolicy } from '../../src/api/policy-rules.js';
import type { PolicySpec } from '../../src/api/policy-schema.js';
import type { EmrServerlessApplication, Status } from '../../src/api/schema.js';
import type { AwsApplication, AwsJobRun } from '../../src/aws/port.js';
import { type Observed, type Plan, type PlanOptions, plan } from '../../src/reconcile/application/planner.js';
import { type JobRunObserved, type JobRunPlan, planJobRun } from '../../src/reconcile/jobrun/planner.js';
import type { NamespacePolicies } from '../../src/reconcile/policies.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const OPTIONS: PlanOptions = { defaultRegion: 'eu-west-1', verifyKeys: false, resyncPeriodMs: 600_000 };
const REQUIRING: PlanOptions = { ...OPTIONS, requireNamespacePolicy: true };
const UID = '5f0c1a2b-0000-4000-8000-000000000001';
const KEY_ALLOWED = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444';
const KEY_OTHER_ACCOUNT = 'arn:aws:kms:eu-west-1:999999999999:key/bbbbbbbb-1111-2222-3333-444444444444';
const KEY_OUTSIDE_FINANCE = 'arn:aws:kms:eu-west-1:111122223333:key/cccccccc-1111-2222-3333-444444444444';
const ROLE_ALLOWED = 'arn:aws:iam::111122223333:role/finance-etl';
const ROLE_OTHER = 'arn:aws:iam::111122223333:role/marketing-etl';

const policy = (name: string, spec: Omit<PolicySpec, 'namespaces'>): NamedPolicy => ({
  name,
  spec: { namespaces: ['data'], ...spec },
});
const governing = (...policies: NamedPolicy[]): NamespacePolicies => ({ policies, invalid: [] });

const ACCOUNT_KEYS = policy('account-keys', {
  encryption: { allowedKeyArns: ['arn:aws:kms:*:111122223333:key/*'] },
});
const CMK_REQUIRED = policy('cmk', { encryption: { requireCustomerManagedKey: true } });
const FINANCE_KEYS = policy('finance-keys', {
  encryption: { allowedKeyArns: [KEY_ALLOWED, KEY_OTHER_ACCOUNT] },
});
const ROLES = policy('roles', {
  jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::111122223333:role/finance-*'] },
});
const NO_OVERRIDE = policy('no-override', { encryption: { jobRunKeyOverride: 'Forbidden' } });
const BROKEN: NamespacePolicies = {
  policies: [],
  invalid: [{ name: 'broken', problem: 'spec.encryption.allowedKeyArns is null' }],
};

// --- applications ----------------------------------------------------------------------------

function application(
  spec: Record<string, unknown>,
  more: { status?: Status; deleting?: boolean } = {},
): EmrServerlessApplication {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: {
      name: 'analytics',
      namespace: 'data',
      uid: UID,
      generation: 2,
      finalizers: [FINALIZER],
      ...(more.deleting && { deletionTimestamp: NOW.toISOString() }),
    },
    spec: { name: 'analytics', type: 'SPARK', releaseLabel: 'emr-7.5.0', ...spec },
    ...(more.status && { status: more.status }),
  };
}

const withKey = (keyArn: string) => ({ diskEncryptionConfiguration: { encryptionKeyArn: keyArn } });
const OWNED = { [OWNER_UID_TAG]: UID, [OWNER_NAMESPACE_TAG]: 'data', [OWNER_NAME_TAG]: 'analytics' };

function awsApp(fields: Partial<AwsApplication> = {}): AwsApplication {
  return {
    applicationId: '00fapp1',
    arn: 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/00fapp1',
    name: 'analytics',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    state: 'STARTED',
    tags: OWNED,
    ...fields,
  };
}
const BOUND: Status = { applicationId: '00fapp1', arn: awsApp().arn, region: 'eu-west-1' };

const stalledBefore = (reason: string): Status => ({
  ...BOUND,
  conditions: [
    {
      type: 'Stalled',
      status: 'True',
      reason,
      message: 'before',
      lastTransitionTime: '2026-03-01T11:00:00Z',
    },
  ],
});

interface AppCase {
  name: string;
  resource: EmrServerlessApplication;
  observed: Observed;
  options?: PlanOptions;
  actions: string[];
  reason: string;
  /** Text the Ready message must hold. */
  says?: string[];
  refusedBy?: string[];
  warning?: boolean;
}

const ready = (p: Plan | JobRunPlan) => p.status.conditions?.find((c) => c.type === 'Ready');
const kinds = (p: Plan | JobRunPlan) => p.actions.map((a) => a.kind);

const appCases: AppCase[] = [
  {
    name: 'a key outside the allow-list: Stalled, nothing sent, not even the create',
    resource: application(withKey(KEY_OTHER_ACCOUNT)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    says: [
      'EmrServerlessPolicy account-keys refuses spec.diskEncryptionConfiguration.encryptionKeyArn',
      KEY_OTHER_ACCOUNT,
      'Nothing was sent to AWS',
    ],
    refusedBy: ['account-keys'],
    warning: true,
  },
  {
    name: 'a key inside the allow-list: created as usual',
    resource: application(withKey(KEY_ALLOWED)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS) },
    actions: ['CreateApplication'],
    reason: 'Creating',
  },
  {
    name: 'diskEncryptionConfiguration: {} where a customer-managed key is required',
    resource: application({ diskEncryptionConfiguration: {} }),
    observed: { app: undefined, policies: governing(CMK_REQUIRED) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy cmk requires a customer-managed key'],
    refusedBy: ['cmk'],
    warning: true,
  },
  {
    name: 'no diskEncryptionConfiguration where a customer-managed key is required',
    resource: application({}),
    observed: { app: undefined, policies: governing(CMK_REQUIRED) },
    actions: [],
    reason: 'PolicyViolation',
    refusedBy: ['cmk'],
  },
  {
    name: 'two policies: the key must be allowed by both (one refuses, and only it is named)',
    resource: application(withKey(KEY_OUTSIDE_FINANCE)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS, FINANCE_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy finance-keys refuses'],
    refusedBy: ['finance-keys'],
  },
  {
    name: 'two policies: a key of the other account is refused by one of them only',
    resource: application(withKey(KEY_OTHER_ACCOUNT)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS, FINANCE_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    refusedBy: ['account-keys'],
  },
  {
    name: 'two policies: a key both allow is created',
    resource: application(withKey(KEY_ALLOWED)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS, FINANCE_KEYS, CMK_REQUIRED) },
    actions: ['CreateApplication'],
    reason: 'Creating',
  },
  {
    name: 'already on a key a newer policy forbids, spec unchanged: reported, no UpdateApplication',
    resource: application(withKey(KEY_OUTSIDE_FINANCE), { status: BOUND }),
    observed: {
      app: awsApp({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_OUTSIDE_FINANCE } }),
      policies: governing(FINANCE_KEYS),
    },
    actions: [],
    reason: 'PolicyViolation',
    refusedBy: ['finance-keys'],
    warning: true,
  },
  {
    name: 'on a forbidden key with another change pending: nothing is updated either',
    resource: application({ ...withKey(KEY_OUTSIDE_FINANCE), releaseLabel: 'emr-7.6.0' }, { status: BOUND }),
    observed: {
      app: awsApp({
        state: 'STOPPED',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_OUTSIDE_FINANCE },
      }),
      policies: governing(FINANCE_KEYS),
    },
    actions: [],
    reason: 'PolicyViolation',
  },
  {
    name: 'adopting an unclaimed application under a refused spec: no claim is written',
    resource: application({ ...withKey(KEY_OTHER_ACCOUNT), applicationId: '00fapp1' }),
    observed: { app: awsApp({ tags: {} }), policies: governing(ACCOUNT_KEYS) },
    options: { ...OPTIONS, ownership: { clusterId: '', adoptionNamespaces: ['data'] } },
    actions: [],
    reason: 'PolicyViolation',
  },
  {
    name: 'the Warning is said once: already Stalled for the same reason, no event',
    resource: application(withKey(KEY_OTHER_ACCOUNT), { status: stalledBefore('PolicyViolation') }),
    observed: { app: awsApp(), policies: governing(ACCOUNT_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    warning: false,
  },
  {
    name: 'a policy that cannot be read fails closed, naming it and what is wrong',
    resource: application(withKey(KEY_ALLOWED)),
    observed: { app: undefined, policies: BROKEN },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy broken cannot be read (spec.encryption.allowedKeyArns is null)'],
    refusedBy: ['broken'],
  },
  {
    name: '--require-namespace-policy and no policy selects the namespace: NoNamespacePolicy',
    resource: application(withKey(KEY_ALLOWED)),
    observed: { app: undefined, policies: governing() },
    options: REQUIRING,
    actions: [],
    reason: 'NoNamespacePolicy',
    says: ['No EmrServerlessPolicy selects namespace data', 'A cluster admin creates an EmrServerlessPolicy'],
    refusedBy: [],
    warning: true,
  },
  {
    name: '--require-namespace-policy and a policy selects the namespace: created',
    resource: application(withKey(KEY_ALLOWED)),
    observed: { app: undefined, policies: governing(ACCOUNT_KEYS) },
    options: REQUIRING,
    actions: ['CreateApplication'],
    reason: 'Creating',
  },
  {
    name: 'without the flag, a namespace no policy selects is allowed',
    resource: application({}),
    observed: { app: undefined, policies: governing() },
    actions: ['CreateApplication'],
    reason: 'Creating',
  },
  {
    name: 'deletion is never held up by a policy: the application is deleted',
    resource: application(withKey(KEY_OTHER_ACCOUNT), { status: BOUND, deleting: true }),
    observed: { app: awsApp({ state: 'STOPPED' }), policies: governing(ACCOUNT_KEYS, CMK_REQUIRED) },
    options: REQUIRING,
    actions: ['DeleteApplication'],
    reason: 'Deleting',
  },
];

describe('applications under namespace policies', () => {
  it.each(appCases)('$name', (c) => {
    const p = plan({ resource: c.resource, observed: c.observed, options: c.options ?? OPTIONS, now: NOW });
    expect(kinds(p)).toEqual(c.actions);
    expect(ready(p)?.reason).toBe(c.reason);
    for (const text of c.says ?? []) expect(ready(p)?.message).toContain(text);
    if (c.refusedBy) expect(p.refusedBy).toEqual(c.refusedBy);
    if (c.actions.length > 0) expect(p.refusedBy).toBeUndefined();
    if (c.warning !== undefined) {
      const warnings = p.events.filter((e) => e.type === 'Warning' && e.reason === c.reason);
      expect(warnings).toHaveLength(c.warning ? 1 : 0);
    }
    if (c.reason === 'PolicyViolation' || c.reason === 'NoNamespacePolicy') {
      expect(p.status.conditions?.find((x) => x.type === 'Stalled')).toMatchObject({
        status: 'True',
        reason: c.reason,
      });
    }
  });
});

// --- job runs --------------------------------------------------------------------------------

function jobRun(
  spec: Record<string, unknown> = {},
  more: { status?: JobRunStatus; deleting?: boolean; finalizer?: boolean } = {},
): EmrServerlessJobRun {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessJobRun',
    metadata: {
      name: 'nightly',
      namespace: 'data',
      uid: 'run-uid',
      generation: 1,
      finalizers: more.finalizer === false ? [] : [FINALIZER],
      ...(more.deleting && { deletionTimestamp: NOW.toISOString() }),
    },
    spec: {
      applicationRef: { name: 'analytics' },
      executionRoleArn: ROLE_ALLOWED,
      jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
      ...spec,
    },
    ...(more.status && { status: more.status }),
  };
}

/** The EmrServerlessApplication the run names, bound and Ready, on `key` (undefined: the AWS-owned key). */
function boundApplication(key: string | undefined): EmrServerlessApplication {
  return {
    ...application(key ? withKey(key) : { diskEncryptionConfiguration: {} }),
    status: {
      ...BOUND,
      diskEncryption: key
        ? { mode: 'CustomerManaged', encryptionKeyArn: key, managed: true }
        : { mode: 'AwsOwned', managed: true },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Reconciled',
          message: 'ok',
          lastTransitionTime: '2026-03-01T00:00:00Z',
        },
      ],
    },
  };
}

const jobKey = (keyArn?: string) => ({
  configurationOverrides: { diskEncryptionConfiguration: keyArn ? { encryptionKeyArn: keyArn } : {} },
});
const RUNNING: AwsJobRun = {
  applicationId: '00fapp1',
  jobRunId: '00frun',
  arn: 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/00fapp1/jobruns/00frun',
  state: 'RUNNING',
  tags: { [OWNER_UID_TAG]: 'run-uid' },
};
const SUBMITTED: JobRunStatus = {
  applicationId: '00fapp1',
  region: 'eu-west-1',
  jobRunId: '00frun',
  arn: RUNNING.arn,
  state: 'RUNNING',
};

interface JobCase {
  name: string;
  resource: EmrServerlessJobRun;
  observed: JobRunObserved;
  options?: PlanOptions;
  actions: string[];
  reason: string;
  says?: string[];
  refusedBy?: string[];
}

const jobCases: JobCase[] = [
  {
    name: 'an execution role outside the list: nothing submitted, no finalizer either',
    resource: jobRun({ executionRoleArn: ROLE_OTHER }, { finalizer: false }),
    observed: { application: boundApplication(KEY_ALLOWED), policies: governing(ROLES) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy roles refuses spec.executionRoleArn', ROLE_OTHER],
    refusedBy: ['roles'],
  },
  {
    name: 'an allowed role on an allowed application key: submitted',
    resource: jobRun({}, { finalizer: false }),
    observed: {
      application: boundApplication(KEY_ALLOWED),
      policies: governing(ROLES, FINANCE_KEYS, CMK_REQUIRED),
    },
    actions: ['AddFinalizer', 'StartJobRun'],
    reason: 'Submitting',
  },
  {
    name: 'a job-level key where the policy forbids overriding the key',
    resource: jobRun(jobKey(KEY_ALLOWED)),
    observed: { application: boundApplication(KEY_ALLOWED), policies: governing(NO_OVERRIDE) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy no-override forbids a job-level key'],
    refusedBy: ['no-override'],
  },
  {
    name: 'a job-level {} where a customer-managed key is required',
    resource: jobRun(jobKey()),
    observed: { application: boundApplication(KEY_ALLOWED), policies: governing(CMK_REQUIRED) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['EmrServerlessPolicy cmk requires a customer-managed key'],
    refusedBy: ['cmk'],
  },
  {
    name: 'a job-level key outside the allow-list',
    resource: jobRun(jobKey(KEY_OUTSIDE_FINANCE)),
    observed: { application: boundApplication(KEY_ALLOWED), policies: governing(FINANCE_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    says: ['spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn'],
  },
  {
    name: "no key of its own, and the application's key is outside the allow-list",
    resource: jobRun(),
    observed: { application: boundApplication(KEY_OUTSIDE_FINANCE), policies: governing(FINANCE_KEYS) },
    actions: [],
    reason: 'PolicyViolation',
    says: [`the application's key (${KEY_OUTSIDE_FINANCE}) is refused`],
    refusedBy: ['finance-keys'],
  },
  {
    name: 'no key of its own, and the application is on the AWS-owned key where a customer-managed one is required',
    resource: jobRun(),
    observed: { application: boundApplication(undefined), policies: governing(CMK_REQUIRED) },
    actions: [],
    reason: 'PolicyViolation',
    says: ["the application's key (the AWS-owned key) is refused"],
    refusedBy: ['cmk'],
  },
  {
    name: "a key of its own: the application's key is not what it runs on",
    resource: jobRun(jobKey(KEY_ALLOWED)),
    observed: { application: boundApplication(KEY_OUTSIDE_FINANCE), policies: governing(FINANCE_KEYS) },
    actions: ['StartJobRun'],
    reason: 'Submitting',
  },
  {
    name: 'refused before the application is even looked at (it does not exist yet)',
    resource: jobRun({ executionRoleArn: ROLE_OTHER }),
    observed: { policies: governing(ROLES) },
    actions: [],
    reason: 'PolicyViolation',
  },
  {
    name: 'a policy that cannot be read fails closed',
    resource: jobRun(),
    observed: { application: boundApplication(KEY_ALLOWED), policies: BROKEN },
    actions: [],
    reason: 'PolicyViolation',
    refusedBy: ['broken'],
  },
  {
    name: '--require-namespace-policy and no policy: NoNamespacePolicy',
    resource: jobRun(),
    observed: { application: boundApplication(KEY_ALLOWED), policies: governing() },
    options: REQUIRING,
    actions: [],
    reason: 'NoNamespacePolicy',
    says: ['No EmrServerlessPolicy selects namespace data'],
  },
  {
    name: 'a run already submitted is followed, whatever a policy says now',
    resource: jobRun({ executionRoleArn: ROLE_OTHER }, { status: SUBMITTED }),
    observed: { application: boundApplication(KEY_ALLOWED), run: RUNNING, policies: governing(ROLES) },
    options: REQUIRING,
    actions: [],
    reason: 'InProgress',
  },
  {
    name: 'deleting a submitted run under a refusing policy cancels it as usual',
    resource: jobRun({ executionRoleArn: ROLE_OTHER }, { status: SUBMITTED, deleting: true }),
    observed: { application: boundApplication(KEY_ALLOWED), run: RUNNING, policies: governing(ROLES) },
    actions: ['CancelJobRun'],
    reason: 'Deleting',
  },
];

describe('job runs under namespace policies', () => {
  it.each(jobCases)('$name', (c) => {
    const p = planJobRun({
      resource: c.resource,
      observed: c.observed,
      options: c.options ?? OPTIONS,
      now: NOW,
    });
    expect(kinds(p)).toEqual(c.actions);
    expect(ready(p)?.reason).toBe(c.reason);
    for (const text of c.says ?? []) expect(ready(p)?.message).toContain(text);
    if (c.refusedBy) expect(p.refusedBy).toEqual(c.refusedBy);
    if (c.reason === 'PolicyViolation' || c.reason === 'NoNamespacePolicy') {
      expect(p.events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual([c.reason]);
    }
  });
});
