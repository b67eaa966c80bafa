// The job run reconciler over the local AWS service through the real SDK: what a running run's
// polls cost in status writes, and what a run whose namespace acts in another account than its
// application sends. Kubernetes is played by an in-memory writer and cache; the application is
// created in AWS directly.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { APPLICATION_PLURAL, FINALIZER } from '../../src/api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../../src/api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../../src/api/schema.js';
import { operatorIdentity } from '../../src/aws/index.js';
import { JobRunReconciler, type JobRunWriter } from '../../src/reconcile/jobrun/reconciler.js';
import { callCount, expectQuietWindow } from '../support/quiet.js';
import { useReconcilerService } from './local-service.js';

const REGION = 'eu-west-1';
/** The local service's account for the operator's own credentials. */
const OWN_ACCOUNT = '123456789012';
const POLLS = 10;

/** One job run in memory, counting status writes. */
class JobRunStore implements JobRunWriter {
  statusWrites = 0;
  obj: EmrServerlessJobRun = {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessJobRun',
    metadata: { name: 'nightly', namespace: 'data', uid: randomUUID(), generation: 1, finalizers: [] },
    spec: {
      applicationRef: { name: 'analytics' },
      executionRoleArn: `arn:aws:iam::${OWN_ACCOUNT}:role/emr-job`,
      jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
    },
  };
  async addFinalizer(obj: EmrServerlessJobRun) {
    this.obj = { ...obj, metadata: { ...obj.metadata, finalizers: [FINALIZER] } };
    return this.obj;
  }
  async removeFinalizer() {}
  async delete() {}
  async applyStatus(_obj: EmrServerlessJobRun, status: JobRunStatus) {
    this.statusWrites++;
    this.obj = { ...this.obj, status };
    return undefined;
  }
}

describe('the job run reconciler against the local AWS service', () => {
  const service = useReconcilerService(REGION);

  /** A STARTED application in the operator's account, and its resource as the cache holds it. */
  async function startedApplication(status: EmrServerlessApplication['status'] = {}) {
    const port = service.clients.forRegion(REGION);
    const created = await port.createApplication({
      name: 'analytics',
      type: 'SPARK',
      releaseLabel: 'emr-7.5.0',
      clientToken: randomUUID(),
      tags: {},
    });
    while ((await port.getApplication(created.applicationId))?.state === 'CREATING')
      await new Promise((r) => setTimeout(r, 20));
    await port.startApplication(created.applicationId);
    const resource: EmrServerlessApplication = {
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: { name: 'analytics', namespace: 'data', uid: randomUUID(), generation: 1 },
      spec: {},
      status: { applicationId: created.applicationId, region: REGION, arn: created.arn, ...status },
    };
    return { id: created.applicationId, resource };
  }

  function reconcilerFor(store: JobRunStore, application: EmrServerlessApplication) {
    return new JobRunReconciler({
      aws: operatorIdentity(service.clients, { ttlMs: 0, negativeTtlMs: 0 }),
      writer: store,
      events: { record: () => {} },
      cache: {
        get: <T>(plural: string, key: string) =>
          (plural === APPLICATION_PLURAL && key === 'data/analytics' ? application : undefined) as
            | T
            | undefined,
      },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: true, resyncPeriodMs: 600_000 },
    });
  }

  it(`${POLLS} polls of a RUNNING run whose figures move: no status write until it ends`, async () => {
    const app = await startedApplication();
    const store = new JobRunStore();
    const reconciler = reconcilerFor(store, app.resource);

    await reconciler.reconcile(store.obj);
    const id = store.obj.status?.jobRunId;
    expect(id).toBeDefined();
    expect(store.obj.status?.account).toBe(OWN_ACCOUNT);
    await service.control.setJobRunState(app.id, id!, 'RUNNING');
    await reconciler.reconcile(store.obj);
    expect(store.obj.status?.state).toBe('RUNNING');

    const writesBefore = store.statusWrites;
    const figures = new Set<string>();
    // Each poll reads the run (GetJobRun): the status writes counted below are those of real looks.
    await expectQuietWindow({
      during: async () => {
        for (let i = 0; i < POLLS; i++) {
          // The service's figures grow with each second of run time: they move between two polls.
          await new Promise((r) => setTimeout(r, 1_000));
          await reconciler.reconcile(store.obj);
          const answered = (await service.control.jobRun(app.id, id!)).jobRun;
          figures.add(JSON.stringify(answered.totalResourceUtilization));
        }
      },
      reads: callCount(() => service.control.calls(), { operations: ['GetJobRun'], atLeast: POLLS }),
    });
    const pollWrites = store.statusWrites - writesBefore;
    console.log(
      `${POLLS} polls of a RUNNING run: ${pollWrites} status writes (${figures.size} distinct utilisation figures from GetJobRun)`,
    );
    // The figures moved on every poll, the status did not.
    expect(figures.size).toBeGreaterThanOrEqual(POLLS - 1);
    expect(pollWrites).toBe(0);
    expect(store.obj.status?.state).toBe('RUNNING');

    // The run ends: one write, with the final figures.
    await service.control.setJobRunState(app.id, id!, 'SUCCESS');
    await reconciler.reconcile(store.obj);
    expect(store.statusWrites - writesBefore).toBe(1);
    const final = (await service.control.jobRun(app.id, id!)).jobRun;
    expect(store.obj.status).toMatchObject({
      state: 'SUCCESS',
      totalExecutionDurationSeconds: final.totalExecutionDurationSeconds,
      totalResourceUtilization: final.totalResourceUtilization,
      billedResourceUtilization: final.billedResourceUtilization,
    });
  });

  it("the application bound in another account, the namespace on the operator's own identity: Stalled AccountMappingChanged, zero StartJobRun", async () => {
    // As after a namespace's role annotation was removed: the application is recorded in the
    // role's account; the operator's own identity acts in another.
    const app = await startedApplication({ account: '111111111111' });
    const store = new JobRunStore();
    const mark = await service.mark();
    await reconcilerFor(store, app.resource).reconcile(store.obj);
    const calls = (await service.control.calls()).slice(mark).map((c) => c.operation);
    expect(calls).not.toContain('StartJobRun');
    expect(calls).toContain('GetCallerIdentity');
    const stalled = store.obj.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled).toMatchObject({ status: 'True', reason: 'AccountMappingChanged' });
    expect(stalled?.message).toContain(`now acts in account ${OWN_ACCOUNT}`);
    expect(store.obj.status?.jobRunId).toBeUndefined();
  });
});
