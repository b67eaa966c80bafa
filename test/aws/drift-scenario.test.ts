// List drift detection through the reconciler, against the local AWS service with the real SDK:
// which calls a resync makes, and that drift is still found, out-of-band updates at the next
// look and tag changes by the full read. Kubernetes is the in-memory Store; the end-to-end suite
// (test/e2e/drift.test.ts) runs the operator itself on a real API server.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { OWNER_UID_TAG } from '../../src/api/constants.js';
import type { Spec } from '../../src/api/schema.js';
import { operatorIdentity } from '../../src/aws/index.js';
import { AWS_WRITE_OPERATIONS } from '../../src/emulator/index.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import { useReconcilerService } from './local-service.js';
import { Store } from './resource-store.js';

const REGION = 'eu-west-1';
/** Short periods: the full read falls due 5.5 resync periods after the last one (drift.ts). */
const RESYNC_MS = 400;
const FULL_READ_MS = 6 * RESYNC_MS;
const base: Partial<Spec> = {
  name: 'analytics',
  type: 'SPARK',
  releaseLabel: 'emr-7.5.0',
  tags: { team: 'data' },
};

describe('list drift detection', () => {
  const service = useReconcilerService(REGION);

  function reconcilerFor(requeued: string[] = []) {
    return new ApplicationReconciler({
      aws: operatorIdentity(service.clients),
      writer: {
        addFinalizer: (o) => storeOf(o).addFinalizer(o),
        removeFinalizer: async () => {},
        applyStatus: (o, s) => storeOf(o).applyStatus(o, s),
      },
      events: { record: () => {} },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: true, resyncPeriodMs: RESYNC_MS },
      listDrift: { fullReadPeriodMs: FULL_READ_MS },
      requeue: (key) => requeued.push(key),
    });
  }
  const stores = new Map<string, Store>();
  const storeOf = (o: { metadata: { name: string } }) => stores.get(o.metadata.name)!;
  function storeFor(spec: Partial<Spec>, name: string) {
    const store = new Store(spec, name);
    stores.set(name, store);
    return store;
  }

  /** Reconciles until Ready (the operator would then wait for the resync). */
  async function converge(reconciler: ApplicationReconciler, store: Store) {
    for (let i = 0; i < 50; i++) {
      await reconciler.reconcile(store.obj);
      if (store.obj.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') return;
      await new Promise((r) => setTimeout(r, 30));
    }
    throw new Error(`${store.obj.metadata.name} did not become Ready`);
  }

  /**
   * A resync: half a resync period after the last look (sooner is a poll, which reads rather than
   * waits for a listing), one reconcile.
   */
  async function resync(reconciler: ApplicationReconciler, store: Store) {
    await new Promise((r) => setTimeout(r, RESYNC_MS / 2));
    await reconciler.reconcile(store.obj);
  }

  /** The operations one resync sends. */
  async function callsOf(reconciler: ApplicationReconciler, store: Store) {
    const mark = await service.mark();
    await resync(reconciler, store);
    return (await service.control.calls()).slice(mark).map((c) => c.operation);
  }
  const writes = (ops: string[]) => ops.filter((op) => AWS_WRITE_OPERATIONS.has(op));

  /** Created, Ready, and read twice (a read within a second of updatedAt is confirmed by a second). */
  async function inSync(name: string, spec: Partial<Spec> = base) {
    const reconciler = reconcilerFor();
    const store = storeFor(spec, name);
    await converge(reconciler, store);
    expect(await callsOf(reconciler, store)).toContain('GetApplication');
    return { reconciler, store, id: store.obj.status!.applicationId! };
  }

  it('in sync, a resync lists and reads nothing, writes nothing, and keeps status as it was', async () => {
    const { reconciler, store } = await inSync('quiet');
    const statusWrites = store.statusWrites;
    for (let i = 0; i < 3; i++) expect(await callsOf(reconciler, store)).toEqual(['ListApplications']);
    expect(store.statusWrites).toBe(statusWrites);
  });

  it('a poll soon after a look reads the application rather than list the whole scope', async () => {
    const { reconciler, store } = await inSync('poll');
    await resync(reconciler, store);
    const mark = await service.mark();
    await reconciler.reconcile(store.obj);
    expect((await service.control.calls()).slice(mark).map((c) => c.operation)).toEqual(['GetApplication']);
  });

  it('an out-of-band key change through the SDK is read and reverted at the next look', async () => {
    const [a, b] = [
      await service.control.createKey({ region: REGION }),
      await service.control.createKey({ region: REGION }),
    ];
    const spec = { ...base, diskEncryptionConfiguration: { encryptionKeyArn: a.Arn } };
    const { reconciler, store, id } = await inSync('sdk-drift', spec);
    expect(await callsOf(reconciler, store)).toEqual(['ListApplications']);

    await service.clients
      .forRegion(REGION)
      .updateApplication(id, { diskEncryptionConfiguration: { encryptionKeyArn: b.Arn } });
    const ops = await callsOf(reconciler, store);
    expect(ops.slice(0, 2)).toEqual(['ListApplications', 'GetApplication']);
    expect(writes(ops)).toEqual(['UpdateApplication']);
    expect(
      (await service.clients.forRegion(REGION).getApplication(id))?.diskEncryptionConfiguration,
    ).toMatchObject({
      encryptionKeyArn: a.Arn,
    });
  });

  it('an out-of-band key change through the control API is read and reverted at the next look', async () => {
    const [a, b] = [
      await service.control.createKey({ region: REGION }),
      await service.control.createKey({ region: REGION }),
    ];
    const spec = { ...base, diskEncryptionConfiguration: { encryptionKeyArn: a.Arn } };
    const { reconciler, store, id } = await inSync('control-drift', spec);
    expect(await callsOf(reconciler, store)).toEqual(['ListApplications']);

    await service.control.patchApplication(id, { diskEncryptionConfiguration: { encryptionKeyArn: b.Arn } });
    expect(writes(await callsOf(reconciler, store))).toEqual(['UpdateApplication']);
    expect(
      (await service.clients.forRegion(REGION).getApplication(id))?.diskEncryptionConfiguration,
    ).toMatchObject({
      encryptionKeyArn: a.Arn,
    });
  });

  it('a start out of band moves the state: read while it settles, and the status follows', async () => {
    const { reconciler, store, id } = await inSync('started');
    await service.clients.forRegion(REGION).startApplication(id);
    // STARTING, then STARTED: each look reads while it settles.
    await converge(reconciler, store);
    await new Promise((r) => setTimeout(r, 50));
    await converge(reconciler, store);
    expect(store.obj.status?.state).toBe('STARTED');
  });

  it('a tag changed out of band does not move updatedAt: found by the full read, not before', async () => {
    const { reconciler, store, id } = await inSync('tags');
    const started = Date.now();
    const { team: _removed, ...tags } = (await service.clients.forRegion(REGION).getApplication(id))!.tags;
    expect(tags[OWNER_UID_TAG]).toBe(store.obj.metadata.uid);
    await service.control.patchApplication(id, { tags });
    const before = await callsOf(reconciler, store);
    expect(before).toEqual(['ListApplications']);
    // The full read comes due 5.5 resync periods after the last read.
    await new Promise((r) => setTimeout(r, FULL_READ_MS - RESYNC_MS / 2 - (Date.now() - started)));
    const ops = await callsOf(reconciler, store);
    expect(ops).toContain('GetApplication');
    expect(writes(ops)).toEqual(['TagResource']);
    expect((await service.clients.forRegion(REGION).getApplication(id))?.tags.team).toBe('data');
  });

  it('a plan made from the remembered application that wants to act reads the application first', async () => {
    const { reconciler, store } = await inSync('finalizer');
    // The finalizer removed by hand: no new generation, so only the plan can tell.
    store.obj = { ...store.obj, metadata: { ...store.obj.metadata, finalizers: [] } };
    const ops = await callsOf(reconciler, store);
    expect(ops).toEqual(['ListApplications', 'GetApplication']);
    expect(store.obj.metadata.finalizers).toHaveLength(1);
  });

  it('a spec change reads at once, without the listing', async () => {
    const { reconciler, store } = await inSync('spec');
    store.setSpec({ ...base, maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' } });
    const ops = await callsOf(reconciler, store);
    expect(ops[0]).toBe('GetApplication');
    expect(ops).not.toContain('ListApplications');
    expect(writes(ops)).toEqual(['UpdateApplication']);
  });

  it('a listing that shows another resource’s application moved queues that resource', async () => {
    const requeued: string[] = [];
    const reconciler = reconcilerFor(requeued);
    const first = storeFor(base, 'first');
    const second = storeFor(base, 'second');
    for (const store of [first, second]) {
      await converge(reconciler, store);
      await resync(reconciler, store);
    }
    // Both views are confirmed, and a listing newer than both serves the next looks.
    await resync(reconciler, first);
    await service.control.patchApplication(second.obj.status!.applicationId!, {
      maximumCapacity: { cpu: '4 vCPU', memory: '16 GB' },
    });
    requeued.length = 0;
    await resync(reconciler, first);
    expect(requeued).toEqual(['data/second']);
  });

  it('when ListApplications is refused, each resource reads its application, and the listing is not asked again at once', async () => {
    const { reconciler, store } = await inSync('denied');
    await service.control.fault({
      operation: 'ListApplications',
      status: 403,
      errorType: 'AccessDeniedException',
      count: 1,
    });
    expect(await callsOf(reconciler, store)).toEqual(['ListApplications', 'GetApplication']);
    expect(await callsOf(reconciler, store)).toEqual(['GetApplication']);
  });
});
