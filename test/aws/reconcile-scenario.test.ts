// The planner and executor over a scripted scenario, against the local AWS service through
// the real SDK: the AWS calls must be exactly those the contract implies. Kubernetes is played
// by a small in-memory store here; the end-to-end suite runs the same story on a real API server.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Status } from '../../src/api/schema.js';
import { operatorIdentity } from '../../src/aws/index.js';
import { ConflictError } from '../../src/controller/resource-writer.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import { type RecordedEvent, type ResourceWriter, WritesStoppedError } from '../../src/reconcile/ports.js';
import { useReconcilerService } from './local-service.js';
import { Store } from './resource-store.js';

const REGION = 'eu-west-1';

describe('a scripted scenario through planner, executor and the real SDK', () => {
  const service = useReconcilerService(REGION);
  const events: RecordedEvent[] = [];

  function reconcilerFor(store: Store, mayWrite?: () => boolean) {
    return new ApplicationReconciler({
      ...(mayWrite && { mayWrite }),
      aws: operatorIdentity(service.clients, { ttlMs: 0, negativeTtlMs: 0 }),
      writer: store,
      events: { record: (_o, e) => events.push(e) },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: true, resyncPeriodMs: 600_000 },
    });
  }

  /** Reconciles until the operator would wait for the resync, or for something outside it. */
  async function converge(store: Store) {
    const reconciler = reconcilerFor(store);
    for (let i = 0; i < 50 && !store.gone; i++) {
      const { requeueAfterMs } = await reconciler.reconcile(store.obj);
      const reason = store.obj.status?.conditions?.find((c) => c.type === 'Ready')?.reason ?? '';
      if (requeueAfterMs === undefined || requeueAfterMs >= 600_000 || reason.startsWith('WaitingFor'))
        return;
      await new Promise((r) => setTimeout(r, Math.min(requeueAfterMs, 100)));
    }
  }

  const { writesSince } = service;

  it('create with key -> change context -> {} -> remove field -> key disabled -> delete', async () => {
    const key = await service.control.createKey({ region: REGION });
    const base = { name: 'analytics', type: 'SPARK' as const, releaseLabel: 'emr-7.5.0' };
    const store = new Store({
      ...base,
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn, encryptionContext: { project: 'a' } },
    });
    const aws = service.clients.forRegion(REGION);
    const ready = () => store.obj.status?.conditions?.find((c) => c.type === 'Ready');

    // 1. Create with the key: one CreateApplication carrying it, no second call.
    let mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['CreateApplication']);
    const id = store.obj.status!.applicationId!;
    expect((await aws.getApplication(id))?.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: key.Arn,
      encryptionContext: { project: 'a' },
    });
    expect(ready()).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(store.obj.status).toMatchObject({
      encryption: 'CustomerManaged',
      state: 'CREATED',
      diskEncryption: { key: { verified: true } },
    });

    // In sync: a resync makes no AWS write and no status write.
    const writes = store.statusWrites;
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual([]);
    expect(store.statusWrites).toBe(writes);

    // 2. Change only the context: one UpdateApplication with the whole config.
    store.setSpec({
      ...base,
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn, encryptionContext: { project: 'b' } },
    });
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['UpdateApplication']);
    expect((await aws.getApplication(id))?.diskEncryptionConfiguration?.encryptionContext).toEqual({
      project: 'b',
    });

    // 3. {}: back to the AWS-owned key.
    store.setSpec({ ...base, diskEncryptionConfiguration: {} });
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['UpdateApplication']);
    expect((await aws.getApplication(id))?.diskEncryptionConfiguration?.encryptionKeyArn).toBeUndefined();
    expect(store.obj.status?.encryption).toBe('AwsOwned');

    // 4. Set the key again, then remove the field: AWS keeps the key, a warning says so.
    store.setSpec({ ...base, diskEncryptionConfiguration: { encryptionKeyArn: key.Arn } });
    await converge(store);
    store.setSpec(base);
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual([]);
    expect(events.map((e) => e.reason)).toContain('DiskEncryptionUnmanaged');
    expect(store.obj.status).toMatchObject({
      encryption: 'Unmanaged',
      diskEncryption: { mode: 'CustomerManaged', managed: false },
    });

    // 5. Manage it again, then the key is disabled out of band: Ready false, nothing sent.
    store.setSpec({ ...base, diskEncryptionConfiguration: { encryptionKeyArn: key.Arn } });
    await converge(store);
    await service.control.setKeyState(key.KeyId, 'Disabled');
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual([]);
    expect(ready()).toMatchObject({ status: 'False', reason: 'KeyDisabled' });

    // 6. Delete: the created app is deleted, then the finalizer released.
    store.delete();
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['DeleteApplication']);
    expect(store.gone).toBe(true);
    expect((await aws.getApplication(id))?.state).toBe('TERMINATED');

    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'Created',
        'KeyChanged',
        'KeyUnset',
        'DiskEncryptionUnmanaged',
        'KeyDisabled',
        'Deleting',
        'Deleted',
      ]),
    );
  });

  it('after a crash between create and status write, the next reconcile adopts its own app', async () => {
    const store = new Store({ name: 'crashy', type: 'SPARK', releaseLabel: 'emr-7.5.0' });
    // The first reconcile creates, then "crashes" before its status write lands.
    const lost: ResourceWriter = {
      ...store,
      addFinalizer: (o) => store.addFinalizer(o),
      removeFinalizer: async () => {},
      applyStatus: async () => undefined,
    };
    const mark = await service.mark();
    await new ApplicationReconciler({
      aws: operatorIdentity(service.clients),
      writer: lost,
      events: { record: () => {} },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: true, resyncPeriodMs: 600_000 },
    }).reconcile(store.obj);
    expect(store.obj.status).toBeUndefined();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['CreateApplication']);
    const listed = (await service.control.calls()).slice(mark).map((c) => c.operation);
    expect(listed).toContain('ListApplications');
    expect(store.obj.status?.applicationId).toBeDefined();
  });

  it('STARTED: allowed changes at once; WaitForStop waits; StopWhenIdle waits for jobs, stops, updates, restarts', async () => {
    const key = await service.control.createKey({ region: REGION });
    const base = { name: 'running', type: 'SPARK' as const, releaseLabel: 'emr-7.5.0' };
    const store = new Store(base);
    await converge(store);
    const id = store.obj.status!.applicationId!;
    const aws = service.clients.forRegion(REGION);
    await aws.startApplication(id);
    await new Promise((r) => setTimeout(r, 60));
    const ready = () => store.obj.status?.conditions?.find((c) => c.type === 'Ready');

    // A change the service accepts while STARTED goes through at once.
    store.setSpec({ ...base, maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' } });
    let mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual(['UpdateApplication']);
    expect((await aws.getApplication(id))?.state).toBe('STARTED');

    // WaitForStop: the key change waits, nothing is sent, until the app stops by itself.
    const withKey = {
      ...base,
      maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' },
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn },
    };
    store.setSpec(withKey);
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual([]);
    expect(ready()).toMatchObject({ status: 'False', reason: 'WaitingForStop' });
    await service.control.patchApplication(id, { state: 'STOPPED' });
    await converge(store);
    expect(await writesSince(mark)).toEqual(['UpdateApplication']);
    expect(ready()).toMatchObject({ status: 'True' });

    // StopWhenIdle: a running job holds the change back; once it ends: stop, update, start.
    await aws.startApplication(id);
    await new Promise((r) => setTimeout(r, 60));
    const job = await service.control.createJobRun(id, 'RUNNING');
    store.setSpec({ ...withKey, updateStrategy: 'StopWhenIdle', diskEncryptionConfiguration: {} });
    mark = await service.mark();
    await converge(store);
    expect(await writesSince(mark)).toEqual([]);
    expect(ready()).toMatchObject({ status: 'False', reason: 'WaitingForJobRuns' });
    await service.control.setJobRunState(id, job.jobRunId, 'SUCCESS');
    for (let i = 0; i < 20 && ready()?.status !== 'True'; i++) await converge(store);
    expect(await writesSince(mark)).toEqual(['StopApplication', 'UpdateApplication', 'StartApplication']);
    expect(store.obj.status?.restartAfterUpdate).toBeUndefined();
    expect((await aws.getApplication(id))?.diskEncryptionConfiguration?.encryptionKeyArn).toBeUndefined();
  });

  it('write-ahead: each intent is in status before the AWS call that needs it; a crash after StopApplication still restarts', async () => {
    const [keyA, keyB] = await Promise.all([
      service.control.createKey({ region: REGION }),
      service.control.createKey({ region: REGION }),
    ]);
    const base = {
      name: 'write-ahead',
      type: 'SPARK' as const,
      releaseLabel: 'emr-7.5.0',
      updateStrategy: 'StopWhenIdle' as const,
      tags: { team: 'a' },
    };
    const store = new Store({ ...base, diskEncryptionConfiguration: { encryptionKeyArn: keyA.Arn } });
    await converge(store);
    const id = store.obj.status!.applicationId!;
    await service.clients.forRegion(REGION).startApplication(id);
    await new Promise((r) => setTimeout(r, 60));
    await converge(store);
    expect(store.obj.status?.state).toBe('STARTED');

    // Every status write, with the AWS writes made before it.
    const journal: Array<{ status: Status; writesBefore: string[] }> = [];
    const mark = await service.mark();
    store.onStatus = async (status) => {
      journal.push({ status, writesBefore: await writesSince(mark) });
    };
    // The repro: a tag, the key and the release label in one apply; the answer to
    // StopApplication never comes (the process "dies" while waiting for it).
    await service.control.fault({ operation: 'StopApplication', count: 1, holdAnswerMs: 60_000 });
    store.setSpec({
      ...base,
      tags: { team: 'b' },
      releaseLabel: 'emr-7.6.0',
      diskEncryptionConfiguration: { encryptionKeyArn: keyB.Arn },
    });
    const dying = reconcilerFor(store).reconcile(store.obj);
    dying.catch(() => {});
    for (let i = 0; i < 100 && !(await writesSince(mark)).includes('StopApplication'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await writesSince(mark)).toEqual(['TagResource', 'StopApplication']);
    const intent = journal.find((j) => j.status.restartAfterUpdate);
    expect(intent?.writesBefore).toEqual([]);
    expect(store.obj.status?.restartAfterUpdate).toBe(true);

    // A new process carries on from status alone.
    store.onStatus = async (status) => {
      journal.push({ status, writesBefore: await writesSince(mark) });
    };
    journal.length = 0;
    for (
      let i = 0;
      i < 20 && !(store.obj.status?.state === 'STARTED' && !store.obj.status.restartAfterUpdate);
      i++
    )
      await converge(store);
    expect(await writesSince(mark)).toEqual([
      'TagResource',
      'StopApplication',
      'UpdateApplication',
      'StartApplication',
    ]);
    // The update's record was written before UpdateApplication was sent.
    const recorded = journal.find((j) => j.status.updateAttempts);
    expect(recorded?.writesBefore).toEqual(['TagResource', 'StopApplication']);
    expect(await service.clients.forRegion(REGION).getApplication(id)).toMatchObject({
      state: 'STARTED',
      releaseLabel: 'emr-7.6.0',
      diskEncryptionConfiguration: { encryptionKeyArn: keyB.Arn },
    });
    expect(store.obj.status?.updateAttempts).toBeUndefined();
    await service.control.clearFaults();
  });

  it('a reconcile from a stale cache cannot drop an intent written ahead: its status write is refused, nothing sent', async () => {
    const [keyA, keyB] = await Promise.all([
      service.control.createKey({ region: REGION }),
      service.control.createKey({ region: REGION }),
    ]);
    const base = {
      name: 'stale-cache',
      type: 'SPARK' as const,
      releaseLabel: 'emr-7.5.0',
      updateStrategy: 'StopWhenIdle' as const,
    };
    const store = new Store({ ...base, diskEncryptionConfiguration: { encryptionKeyArn: keyA.Arn } });
    await converge(store);
    const id = store.obj.status!.applicationId!;
    await service.clients.forRegion(REGION).startApplication(id);
    await new Promise((r) => setTimeout(r, 60));
    await converge(store);
    expect(store.obj.status?.state).toBe('STARTED');

    // A key change while STARTED: the restart intent is written, then StopApplication takes
    // effect and its answer never comes (the process dies there).
    await service.control.fault({ operation: 'StopApplication', count: 1, holdAnswerMs: 60_000 });
    store.setSpec({ ...base, diskEncryptionConfiguration: { encryptionKeyArn: keyB.Arn } });
    const cached = structuredClone(store.obj); // what a cache holds until the intent's write comes back
    const mark = await service.mark();
    reconcilerFor(store)
      .reconcile(store.obj)
      .catch(() => {});
    for (let i = 0; i < 100 && !(await writesSince(mark)).includes('StopApplication'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(store.obj.status?.restartAfterUpdate).toBe(true);
    await new Promise((r) => setTimeout(r, 100)); // STOPPED by now

    // The next process reconciles the cached copy: it plans an update with no restart after it.
    // Its first status write is refused, before UpdateApplication is sent, and the intent stays.
    await expect(reconcilerFor(store).reconcile(cached)).rejects.toBeInstanceOf(ConflictError);
    expect(store.obj.status?.restartAfterUpdate).toBe(true);
    expect(await writesSince(mark)).toEqual(['StopApplication']);

    // Planned again from what the API server holds: updated and started again.
    for (
      let i = 0;
      i < 20 && !(store.obj.status?.state === 'STARTED' && !store.obj.status.restartAfterUpdate);
      i++
    )
      await converge(store);
    expect(await writesSince(mark)).toEqual(['StopApplication', 'UpdateApplication', 'StartApplication']);
    expect(await service.clients.forRegion(REGION).getApplication(id)).toMatchObject({
      state: 'STARTED',
      diskEncryptionConfiguration: { encryptionKeyArn: keyB.Arn },
    });
    await service.control.clearFaults();
  });

  it('the write guard: once it says no, the rest of the plan is not sent', async () => {
    const store = new Store({ name: 'guarded', type: 'SPARK', releaseLabel: 'emr-7.5.0', tags: { a: '1' } });
    await converge(store);
    const id = store.obj.status!.applicationId!;
    store.setSpec({ name: 'guarded', type: 'SPARK', releaseLabel: 'emr-7.6.0', tags: { a: '2' } });
    const mark = await service.mark();
    const writesBefore = store.statusWrites;
    // The plan: write the update's intent ahead, TagResource, UpdateApplication. The lease
    // lapses after the first two writes.
    let allowed = 2;
    const guard = () => allowed-- > 0;
    await expect(reconcilerFor(store, guard).reconcile(store.obj)).rejects.toBeInstanceOf(WritesStoppedError);
    expect(await writesSince(mark)).toEqual(['TagResource']);
    expect(store.statusWrites).toBe(writesBefore + 1);
    expect((await service.clients.forRegion(REGION).getApplication(id))?.releaseLabel).toBe('emr-7.5.0');
  });
  it('access denied or a quota: Stalled, looked at again on resync, a wait edits do not cut short; throttling is thrown to back off', async () => {
    const store = new Store({ name: 'refused', type: 'SPARK', releaseLabel: 'emr-7.5.0' });
    const reconciler = reconcilerFor(store);
    const ready = () => store.obj.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
    for (const [errorType, reason] of [
      ['AccessDeniedException', 'AccessDenied'],
      ['ServiceQuotaExceededException', 'QuotaExceeded'],
    ] as const) {
      await service.control.fault({ operation: 'CreateApplication', count: 1, errorType });
      expect(await reconciler.reconcile(store.obj)).toEqual({ requeueAfterMs: 600_000, holdOff: true });
      expect(ready()).toBe(reason);
    }
    await service.control.fault({ operation: 'CreateApplication', rate: 1, status: 429 });
    await expect(reconciler.reconcile(store.obj)).rejects.toMatchObject({ kind: 'throttled' });
    await service.control.clearFaults();
  });
});
