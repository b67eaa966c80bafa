// The job run planner, table-driven: what it does for each combination of the resource, its
// application, the run as AWS has it and the key. No I/O.
import { describe, expect, it } from 'vitest';
import {
  FINALIZER,
  OWNER_CLUSTER_TAG,
  OWNER_NAME_TAG,
  OWNER_NAMESPACE_TAG,
  OWNER_UID_TAG,
  SUBMISSION_TAG,
} from '../../src/api/constants.js';
import { type EmrServerlessJobRun, JobRunSpec, type JobRunStatus } from '../../src/api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../../src/api/schema.js';
import { keyPolicyStatements } from '../../src/aws/policies.js';
import type { AwsJobRun, KeyFacts, KeyPolicyFacts } from '../../src/aws/port.js';
import {
  type JobRunObserved,
  keyToVerify,
  planJobRun,
  runLookup,
  searchBeforeSubmission,
  submissionDigest,
} from '../../src/reconcile/jobrun/planner.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const OPTIONS = { defaultRegion: 'eu-west-1', verifyKeys: true, resyncPeriodMs: 600_000 };
const APP_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/aaaa-app';
const JOB_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/bbbb-job';
const ROLE = 'arn:aws:iam::111122223333:role/emr-job';
const ENABLED: KeyFacts = {
  kind: 'found',
  arn: JOB_KEY,
  keyState: 'Enabled',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
};

function jobRun(
  spec: Record<string, unknown> = {},
  extra: Partial<EmrServerlessJobRun> = {},
): EmrServerlessJobRun {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessJobRun',
    metadata: {
      name: 'nightly',
      namespace: 'team',
      uid: 'uid-1',
      generation: 1,
      finalizers: [FINALIZER],
      ...extra.metadata,
    },
    spec: {
      applicationRef: { name: 'analytics' },
      executionRoleArn: ROLE,
      jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
      ...spec,
    },
    ...(extra.status && { status: extra.status }),
  };
}

function application(
  status: EmrServerlessApplication['status'] = {},
  deleting = false,
): EmrServerlessApplication {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: {
      name: 'analytics',
      namespace: 'team',
      uid: 'app-uid',
      generation: 1,
      ...(deleting && { deletionTimestamp: NOW.toISOString() }),
    },
    spec: {},
    status: {
      applicationId: '00fapp',
      region: 'eu-west-1',
      diskEncryption: {
        mode: 'CustomerManaged',
        encryptionKeyArn: APP_KEY,
        managed: true,
        key: { verified: true, state: 'Enabled' },
      },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Reconciled',
          message: 'ok',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      ...status,
    },
  };
}

function run(extra: Partial<AwsJobRun> = {}): AwsJobRun {
  return {
    applicationId: '00fapp',
    jobRunId: '00frun',
    arn: 'arn:run',
    state: 'RUNNING',
    tags: { [OWNER_UID_TAG]: 'uid-1' },
    ...extra,
  };
}

const SUBMITTED = {
  applicationId: '00fapp',
  region: 'eu-west-1',
  jobRunId: '00frun',
  arn: 'arn:run',
  state: 'RUNNING',
};

/** The submission digest of a resource whose spec is valid. */
const digestOf = (resource: EmrServerlessJobRun) =>
  submissionDigest(resource, JobRunSpec.parse(resource.spec));

const plan = (resource: EmrServerlessJobRun, observed: JobRunObserved) =>
  planJobRun({ resource, observed, options: OPTIONS, now: NOW });
const reasonOf = (p: ReturnType<typeof plan>, type = 'Ready') =>
  p.status.conditions?.find((c) => c.type === type)?.reason;

describe('submission', () => {
  it('submits once the application is bound: finalizer, then StartJobRun with the uid as token and owner tag', () => {
    const p = plan(jobRun({ tags: { team: 'data' } }, { metadata: { finalizers: [] } as never }), {
      application: application(),
    });
    expect(p.actions.map((a) => a.kind)).toEqual(['AddFinalizer', 'StartJobRun']);
    const start = p.actions[1] as Extract<(typeof p.actions)[number], { kind: 'StartJobRun' }>;
    expect(start.region).toBe('eu-west-1');
    expect(start.input).toEqual({
      applicationId: '00fapp',
      clientToken: 'uid-1',
      name: 'nightly',
      executionRoleArn: ROLE,
      jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
      tags: {
        team: 'data',
        [OWNER_UID_TAG]: 'uid-1',
        [OWNER_NAMESPACE_TAG]: 'team',
        [OWNER_NAME_TAG]: 'nightly',
        [SUBMISSION_TAG]: digestOf(jobRun({ tags: { team: 'data' } })),
      },
    });
    expect(p.status).toMatchObject({
      applicationId: '00fapp',
      region: 'eu-west-1',
      diskEncryption: {
        mode: 'CustomerManaged',
        source: 'Application',
        encryptionKeyArn: APP_KEY,
        key: { verified: true },
      },
    });
    expect(reasonOf(p)).toBe('Submitting');
    expect(p.requeueAfterMs).toBe(0);
  });

  it('tags the run with the cluster too, when the operator has a --cluster-id', () => {
    const p = planJobRun({
      resource: jobRun({}, { metadata: { finalizers: [] } as never }),
      observed: { application: application() },
      options: { ...OPTIONS, ownership: { clusterId: 'prod-eu', adoptionNamespaces: [] } },
      now: NOW,
    });
    const start = p.actions[1] as Extract<(typeof p.actions)[number], { kind: 'StartJobRun' }>;
    expect(start.input.tags).toMatchObject({ [OWNER_UID_TAG]: 'uid-1', [OWNER_CLUSTER_TAG]: 'prod-eu' });
  });

  it('sends the job-level key as declared and shows it as the job’s, verified', () => {
    const disk = { encryptionKeyArn: JOB_KEY, encryptionContext: { job: 'n' } };
    const p = plan(jobRun({ configurationOverrides: { diskEncryptionConfiguration: disk } }), {
      application: application(),
      key: ENABLED,
    });
    const start = p.actions.find((a) => a.kind === 'StartJobRun') as Extract<
      (typeof p.actions)[number],
      { kind: 'StartJobRun' }
    >;
    expect(start.input.configurationOverrides).toEqual({ diskEncryptionConfiguration: disk });
    expect(p.status.diskEncryption).toEqual({
      mode: 'CustomerManaged',
      source: 'Job',
      ...disk,
      key: { verified: true, state: 'Enabled' },
    });
  });

  it('a job-level {} is sent as is and shown as the AWS-owned key, from the job', () => {
    const p = plan(jobRun({ configurationOverrides: { diskEncryptionConfiguration: {} } }), {
      application: application(),
    });
    const start = p.actions.find((a) => a.kind === 'StartJobRun') as Extract<
      (typeof p.actions)[number],
      { kind: 'StartJobRun' }
    >;
    expect(start.input.configurationOverrides).toEqual({ diskEncryptionConfiguration: {} });
    expect(p.status.diskEncryption).toEqual({ mode: 'AwsOwned', source: 'Job' });
  });

  it.each([
    ['KeyDisabled', { ...ENABLED, keyState: 'Disabled' }],
    ['KeyPendingDeletion', { ...ENABLED, keyState: 'PendingDeletion' }],
    ['KeyNotSymmetric', { ...ENABLED, keySpec: 'RSA_2048' }],
    ['KeyUsageInvalid', { ...ENABLED, keyUsage: 'SIGN_VERIFY' }],
    ['KeyNotFound', { kind: 'notFound', message: 'no' }],
  ] as [string, KeyFacts][])('a job-level key refused with %s: nothing submitted', (reason, key) => {
    const p = plan(
      jobRun({ configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: JOB_KEY } } }),
      {
        application: application(),
        key,
      },
    );
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe(reason);
    expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(
      'spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn',
    );
    expect(p.events.map((e) => `${e.type}/${e.reason}`)).toEqual([`Warning/${reason}`]);
  });

  describe("a job-level key's key policy", () => {
    const ACCOUNT = '111122223333';
    const KEY_ELSEWHERE = 'arn:aws:kms:eu-west-1:999988887777:key/cccc-job';
    const SUBMITTER = `arn:aws:iam::${ACCOUNT}:role/emr-serverless-operator`;
    const withKey = (encryptionKeyArn: string) =>
      jobRun({
        configurationOverrides: {
          diskEncryptionConfiguration: { encryptionKeyArn, encryptionContext: { job: 'x' } },
        },
      });
    const keyPolicy = (...Statement: object[]): KeyPolicyFacts => ({
      kind: 'found',
      policy: JSON.stringify({ Version: '2012-10-17', Statement }),
    });
    const root = (account: string) => ({
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    });
    const forService = keyPolicyStatements({
      applicationArn: `arn:aws:emr-serverless:eu-west-1:${ACCOUNT}:/applications/00fapp`,
      encryptionContext: { job: 'x' },
    });
    const forSubmitter = keyPolicyStatements({
      applicationArn: `arn:aws:emr-serverless:eu-west-1:${ACCOUNT}:/applications/*`,
      operatorRoleArn: SUBMITTER,
      jobLevelKey: true,
    }).filter((s) => s.Sid !== 'AllowEmrServerlessDiskEncryption');
    const observed = (key: string, policy: KeyPolicyFacts) => ({
      application: application(),
      key: { ...ENABLED, arn: key },
      keyPolicy: policy,
      account: ACCOUNT,
      submitterRoleArn: SUBMITTER,
    });

    it('without the service statement: nothing submitted, Stalled KeyPolicyDenied with the statement', () => {
      const p = plan(withKey(JOB_KEY), observed(JOB_KEY, keyPolicy(root(ACCOUNT))));
      expect(p.actions).toEqual([]);
      expect(reasonOf(p, 'Stalled')).toBe('KeyPolicyDenied');
      const message = p.status.conditions?.find((c) => c.type === 'Stalled')?.message;
      expect(message).toContain(JSON.stringify(forService));
      expect(message).toContain('spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn');
      expect(p.status.diskEncryption?.key).toMatchObject({
        reason: 'KeyPolicyDenied',
        policy: { verdict: 'Denies' },
      });
    });

    it('with the statement for its application and context: submitted', () => {
      const p = plan(withKey(JOB_KEY), observed(JOB_KEY, keyPolicy(root(ACCOUNT), ...forService)));
      expect(p.actions.map((a) => a.kind)).toEqual(['StartJobRun']);
      expect(p.status.diskEncryption?.key).toEqual({
        verified: true,
        state: 'Enabled',
        policy: { verdict: 'Allows' },
      });
    });

    it('a key in another account must also let the submitter use it', () => {
      const denied = plan(
        withKey(KEY_ELSEWHERE),
        observed(KEY_ELSEWHERE, keyPolicy(root('999988887777'), ...forService)),
      );
      expect(denied.actions).toEqual([]);
      expect(reasonOf(denied, 'Stalled')).toBe('KeyPolicyDenied');
      const message = denied.status.conditions?.find((c) => c.type === 'Stalled')?.message;
      expect(message).toContain(SUBMITTER);
      expect(message).toContain('AllowOperatorToSubmitJobRunsWithKey');
      const allowed = plan(
        withKey(KEY_ELSEWHERE),
        observed(KEY_ELSEWHERE, keyPolicy(root('999988887777'), ...forService, ...forSubmitter)),
      );
      expect(allowed.actions.map((a) => a.kind)).toEqual(['StartJobRun']);
    });

    it('undecided: submitted, with a Warning', () => {
      const undecided = { ...forService[0], Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-1' } } };
      const p = plan(withKey(JOB_KEY), observed(JOB_KEY, keyPolicy(undecided)));
      expect(p.actions.map((a) => a.kind)).toEqual(['StartJobRun']);
      expect(p.events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Warning/KeyPolicyUnverified']);
      expect(p.status.diskEncryption?.key?.policy?.verdict).toBe('Unknown');
    });
  });

  it('AccessDenied on DescribeKey: submitted unverified, with a Warning', () => {
    const p = plan(
      jobRun({ configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: JOB_KEY } } }),
      {
        application: application(),
        key: { kind: 'accessDenied', message: 'denied' },
      },
    );
    expect(p.actions.map((a) => a.kind)).toEqual(['StartJobRun']);
    expect(p.status.diskEncryption?.key).toEqual({ verified: false, reason: 'AccessDenied' });
    expect(p.events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Warning/KeyUnverified']);
    expect(p.actions[0]?.events?.map((e) => e.reason)).toEqual(['Submitted']);
  });

  it.each([
    ['no such application', undefined, 'Reconciling', 'WaitingForApplication'],
    [
      'an application not bound yet',
      application({ applicationId: undefined, region: undefined }),
      'Reconciling',
      'WaitingForApplication',
    ],
    [
      'a Stalled application',
      application({
        conditions: [
          {
            type: 'Stalled',
            status: 'True',
            reason: 'KeyDisabled',
            message: 'key off',
            lastTransitionTime: 'x',
          },
        ],
      }),
      'Stalled',
      'ApplicationStalled',
    ],
    ['an application being deleted', application({}, true), 'Stalled', 'ApplicationDeleting'],
  ] as const)('%s: nothing submitted', (_what, app, type, reason) => {
    const p = plan(jobRun(), app ? { application: app } : {});
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, type)).toBe(reason);
  });

  it.each([
    [
      'stored',
      jobRun({
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: null } },
      } as never),
    ],
    [
      "in kubectl's last-applied configuration",
      jobRun({}, {
        metadata: {
          annotations: {
            'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
              spec: { configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: null } } },
            }),
          },
        },
      } as never),
    ],
  ])('a null job-level key (%s): Stalled NullValue naming it, nothing submitted', (_where, resource) => {
    const p = plan(resource, { application: application() });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('NullValue');
    expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(
      'spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn',
    );
  });

  it('an invalid spec (a CRD without the rules): Stalled InvalidSpec, nothing submitted', () => {
    const p = plan(jobRun({ jobDriver: {} }), { application: application() });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('InvalidSpec');
  });
});

const STALLED: EmrServerlessApplication['status'] = {
  conditions: [
    { type: 'Stalled', status: 'True', reason: 'KeyDisabled', message: 'key off', lastTransitionTime: 'x' },
  ],
};

describe('exactly once', () => {
  const TARGET = { applicationId: '00fapp', region: 'eu-west-1' };
  const fresh = (spec: Record<string, unknown> = {}) =>
    jobRun(spec, { metadata: { finalizers: [] } as never });

  it.each([
    ['with the finalizer (a submission whose answer was lost)', 'find', jobRun(), application()],
    ['with the finalizer, the application Stalled since', 'find', jobRun(), application(STALLED)],
    ['without it: nothing was submitted for this resource', 'none', fresh(), application()],
    ['without an application', 'none', jobRun(), undefined],
  ] as const)('no recorded run, %s: %s', (_what, kind, resource, app) => {
    const lookup = runLookup(resource, app);
    expect(lookup.kind).toBe(kind);
    if (kind === 'find') expect(lookup).toEqual({ kind, target: TARGET, submission: digestOf(resource) });
  });

  it.each([
    ['a plan that submits, for a resource never looked for', fresh(), application(), true],
    ['a resource with the finalizer (runLookup searched already)', jobRun(), application(), false],
    ['waiting: the application Stalled', fresh(), application(STALLED), false],
    ['waiting: the application being deleted', fresh(), application({}, true), false],
    ['waiting: no application', fresh(), undefined, false],
    ['an invalid spec', fresh({ jobDriver: {} }), application(), false],
  ] as const)(
    'searched for by its submission digest before StartJobRun: %s? %s',
    (_what, resource, app, searched) => {
      const p = plan(resource, app ? { application: app } : {});
      expect(searchBeforeSubmission(resource, p)).toEqual(
        searched ? { target: TARGET, submission: digestOf(resource) } : undefined,
      );
    },
  );

  it.each([
    ['the namespace', false, jobRun({}, { metadata: { namespace: 'other' } as never })],
    ['the name', false, jobRun({}, { metadata: { name: 'weekly' } as never })],
    ['the spec', false, jobRun({ executionTimeoutMinutes: 30 })],
    ['spec.rerunToken', false, jobRun({ rerunToken: '2026-12-07' })],
    ['the uid (the same declaration, recreated)', true, jobRun({}, { metadata: { uid: 'uid-2' } as never })],
    ['ttlSecondsAfterFinished (what happens to the resource)', true, jobRun({ ttlSecondsAfterFinished: 60 })],
    ['deletionPolicy', true, jobRun({ deletionPolicy: 'Orphan' })],
    [
      'order of keys',
      true,
      { ...jobRun(), spec: Object.fromEntries(Object.entries(jobRun().spec as object).reverse()) },
    ],
  ] as const)('the submission digest with another %s: the same? %s', (_what, same, other) => {
    expect(digestOf(other) === digestOf(jobRun())).toBe(same);
  });

  it('a finished run of an earlier resource with the same declaration is found: not submitted again, not deleted by its TTL again', () => {
    const resource = jobRun(
      { ttlSecondsAfterFinished: 10 },
      { metadata: { uid: 'uid-2', finalizers: [], creationTimestamp: NOW.toISOString() } as never },
    );
    const earlier = run({
      state: 'SUCCESS',
      endedAt: new Date(NOW.getTime() - 60_000),
      tags: { [OWNER_UID_TAG]: 'uid-1', [SUBMISSION_TAG]: digestOf(resource) },
    });
    const p = plan(resource, { application: application(), run: earlier });
    expect(p.actions.map((a) => a.kind)).toEqual(['AddFinalizer']);
    expect(reasonOf(p)).toBe('Succeeded');
    expect(p.status).toMatchObject({ jobRunId: '00frun', state: 'SUCCESS' });
    expect(p.events.find((e) => e.reason === 'Found')?.message).toContain('spec.rerunToken');
    // Followed from status from now on: still not deleted on a later reconcile.
    const again = plan(
      { ...resource, status: p.status, metadata: { ...resource.metadata, finalizers: [FINALIZER] } },
      {},
    );
    expect(again.actions).toEqual([]);
  });

  it('a run found still running ends after the resource was created: its TTL applies', () => {
    const created = new Date(NOW.getTime() - 120_000).toISOString();
    const ended = { ...SUBMITTED, state: 'SUCCESS', endedAt: new Date(NOW.getTime() - 30_000).toISOString() };
    const p = plan(
      jobRun(
        { ttlSecondsAfterFinished: 10 },
        { status: ended, metadata: { creationTimestamp: created } as never },
      ),
      {},
    );
    expect(p.actions.map((a) => a.kind)).toEqual(['DeleteResource']);
  });

  it('a run found by its owner tag is taken over, not submitted again', () => {
    const p = plan(jobRun(), { application: application(), run: run({ state: 'SUBMITTED' }) });
    expect(p.actions).toEqual([]);
    expect(p.status).toMatchObject({ jobRunId: '00frun', state: 'SUBMITTED', applicationId: '00fapp' });
    expect(p.events.map((e) => e.reason)).toEqual(['Found']);
    expect(p.events[0]?.message).toContain('submitted earlier for this resource');
  });

  it('the key is described only before submission', () => {
    const spec = { configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: JOB_KEY } } };
    expect(keyToVerify(jobRun(spec), OPTIONS, false)).toBe(JOB_KEY);
    expect(keyToVerify(jobRun(spec), OPTIONS, true)).toBeUndefined();
    expect(keyToVerify(jobRun(spec, { status: SUBMITTED }), OPTIONS, false)).toBeUndefined();
    expect(keyToVerify(jobRun(spec), { ...OPTIONS, verifyKeys: false }, false)).toBeUndefined();
  });
});

describe('following the run', () => {
  it.each([
    ['SUBMITTED', 'Reconciling', 'InProgress'],
    ['PENDING', 'Reconciling', 'InProgress'],
    ['SCHEDULED', 'Reconciling', 'InProgress'],
    ['RUNNING', 'Reconciling', 'InProgress'],
    ['QUEUED', 'Reconciling', 'InProgress'],
    ['CANCELLING', 'Reconciling', 'Cancelling'],
    ['SUCCESS', 'Ready', 'Succeeded'],
    ['FAILED', 'Stalled', 'JobRunFailed'],
    ['CANCELLED', 'Stalled', 'JobRunCancelled'],
  ] as const)('%s: %s %s', (state, type, reason) => {
    const p = plan(jobRun({}, { status: SUBMITTED }), {
      run: run({ state, stateDetails: 'details from AWS' }),
    });
    expect(p.actions).toEqual([]);
    expect(p.status.conditions?.find((c) => c.type === type)).toMatchObject({ status: 'True', reason });
    expect(p.status.state).toBe(state);
    if (type === 'Stalled')
      expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain('details from AWS');
  });

  it('polls a long run less and less often, at most every 5 minutes', () => {
    const since = (ms: number): JobRunStatus => ({
      ...SUBMITTED,
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'InProgress',
          message: 'm',
          lastTransitionTime: new Date(NOW.getTime() - ms).toISOString(),
        },
        {
          type: 'Reconciling',
          status: 'True',
          reason: 'InProgress',
          message: 'm',
          lastTransitionTime: new Date(NOW.getTime() - ms).toISOString(),
        },
      ],
    });
    const delay = (ms: number) => plan(jobRun({}, { status: since(ms) }), { run: run() }).requeueAfterMs;
    expect(delay(0)).toBe(250);
    expect(delay(60_000)).toBe(15_000);
    expect(delay(3_600_000)).toBe(300_000);
  });

  it('a final run is not looked up again, and its status stays as it is', () => {
    const done = { ...SUBMITTED, state: 'SUCCESS' };
    expect(runLookup(jobRun({}, { status: done }), application())).toEqual({ kind: 'none' });
    const p = plan(jobRun({}, { status: done }), {});
    expect(p.actions).toEqual([]);
    expect(reasonOf(p)).toBe('Succeeded');
    expect(p.requeueAfterMs).toBe(OPTIONS.resyncPeriodMs);
  });

  it('keeps the job-level key’s health and the resolved key once submitted', () => {
    const status = {
      ...SUBMITTED,
      diskEncryption: {
        mode: 'CustomerManaged' as const,
        source: 'Job' as const,
        encryptionKeyArn: JOB_KEY,
        key: { verified: true, state: 'Enabled' },
      },
    };
    const p = plan(
      jobRun(
        { configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: JOB_KEY } } },
        { status },
      ),
      {
        run: run({ diskEncryptionConfiguration: { encryptionKeyArn: JOB_KEY } }),
      },
    );
    expect(p.status.diskEncryption).toEqual(status.diskEncryption);
  });

  it('an inherited key: what the run started with, from the application', () => {
    const status = {
      ...SUBMITTED,
      diskEncryption: {
        mode: 'CustomerManaged' as const,
        source: 'Application' as const,
        encryptionKeyArn: APP_KEY,
        key: { verified: true },
      },
    };
    const p = plan(jobRun({}, { status }), {
      run: run({ diskEncryptionConfiguration: { encryptionKeyArn: APP_KEY } }),
    });
    expect(p.status.diskEncryption).toEqual(status.diskEncryption);
    // GetJobRun without the inherited key (not documented either way): what was recorded stays.
    expect(plan(jobRun({}, { status }), { run: run() }).status.diskEncryption).toEqual(status.diskEncryption);
  });

  describe('figures that move on every poll (duration, utilisation) are taken on a state change and at the end', () => {
    const usage = (vCPUHour: number) => ({
      vCPUHour,
      memoryGBHour: vCPUHour * 4,
      storageGBHour: vCPUHour * 5,
    });
    const figures = (n: number) => ({
      totalExecutionDurationSeconds: n,
      totalResourceUtilization: usage(n / 1000),
      billedResourceUtilization: usage(Math.max(n, 60) / 1000),
    });
    const started = new Date('2026-01-01T11:00:00Z');
    /** The status written when the run was first seen RUNNING (figures of 10 s). */
    const running = plan(jobRun({}, { status: { ...SUBMITTED, state: 'SUBMITTED' } }), {
      run: run({ state: 'RUNNING', startedAt: started, attempt: 1, ...figures(10) }),
    }).status;

    it.each([
      ['RUNNING, figures moved', 'RUNNING', figures(500), false],
      ['RUNNING, no figures in the answer', 'RUNNING', {}, false],
      ['RUNNING -> PENDING is a change: figures taken', 'PENDING', figures(500), true],
      ['CANCELLING: figures taken', 'CANCELLING', figures(500), true],
      ['SUCCESS: the final figures', 'SUCCESS', figures(1826), true],
      ['FAILED: the final figures', 'FAILED', figures(1826), true],
      ['CANCELLED: the final figures', 'CANCELLED', figures(1826), true],
    ] as const)('%s', (_what, state, answered, taken) => {
      const p = plan(jobRun({}, { status: running }), {
        run: run({ state, startedAt: started, attempt: 1, ...answered }),
      });
      const shown = {
        totalExecutionDurationSeconds: p.status.totalExecutionDurationSeconds,
        totalResourceUtilization: p.status.totalResourceUtilization,
        billedResourceUtilization: p.status.billedResourceUtilization,
      };
      if (taken) {
        expect(p.status.state).toBe(state);
        expect(shown).toEqual(answered);
      } else {
        expect(shown).toEqual(figures(10));
        // Nothing else moved either: the status equals the one written, so nothing is written.
        expect(p.status).toEqual(running);
      }
    });

    it('a run first seen RUNNING takes its figures', () => {
      expect(running).toMatchObject({ state: 'RUNNING', attempt: 1, ...figures(10) });
    });

    it('what else the answer says (details, a new attempt) is still written at once', () => {
      const p = plan(jobRun({}, { status: running }), {
        run: run({
          state: 'RUNNING',
          startedAt: started,
          attempt: 2,
          stateDetails: 'retried',
          ...figures(500),
        }),
      });
      expect(p.status).toMatchObject({ attempt: 2, stateDetails: 'retried', ...figures(10) });
    });
  });

  it('a recorded run gone from AWS: Stalled JobRunNotFound, not submitted again', () => {
    const p = plan(jobRun({}, { status: SUBMITTED }), { run: null });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('JobRunNotFound');
  });

  it('ttlSecondsAfterFinished: requeued for the rest, then the resource is deleted', () => {
    const ended = { ...SUBMITTED, state: 'SUCCESS', endedAt: new Date(NOW.getTime() - 30_000).toISOString() };
    const early = plan(jobRun({ ttlSecondsAfterFinished: 60 }, { status: ended }), {});
    expect(early.actions).toEqual([]);
    expect(early.requeueAfterMs).toBe(30_000);
    const late = plan(jobRun({ ttlSecondsAfterFinished: 10 }, { status: ended }), {});
    expect(late.actions.map((a) => a.kind)).toEqual(['DeleteResource']);
  });
});

describe('deletion', () => {
  const deleting = (spec: Record<string, unknown>, status: Record<string, unknown> | undefined) =>
    jobRun(spec, { metadata: { deletionTimestamp: NOW.toISOString() } as never, ...(status && { status }) });

  it.each([
    ['a running run, Cancel (default)', {}, SUBMITTED, run(), ['CancelJobRun']],
    ['a CANCELLING run', {}, SUBMITTED, run({ state: 'CANCELLING' }), []],
    ['a CANCELLED run', {}, SUBMITTED, run({ state: 'CANCELLED' }), ['RemoveFinalizer']],
    ['a running run, Orphan', { deletionPolicy: 'Orphan' }, SUBMITTED, run(), ['RemoveFinalizer']],
    ['a finished run (not looked up)', {}, { ...SUBMITTED, state: 'FAILED' }, undefined, ['RemoveFinalizer']],
    ['nothing submitted', {}, undefined, undefined, ['RemoveFinalizer']],
    ['a run gone from AWS', {}, SUBMITTED, null, ['RemoveFinalizer']],
  ] as const)('%s', (_what, spec, status, observedRun, kinds) => {
    const p = plan(deleting(spec, status), observedRun === undefined ? {} : { run: observedRun });
    expect(p.actions.map((a) => a.kind)).toEqual(kinds);
  });

  it('cancels a run found after a lost StartJobRun answer', () => {
    const p = plan(deleting({}, undefined), { application: application(), run: run() });
    expect(p.actions).toMatchObject([
      { kind: 'CancelJobRun', region: 'eu-west-1', applicationId: '00fapp', jobRunId: '00frun' },
    ]);
  });
});

// A deletion that searched (ListJobRuns by name and tag: a lost StartJobRun answer left no id) and
// found nothing: released only after a second empty search at least the listing lag later. The
// first one's time is kept in status (a restart never shortens the wait).
describe('deletion after a search that found nothing', () => {
  const LAG = 10_000;
  const at = (msBefore: number) => new Date(NOW.getTime() - msBefore).toISOString();
  const deleting = (deletionSearch?: string, spec: Record<string, unknown> = {}) =>
    jobRun(spec, {
      metadata: { deletionTimestamp: NOW.toISOString() } as never,
      ...(deletionSearch && { status: { deletionSearch } }),
    });
  const planWith = (resource: EmrServerlessJobRun, observed: JobRunObserved, options = OPTIONS) =>
    planJobRun({ resource, observed, options, now: NOW });
  const message = (p: ReturnType<typeof plan>) =>
    p.status.conditions?.find((c) => c.type === 'Reconciling')?.message ?? '';

  it.each([
    // name, status.deletionSearch, the run found, options, actions, deletionSearch after, requeue
    [
      'first empty search: kept, the time recorded',
      undefined,
      undefined,
      OPTIONS,
      [],
      NOW.toISOString(),
      LAG,
    ],
    ['searched again too early: the first time kept', at(3_000), undefined, OPTIONS, [], at(3_000), 7_000],
    ['searched again a lag later: released', at(LAG), undefined, OPTIONS, ['RemoveFinalizer'], undefined, 0],
    [
      'a first time in the future (another clock): starts over',
      at(-5_000),
      undefined,
      OPTIONS,
      [],
      NOW.toISOString(),
      LAG,
    ],
    [
      'a lower --listing-lag, waited out',
      at(1_000),
      undefined,
      { ...OPTIONS, listingLagMs: 1_000 },
      ['RemoveFinalizer'],
      undefined,
      0,
    ],
    [
      '--listing-lag 0: one search is enough',
      undefined,
      undefined,
      { ...OPTIONS, listingLagMs: 0 },
      ['RemoveFinalizer'],
      undefined,
      0,
    ],
    [
      'found once the listing shows it: cancelled, the search time dropped',
      at(LAG),
      run(),
      OPTIONS,
      ['CancelJobRun'],
      undefined,
      0,
    ],
    ['found while waiting: cancelled', at(2_000), run(), OPTIONS, ['CancelJobRun'], undefined, 0],
    [
      'found already final: released',
      at(2_000),
      run({ state: 'SUCCESS' }),
      OPTIONS,
      ['RemoveFinalizer'],
      undefined,
      0,
    ],
  ] as const)('%s', (_what, first, found, options, actions, after, requeue) => {
    const p = planWith(
      deleting(first),
      { application: application(), ...(found && { run: found }) },
      options,
    );
    expect(p.actions.map((a) => a.kind)).toEqual(actions);
    expect(p.status.deletionSearch).toBe(after);
    expect(p.requeueAfterMs).toBe(requeue);
    expect(reasonOf(p, 'Reconciling')).toBe('Deleting');
    if (actions.length === 0) {
      expect(p.events).toEqual([]);
      expect(message(p)).toContain('may not be listed yet: the finalizer stays');
      expect(message(p)).toContain(
        `ListJobRuns of application 00fapp by name nightly and tag ${OWNER_UID_TAG}=uid-1`,
      );
    }
  });

  it('says what was searched when it releases', () => {
    const p = plan(deleting(at(LAG)), { application: application() });
    expect(p.actions[0]?.events?.map((e) => e.reason)).toEqual(['Deleted']);
    expect(message(p)).toContain('found none, twice, at least 10 s apart');
  });

  it('deletionPolicy Orphan waits the same: a run found is left, a run not found is searched for again', () => {
    const waiting = plan(deleting(undefined, { deletionPolicy: 'Orphan' }), { application: application() });
    expect(waiting.actions).toEqual([]);
    const found = plan(deleting(waiting.status.deletionSearch, { deletionPolicy: 'Orphan' }), {
      application: application(),
      run: run(),
    });
    expect(found.actions[0]?.events?.map((e) => e.reason)).toEqual(['Orphaned']);
  });

  it('searched from another account than the application: Stalled AccountMappingChanged, the finalizer stays', () => {
    const p = plan(deleting(at(LAG)), {
      application: application({ account: '111111111111' }),
      account: '444444444444',
    });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('AccountMappingChanged');
  });

  it('nowhere to search (no application known): released at once, as nothing was submitted', () => {
    expect(plan(deleting(), {}).actions.map((a) => a.kind)).toEqual(['RemoveFinalizer']);
  });

  it('a recorded id is read, not searched: not found releases at once', () => {
    const p = plan(
      jobRun({}, { metadata: { deletionTimestamp: NOW.toISOString() } as never, status: SUBMITTED }),
      {
        run: null,
      },
    );
    expect(p.actions.map((a) => a.kind)).toEqual(['RemoveFinalizer']);
  });
});

describe('the namespace acts in another account than the run (its role changed or was removed)', () => {
  const RUN_ARN = 'arn:aws:emr-serverless:eu-west-1:111111111111:/applications/00fapp/jobruns/00frun';
  const inA = { ...SUBMITTED, arn: RUN_ARN };

  it('a submitted run not found from there: Stalled AccountMappingChanged, not JobRunNotFound', () => {
    const p = plan(jobRun({}, { status: inA }), { run: null, account: '123456789012' });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('AccountMappingChanged');
    expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(
      'job run 00frun is in AWS account 111111111111, but namespace team now acts in account 123456789012',
    );
  });

  it('deleted meanwhile: nothing cancelled or released, the finalizer stays', () => {
    const deleting = jobRun({}, { metadata: { deletionTimestamp: NOW.toISOString() } as never, status: inA });
    const p = plan(deleting, { run: null, account: '123456789012' });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('AccountMappingChanged');
    expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain('the finalizer stays');
  });

  it('not submitted yet, the application bound in another account: nothing submitted', () => {
    const p = plan(jobRun({}, { metadata: { finalizers: [] } as never }), {
      application: application({ account: '111111111111' }),
      account: '444444444444',
    });
    expect(p.actions).toEqual([]);
    expect(reasonOf(p, 'Stalled')).toBe('AccountMappingChanged');
  });

  it('submission records the account the run belongs to: its application’s', () => {
    const fresh = jobRun({}, { metadata: { finalizers: [] } as never });
    const bound = plan(fresh, {
      application: application({ account: '111111111111' }),
      account: '111111111111',
    });
    expect(bound.actions.map((a) => a.kind)).toEqual(['AddFinalizer', 'StartJobRun']);
    expect(bound.status.account).toBe('111111111111');
    // Read from the application's ARN when its status names no account.
    const byArn = plan(fresh, {
      application: application({ arn: 'arn:aws:emr-serverless:eu-west-1:111111111111:/applications/00fapp' }),
      account: '111111111111',
    });
    expect(byArn.status.account).toBe('111111111111');
    // An application whose account is unknown: the account this reconcile acts in.
    expect(plan(fresh, { application: application(), account: '123456789012' }).status.account).toBe(
      '123456789012',
    );
    // Kept once the run is followed.
    const followed = plan(jobRun({}, { status: { ...inA, account: '111111111111' } }), {
      run: run({ arn: RUN_ARN }),
      account: '111111111111',
    });
    expect(followed.status.account).toBe('111111111111');
  });

  it.each([
    ['the application records its account', application({ account: '111111111111' }), {}],
    [
      'the account recorded by an earlier attempt (StartJobRun failed)',
      application(),
      { applicationId: '00fapp', region: 'eu-west-1', account: '111111111111' },
    ],
  ])(
    'role removed before submission, the operator’s own identity in another account (%s): nothing submitted',
    (_what, app, status) => {
      const p = plan(jobRun({}, { status }), { application: app, account: '123456789012' });
      expect(p.actions).toEqual([]);
      expect(reasonOf(p, 'Stalled')).toBe('AccountMappingChanged');
      expect(p.status.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(
        'is bound in AWS account 111111111111, but namespace team now acts in account 123456789012: nothing is submitted',
      );
    },
  );

  it('the same account: goes on as usual; a final run does not care', () => {
    expect(
      plan(jobRun({}, { status: inA }), { run: null, account: '111111111111' }).status.conditions,
    ).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Stalled', reason: 'JobRunNotFound' })]),
    );
    const final = plan(jobRun({}, { status: { ...inA, state: 'SUCCESS' } }), { account: '444444444444' });
    expect(reasonOf(final)).toBe('Succeeded');
  });
});
