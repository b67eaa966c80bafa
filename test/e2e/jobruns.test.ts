// EmrServerlessJobRun end to end: the real API server, the operator as a process, the real
// kubectl, the local AWS service. Every run is submitted exactly once (counted in the service's
// calls log), its key is verified before anything is sent, its state is followed until final
// and then never asked about again, and deletion cancels it or leaves it as the policy says.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OWNER_CLUSTER_TAG,
  OWNER_NAME_TAG,
  OWNER_NAMESPACE_TAG,
  OWNER_UID_TAG,
  SUBMISSION_TAG,
} from '../../src/api/constants.js';
import type { Call } from '../../src/emulator/index.js';
import {
  ACCOUNT,
  baseSpec,
  CLI,
  condition,
  E2e,
  JOB_ROLE_ARN,
  type JobRunResource,
  jobRunManifest,
  manifest,
  OPERATOR_USER_ARN,
  REGION,
  RESYNC_MS,
  reportFailures,
} from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

let e2e: E2e;
let appKey: string;
let jobKey: string;
let appId: string;
const APP = 'jobs-app';
const OTHER_ACCOUNT = '210987654321';

beforeAll(async () => {
  // Debug logs: each reconcile is logged (`reconciled`), which the quiet window counts.
  e2e = await E2e.start('e2e-jobruns', { operatorArgs: ['--log-level=debug'] });
  [appKey, jobKey] = await Promise.all([e2e.createKey(), e2e.createKey()]);
  appId = await e2e.readyApplicationOnKey(APP, appKey, { team: 'data' });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const JOB_RUN_OPERATIONS = new Set(['StartJobRun', 'GetJobRun', 'ListJobRuns', 'CancelJobRun']);

/** Job run operations since `mark`, about one run when `jobRunId` is given. */
async function jobCalls(mark: number, jobRunId?: string): Promise<Call[]> {
  return (await e2e.callsSince(mark)).filter(
    (c) => JOB_RUN_OPERATIONS.has(c.operation) && (jobRunId === undefined || c.jobRunId === jobRunId),
  );
}

/** Calls since `mark` that submit or look for a run (other runs' polling left out). */
async function submissions(mark: number): Promise<string[]> {
  return (await e2e.callsSince(mark))
    .filter((c) => c.operation === 'StartJobRun' || c.operation === 'ListJobRuns')
    .map((c) => c.operation);
}

async function submitted(name: string): Promise<JobRunResource & { status: { jobRunId: string } }> {
  return e2e.waitForJob(
    name,
    'submitted',
    (r) => !!r.status?.jobRunId && (r as JobRunResource & { status: { jobRunId: string } }),
  );
}

describe('a job run on the application’s key', () => {
  it('is submitted once with no key of its own, followed to SUCCESS, then never asked about again', async () => {
    const mark = await e2e.mark();
    await e2e.apply(jobRunManifest('inherit', APP, { tags: { pipeline: 'nightly' } }));
    const r = await submitted('inherit');
    const id = r.status.jobRunId;
    expect(r.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    expect(r.status).toMatchObject({
      applicationId: appId,
      region: 'eu-west-1',
      arn: expect.stringContaining(`/applications/${appId}/jobruns/${id}`),
      diskEncryption: {
        mode: 'CustomerManaged',
        source: 'Application',
        encryptionKeyArn: appKey,
        encryptionContext: { team: 'data' },
      },
    });
    // What AWS received: no disk encryption of the job's own; the uid as clientToken and owner tag.
    const { jobRun, submitted: sent } = await e2e.aws.jobRun(appId, id);
    expect(sent).toEqual({
      name: 'inherit',
      executionRoleArn: JOB_ROLE_ARN,
      jobDriver: {
        sparkSubmit: {
          entryPoint: 's3://bucket/jobs/etl.py',
          sparkSubmitParameters: '--conf spark.executor.cores=2',
        },
      },
      // The run is claimed with the application's ownership tags (the cluster's: the kube-system uid).
      tags: {
        pipeline: 'nightly',
        [OWNER_UID_TAG]: r.metadata.uid,
        [OWNER_NAMESPACE_TAG]: r.metadata.namespace,
        [OWNER_NAME_TAG]: 'inherit',
        [OWNER_CLUSTER_TAG]: expect.stringMatching(/^[0-9a-f-]{36}$/),
        [SUBMISSION_TAG]: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    // The service resolved the application's key for it.
    expect(jobRun.configurationOverrides).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: appKey, encryptionContext: { team: 'data' } },
    });

    await e2e.aws.setJobRunState(appId, id, 'RUNNING');
    const running = await e2e.waitForJob('inherit', 'RUNNING', (x) => x.status?.state === 'RUNNING' && x);
    expect(condition(running, 'Reconciling')).toMatchObject({ status: 'True', reason: 'InProgress' });
    expect(condition(running, 'Ready')?.status).toBe('False');
    expect(running.status?.startedAt).toBeDefined();

    await e2e.aws.setJobRunState(appId, id, 'SUCCESS');
    const done = await e2e.waitForJobCondition('inherit', 'Ready', 'Succeeded');
    expect(done.status).toMatchObject({
      state: 'SUCCESS',
      totalExecutionDurationSeconds: expect.any(Number),
    });
    expect(done.status?.totalResourceUtilization?.vCPUHour).toBeGreaterThan(0);
    expect(condition(done, 'Reconciling')).toBeUndefined();
    await e2e.kubectl(['wait', 'emrjob/inherit', '--for=condition=Ready', '--timeout=10s']);

    const starts = (await jobCalls(mark)).filter((c) => c.operation === 'StartJobRun');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({ status: 200, jobRunId: id });

    // Final: resyncs (every 2 s here) make no AWS call about it, and no status write.
    const quiet = await e2e.mark();
    const rv = done.metadata.resourceVersion;
    await expectQuietWindow({
      during: RESYNC_MS * 2.5,
      reads: e2e.reconcilesOf('inherit', { controller: 'emrserverlessjobrun', atLeast: 2 }),
      writes: () => jobCalls(quiet),
    });
    expect((await e2e.getJob('inherit')).metadata.resourceVersion).toBe(rv);
  });

  it('shows Application, Job run ID, State, Started, Encryption with its source and Ready in kubectl get', async () => {
    const { stdout } = await e2e.kubectl(['get', 'emrjr', 'inherit']);
    const [header, row] = stdout.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual([
      'NAME',
      'APPLICATION',
      'JOB RUN ID',
      'STATE',
      'STARTED',
      'ENCRYPTION',
      'KEY SOURCE',
      'READY',
      'AGE',
    ]);
    expect(row!.split(/\s+/).slice(0, 8)).toEqual([
      'inherit',
      APP,
      (await e2e.getJob('inherit')).status!.jobRunId!,
      'SUCCESS',
      expect.stringMatching(/^\d+(s|m|h|d)/),
      'CustomerManaged',
      'Application',
      'True',
    ]);
    // Listed in the categories with the application.
    expect((await e2e.kubectl(['get', 'emr', '-o', 'name'])).stdout).toContain(
      'emrserverlessjobrun.emrserverless.operator.dev/inherit',
    );
  });
});

describe('a job run with its own key', () => {
  it('verifies the key, sends it in configurationOverrides, and says the key comes from the job', async () => {
    const mark = await e2e.mark();
    await e2e.apply(
      jobRunManifest('own-key', APP, {
        configurationOverrides: {
          diskEncryptionConfiguration: { encryptionKeyArn: jobKey, encryptionContext: { job: 'own-key' } },
        },
      }),
    );
    const r = await submitted('own-key');
    expect(r.status.diskEncryption).toEqual({
      mode: 'CustomerManaged',
      source: 'Job',
      encryptionKeyArn: jobKey,
      encryptionContext: { job: 'own-key' },
      key: { verified: true, state: 'Enabled', policy: { verdict: 'Allows' } },
    });
    const { submitted: sent } = await e2e.aws.jobRun(appId, r.status.jobRunId);
    expect(sent.configurationOverrides).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: jobKey, encryptionContext: { job: 'own-key' } },
    });
    const calls = (await e2e.callsSince(mark)).map((c) => c.operation);
    // The key is described, and its key policy read, before the run is submitted.
    expect(calls.indexOf('DescribeKey')).toBeGreaterThanOrEqual(0);
    expect(calls.indexOf('DescribeKey')).toBeLessThan(calls.indexOf('StartJobRun'));
    expect(calls.indexOf('GetKeyPolicy')).toBeGreaterThan(calls.indexOf('DescribeKey'));
    expect(calls.indexOf('GetKeyPolicy')).toBeLessThan(calls.indexOf('StartJobRun'));
    expect(calls.filter((o) => o === 'StartJobRun')).toHaveLength(1);
  });

  it.each([
    ['KeyDisabled', { keyState: 'Disabled' }],
    ['KeyPendingDeletion', { keyState: 'PendingDeletion' }],
    ['KeyNotSymmetric', { keySpec: 'RSA_2048', keyUsage: 'ENCRYPT_DECRYPT' }],
    ['KeyUsageInvalid', { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'GENERATE_VERIFY_MAC' }],
  ])('is refused with %s, nothing submitted', async (reason, key) => {
    const bad = await e2e.createKey(key as Parameters<E2e['createKey']>[0]);
    const name = `refused-${reason.toLowerCase()}`;
    const mark = await e2e.mark();
    await e2e.apply(
      jobRunManifest(name, APP, {
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: bad } },
      }),
    );
    const r = await e2e.waitForJobCondition(name, 'Stalled', reason);
    expect(condition(r, 'Stalled')?.message).toContain(
      'spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn',
    );
    expect(r.status?.jobRunId).toBeUndefined();
    expect(r.status?.diskEncryption).toMatchObject({ source: 'Job', key: { verified: false, reason } });
    await e2e.waitForEvent(name, reason);
    expect(await submissions(mark)).toEqual([]);
  });

  it('is refused for a key that does not exist (KeyNotFound)', async () => {
    const missing = appKey.replace(/key\/.*/, 'key/00000000-0000-0000-0000-000000000000');
    const mark = await e2e.mark();
    await e2e.apply(
      jobRunManifest('refused-missing', APP, {
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: missing } },
      }),
    );
    await e2e.waitForJobCondition('refused-missing', 'Stalled', 'KeyNotFound');
    expect(await submissions(mark)).toEqual([]);
  });

  it('goes ahead unverified, with a Warning, when DescribeKey is denied', async () => {
    const denied = await e2e.createKey();
    await e2e.aws.denyKey(denied.split('/').at(-1)!);
    await e2e.apply(
      jobRunManifest('denied-key', APP, {
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: denied } },
      }),
    );
    const r = await submitted('denied-key');
    expect(r.status.diskEncryption).toMatchObject({
      source: 'Job',
      encryptionKeyArn: denied,
      key: { verified: false, reason: 'AccessDenied' },
    });
    const warning = await e2e.waitForEvent('denied-key', 'KeyUnverified');
    expect(warning.type).toBe('Warning');
  });
});

describe('a job run with a key of another account, under the printed IAM policy', () => {
  it('is refused by AWS while the key policy does not let the operator use it, and submitted once it does', async () => {
    const key = await e2e.createKey({ account: OTHER_ACCOUNT });
    const mark = await e2e.mark();
    await e2e.apply(
      jobRunManifest('foreign-key', APP, {
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: key } },
      }),
    );
    // The key policy (that account's default) names only its own account: the operator can
    // neither describe the key nor have EMR Serverless use it on its behalf.
    const r = await e2e.waitForJobCondition('foreign-key', 'Stalled', 'AccessDenied');
    expect(condition(r, 'Stalled')?.message).toContain(key);
    expect(r.status?.jobRunId).toBeUndefined();
    const refused = (await e2e.callsSince(mark)).filter((c) => c.operation === 'StartJobRun');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((c) => c.status === 403 && c.errorType === 'AccessDeniedException')).toBe(true);

    // The statements `key-policy --job-level-key` prints, added to the key policy as its owner would.
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI,
      'key-policy',
      '--application-arn',
      `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${appId}`,
      '--operator-role-arn',
      OPERATOR_USER_ARN,
      '--job-level-key',
    ]);
    const policy = (await e2e.aws.keyPolicy(key)) as { Statement: object[] };
    const added = (JSON.parse(stdout) as { Statement: object[] }).Statement;
    await e2e.aws.putKeyPolicy(key, { ...policy, Statement: [...policy.Statement, ...added] });
    const ran = await submitted('foreign-key');
    expect(ran.status.diskEncryption).toMatchObject({ source: 'Job', encryptionKeyArn: key });
    const starts = (await e2e.callsSince(mark)).filter(
      (c) => c.operation === 'StartJobRun' && c.status === 200,
    );
    expect(starts).toHaveLength(1);
  });
});

describe('how a run ends', () => {
  it('FAILED: Stalled JobRunFailed with AWS’s reason', async () => {
    await e2e.apply(jobRunManifest('fails', APP));
    const id = (await submitted('fails')).status.jobRunId;
    await e2e.aws.setJobRunState(
      appId,
      id,
      'FAILED',
      'Job failed, ExitCode: 1. OutOfMemoryError in stage 3.',
    );
    const r = await e2e.waitForJobCondition('fails', 'Stalled', 'JobRunFailed');
    expect(condition(r, 'Stalled')?.message).toContain('OutOfMemoryError in stage 3');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'JobRunFailed' });
    expect(r.status).toMatchObject({
      state: 'FAILED',
      stateDetails: 'Job failed, ExitCode: 1. OutOfMemoryError in stage 3.',
    });
    expect((await e2e.waitForEvent('fails', 'JobRunFailed')).type).toBe('Warning');
  });

  it('CANCELLED outside the operator: Stalled JobRunCancelled', async () => {
    await e2e.apply(jobRunManifest('cancelled', APP));
    const id = (await submitted('cancelled')).status.jobRunId;
    await e2e.aws.setJobRunState(appId, id, 'CANCELLED', 'Job run cancelled by user.');
    const r = await e2e.waitForJobCondition('cancelled', 'Stalled', 'JobRunCancelled');
    expect(condition(r, 'Stalled')?.message).toContain('cancelled by user');
  });

  it('ttlSecondsAfterFinished deletes the resource after the run finished', async () => {
    await e2e.apply(jobRunManifest('expires', APP, { ttlSecondsAfterFinished: 1 }));
    const id = (await submitted('expires')).status.jobRunId;
    await e2e.aws.setJobRunState(appId, id, 'SUCCESS');
    await e2e.waitJobGone('expires', 20_000);
    // The run itself is untouched.
    expect((await e2e.aws.jobRun(appId, id)).jobRun.state).toBe('SUCCESS');
  });
});

describe('declared again', () => {
  it('after ttlSecondsAfterFinished deleted it (a GitOps tool recreating it): the finished run is found, zero StartJobRun, not deleted again', async () => {
    const declared = jobRunManifest('redeclared', APP, { ttlSecondsAfterFinished: 1 });
    await e2e.apply(declared);
    const first = await submitted('redeclared');
    const id = first.status.jobRunId;
    await e2e.aws.setJobRunState(appId, id, 'SUCCESS');
    await e2e.waitJobGone('redeclared', 20_000);

    const mark = await e2e.mark();
    await e2e.apply(declared);
    const again = await e2e.waitForJobCondition('redeclared', 'Ready', 'Succeeded');
    expect(again.metadata.uid).not.toBe(first.metadata.uid);
    expect(again.status).toMatchObject({ jobRunId: id, state: 'SUCCESS' });
    expect((await e2e.waitForEvent('redeclared', 'Found')).message).toContain('earlier resource');
    // Its TTL is spent: it stays, over resyncs, and nothing is submitted.
    await new Promise((resolve) => setTimeout(resolve, RESYNC_MS * 2.5));
    expect((await e2e.getJob('redeclared')).metadata.uid).toBe(again.metadata.uid);
    expect((await jobCalls(mark)).filter((c) => c.operation === 'StartJobRun')).toEqual([]);
    // The run carries the digest of the declaration it was found by.
    const { submitted: sent } = await e2e.aws.jobRun(appId, id);
    expect((sent.tags as Record<string, string>)[SUBMISSION_TAG]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('with a new rerunToken, or a changed spec: a new run each', async () => {
    await e2e.kubectl(['delete', 'emrjob', 'redeclared', '--wait=true']);
    const mark = await e2e.mark();
    await e2e.apply(jobRunManifest('redeclared', APP, { ttlSecondsAfterFinished: 1, rerunToken: 'second' }));
    const second = (await submitted('redeclared')).status.jobRunId;
    await e2e.kubectl(['delete', 'emrjob', 'redeclared', '--wait=true']);
    await e2e.apply(
      jobRunManifest('redeclared', APP, { ttlSecondsAfterFinished: 1, executionTimeoutMinutes: 30 }),
    );
    const third = (await submitted('redeclared')).status.jobRunId;
    const starts = (await jobCalls(mark)).filter((c) => c.operation === 'StartJobRun');
    expect(starts.map((c) => c.jobRunId)).toEqual([second, third]);
    expect(new Set([second, third]).size).toBe(2);
  });
});

describe('deletion', () => {
  it('of a running run cancels it (Cancel, the default); the finalizer goes once it is CANCELLED', async () => {
    await e2e.apply(jobRunManifest('cancel-on-delete', APP));
    const id = (await submitted('cancel-on-delete')).status.jobRunId;
    await e2e.aws.setJobRunState(appId, id, 'RUNNING');
    await e2e.waitForJob('cancel-on-delete', 'RUNNING', (x) => x.status?.state === 'RUNNING');
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrjob', 'cancel-on-delete', '--wait=false']);
    await e2e.waitJobGone('cancel-on-delete');
    expect((await e2e.aws.jobRun(appId, id)).jobRun.state).toBe('CANCELLED');
    expect((await jobCalls(mark, id)).filter((c) => c.operation === 'CancelJobRun')).toHaveLength(1);
  });

  it('of a running run with deletionPolicy Orphan leaves it running', async () => {
    await e2e.apply(jobRunManifest('orphaned', APP, { deletionPolicy: 'Orphan' }));
    const id = (await submitted('orphaned')).status.jobRunId;
    await e2e.aws.setJobRunState(appId, id, 'RUNNING');
    await e2e.waitForJob('orphaned', 'RUNNING', (x) => x.status?.state === 'RUNNING');
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrjob', 'orphaned', '--wait=false']);
    await e2e.waitJobGone('orphaned');
    expect((await e2e.aws.jobRun(appId, id)).jobRun.state).toBe('RUNNING');
    expect((await jobCalls(mark, id)).filter((c) => c.operation === 'CancelJobRun')).toEqual([]);
    await e2e.aws.setJobRunState(appId, id, 'SUCCESS');
  });

  it('of a finished run only removes the finalizer', async () => {
    const id = (await e2e.getJob('fails')).status!.jobRunId!;
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrjob', 'fails', '--wait=false']);
    await e2e.waitJobGone('fails');
    expect(await jobCalls(mark, id)).toEqual([]);
    expect((await e2e.aws.jobRun(appId, id)).jobRun.state).toBe('FAILED');
  });
});

describe('the application it references', () => {
  it('not there yet: the run waits, and is submitted once the application is bound', async () => {
    const mark = await e2e.mark();
    await e2e.apply(jobRunManifest('early', 'later-app'));
    const waiting = await e2e.waitForJobCondition('early', 'Reconciling', 'WaitingForApplication');
    expect(condition(waiting, 'Reconciling')?.message).toContain('later-app');
    expect(await submissions(mark)).toEqual([]);
    await e2e.apply(manifest('later-app', baseSpec('later-app')));
    const laterId = (await e2e.waitForReady('later-app', 'True', 'Reconciled')).status!.applicationId!;
    const r = await submitted('early');
    expect(r.status.applicationId).toBe(laterId);
    expect(r.status.diskEncryption).toMatchObject({ mode: 'AwsOwned', source: 'Application' });
  });

  it('Stalled: nothing is submitted', async () => {
    const key = await e2e.createKey({ keyState: 'Disabled' });
    await e2e.apply(
      manifest(
        'stalled-app',
        baseSpec('stalled-app', { diskEncryptionConfiguration: { encryptionKeyArn: key } }),
      ),
    );
    await e2e.waitForStalled('stalled-app', 'KeyDisabled');
    const mark = await e2e.mark();
    await e2e.apply(jobRunManifest('on-stalled', 'stalled-app'));
    const r = await e2e.waitForJobCondition('on-stalled', 'Stalled', 'ApplicationStalled');
    expect(condition(r, 'Stalled')?.message).toContain('KeyDisabled');
    expect(await submissions(mark)).toEqual([]);
  });
});

describe('livy-conf', () => {
  const livyConf = (name: string) =>
    promisify(execFile)(process.execPath, [
      CLI,
      'livy-conf',
      name,
      '-n',
      e2e.namespace,
      '--kubeconfig',
      e2e.cluster.kubeconfig,
    ]);

  it('prints the session conf for the application’s key, as JSON', async () => {
    const { stdout } = await livyConf(APP);
    expect(JSON.parse(stdout)).toEqual({
      'spark.emr-serverless.disk.encryptionKeyArn': appKey,
      'spark.emr-serverless.disk.encryptionContext': 'team:data',
    });
  });

  it('refuses an application without a customer key, and one that does not exist', async () => {
    await expect(livyConf('later-app')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('AWS-owned key'),
    });
    await expect(livyConf('no-such-app')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('not found in namespace'),
    });
  });
});

describe('admission', () => {
  it('refuses a spec change after submission', async () => {
    const err = await e2e.applyRejected(jobRunManifest('inherit', APP, { executionTimeoutMinutes: 5 }));
    expect(err).toContain('spec is immutable');
  });

  it('refuses two drivers, a context without a key, a reserved tag and a bad role ARN', async () => {
    expect(
      await e2e.applyRejected(
        jobRunManifest('bad-driver', APP, {
          jobDriver: { sparkSubmit: { entryPoint: 's3://a/b.py' }, hive: { query: 'select 1' } },
        }),
      ),
    ).toContain('exactly one of sparkSubmit or hive');
    expect(
      await e2e.applyRejected(
        jobRunManifest('bad-context', APP, {
          configurationOverrides: { diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } },
        }),
      ),
    ).toContain('encryptionContext requires encryptionKeyArn');
    expect(
      await e2e.applyRejected(jobRunManifest('bad-tag', APP, { tags: { [OWNER_UID_TAG]: 'someone-else' } })),
    ).toContain('tag keys may not start with emrserverless.operator.dev/');
    expect(
      await e2e.applyRejected(
        jobRunManifest('bad-role', APP, { executionRoleArn: 'arn:aws:iam::123456789012:user/bob' }),
      ),
    ).toContain('executionRoleArn must be an IAM role ARN');
  });
});
