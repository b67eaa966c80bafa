// The manager end to end against a real kube-apiserver, with a small test reconciler that uses
// the real ResourceWriter: finalizer first, then status only when it differs.
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINALIZER } from '../../../src/api/constants.js';
import type { EmrServerlessApplication, Status } from '../../../src/api/schema.js';
import { APPLICATION_CONTROLLER, applicationController } from '../../../src/controller/kinds.js';
import { Manager } from '../../../src/controller/manager.js';
import { OperatorMetrics } from '../../../src/controller/metrics.js';
import { KubeResourceWriter } from '../../../src/controller/resource-writer.js';
import { waitForCrdsEstablished } from '../../../src/envtest/index.js';
import type { ReconcileResult } from '../../../src/reconcile/ports.js';
import { adminKube, adminKubeConfig, kubectl, newNamespace } from '../../support/cluster.js';
import { expectQuietWindow } from '../../support/quiet.js';
import { Apps, CRD_DIR, CRD_NAME, testLogger, waitFor } from './helpers.js';

const kc = adminKubeConfig();
const kube = await adminKube();
const apps = new Apps(kc);
let ns: string;

interface Seen {
  key: string;
  generation: number;
  resourceVersion: string | undefined;
  deleting: boolean;
  /** When the reconcile started (ms). */
  at: number;
}

/** Stands in for the lead's Reconciler: same contract, trivial logic. */
class TestReconciler {
  readonly seen: Seen[] = [];
  readonly statusWrites: string[] = [];
  failNext = new Set<string>();
  private readonly writer = new KubeResourceWriter(kube);
  constructor(readonly logger: Logger) {}

  async reconcile(obj: EmrServerlessApplication): Promise<ReconcileResult> {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    this.seen.push({
      key,
      generation: obj.metadata.generation,
      resourceVersion: obj.metadata.resourceVersion,
      deleting: obj.metadata.deletionTimestamp !== undefined,
      at: Date.now(),
    });
    if (this.failNext.delete(key)) throw new Error('injected failure');
    if (obj.metadata.deletionTimestamp) {
      await this.writer.removeFinalizer(obj);
      return {};
    }
    let current = obj;
    if (!current.metadata.finalizers?.includes(FINALIZER)) current = await this.writer.addFinalizer(current);
    const desired: Status = { observedGeneration: current.metadata.generation, state: 'CREATED' };
    if (JSON.stringify(current.status ?? {}) !== JSON.stringify(desired)) {
      this.statusWrites.push(key);
      await this.writer.applyStatus(current, desired);
    }
    return {};
  }

  count(key: string) {
    return this.seen.filter((s) => s.key === key).length;
  }
}

let manager: Manager;
let reconciler: TestReconciler;
let metrics: OperatorMetrics;

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
  await waitForCrdsEstablished(kubectl, [`crd/${CRD_NAME}`]);
  ns = await newNamespace('controller-manager');
  metrics = new OperatorMetrics({ processMetrics: false });
  manager = new Manager({
    kube,
    logger: testLogger(),
    metrics,
    namespaces: [ns],
    concurrency: 2,
    resyncPeriodMs: 2_000,
    metricsAddr: '127.0.0.1:0',
    healthAddr: '127.0.0.1:0',
    controllers: [
      applicationController(({ logger }) => {
        reconciler = new TestReconciler(logger);
        return reconciler;
      }),
    ],
  });
  await manager.start();
  await manager.waitForSync();
});

afterAll(async () => {
  await manager?.stop();
  const exit = await manager?.done;
  expect(exit?.code).toBe(0);
});

describe('Manager', () => {
  it('is ready once the cache is synced, and serves metrics', async () => {
    const health = await fetch(`http://${manager.addresses.health}/readyz`);
    expect(health.status).toBe(200);
    const text = await (await fetch(`http://${manager.addresses.metrics}/metrics`)).text();
    expect(text).toContain('controller_runtime_reconcile_total');
  });

  it('reconciles a new object: finalizer, then status; its own writes do not loop', async () => {
    await apps.create(ns, 'a');
    const key = `${ns}/a`;
    const done = await waitFor('status written', async () => {
      const obj = await apps.get(ns, 'a');
      return obj.status?.state === 'CREATED' ? obj : undefined;
    });
    expect(done.metadata.finalizers).toEqual([FINALIZER]);
    // Let the finalizer event come back and settle.
    await new Promise((r) => setTimeout(r, 500));
    const rvAfterStatus = (await apps.get(ns, 'a')).metadata.resourceVersion;
    const before = reconciler.count(key);
    // (The reconcile right after the finalizer write may see a cache without the status yet and
    // apply the same status again, a no-op for the API server; resyncs must write nothing.)
    const writesBefore = reconciler.statusWrites.filter((k) => k === key).length;
    // Resyncs happen (every ~2 s) but write nothing: resourceVersion does not move.
    await waitFor('two resyncs', () => reconciler.count(key) >= before + 2, 15_000);
    expect((await apps.get(ns, 'a')).metadata.resourceVersion).toBe(rvAfterStatus);
    expect(reconciler.statusWrites.filter((k) => k === key)).toHaveLength(writesBefore);
    // No reconcile storm: about one per resync period (plus the creation burst).
    const elapsedSyncs = reconciler.count(key) - before;
    expect(elapsedSyncs).toBeLessThanOrEqual(4);
  });

  it('reconciles on spec changes (generation), not on status-only changes', async () => {
    await apps.create(ns, 'b');
    const key = `${ns}/b`;
    await waitFor('b reconciled', async () => (await apps.get(ns, 'b')).status?.state === 'CREATED');
    // Quiet first: a reconcile of the creation burst that read the cache before the status write
    // came back has its (conditional) status write refused and comes again after a backoff.
    for (let before = -1; before !== reconciler.count(key); ) {
      before = reconciler.count(key);
      await new Promise((r) => setTimeout(r, 500));
    }

    // Status-only change by someone else, right after a resync (the next one is ~2 s away): the
    // informer sees it, and no reconcile follows (only the resync, later).
    const resynced = reconciler.count(key);
    await waitFor('a resync of b', () => reconciler.count(key) > resynced, 5_000);
    const countBefore = reconciler.count(key);
    const cached = () => manager.controllers[0]!.informer.get(key) as EmrServerlessApplication | undefined;
    const poked = () => cached()?.status?.stateDetails === 'poked';
    await expectQuietWindow({
      during: async () => {
        await kubectl([
          'patch',
          '-n',
          ns,
          'emrserverlessapplication',
          'b',
          '--subresource=status',
          '--type=merge',
          '-p',
          '{"status":{"stateDetails":"poked"}}',
        ]);
        await waitFor('the status-only change in the cache', poked, 1_500);
        await new Promise((r) => setTimeout(r, 300));
      },
      reads: { what: 'status-only changes seen by the informer', count: () => (poked() ? 1 : 0) },
      // A resync may fall in the window on a slow machine: it comes at least 0.9 resync period
      // after the reconcile before it. One sooner would be the status change's doing.
      writes: () => {
        const all = reconciler.seen.filter((s) => s.key === key);
        return all.slice(countBefore).filter((s, i) => s.at - all[countBefore + i - 1]!.at < 1_800);
      },
    });

    // Spec change: reconciled at once with the new generation.
    const obj = await apps.get(ns, 'b');
    await apps.replace({ ...obj, spec: { ...(obj.spec as object), releaseLabel: 'emr-7.6.0' } });
    await waitFor(
      'generation 2 reconciled',
      () => reconciler.seen.some((s) => s.key === key && s.generation === 2),
      5_000,
    );
    await waitFor(
      'status observedGeneration 2',
      async () => (await apps.get(ns, 'b')).status?.observedGeneration === 2,
      5_000,
    );
  });

  it('retries a failing reconcile with backoff and counts the error', async () => {
    const key = `${ns}/c`;
    reconciler.failNext.add(key);
    await apps.create(ns, 'c');
    await waitFor(
      'c reconciled after a failure',
      async () => (await apps.get(ns, 'c')).status?.state === 'CREATED',
    );
    const text = await (await fetch(`http://${manager.addresses.metrics}/metrics`)).text();
    expect(text).toMatch(
      /controller_runtime_reconcile_errors_total\{controller="emrserverlessapplication"\} [1-9]/,
    );
    expect(text).toMatch(/workqueue_retries_total\{name="emrserverlessapplication"\} [1-9]/);
  });

  it('on deletion reconciles the terminating object, which goes once the finalizer is removed', async () => {
    await apps.create(ns, 'd');
    const key = `${ns}/d`;
    await waitFor('d has the finalizer', async () =>
      (await apps.get(ns, 'd')).metadata.finalizers?.includes(FINALIZER),
    );
    await apps.delete(ns, 'd');
    await waitFor('d deleted', async () => !(await apps.exists(ns, 'd')), 10_000);
    expect(reconciler.seen.some((s) => s.key === key && s.deleting)).toBe(true);
    await waitFor(
      'd gone from the cache',
      () => manager.controller(APPLICATION_CONTROLLER).informer.get(key) === undefined,
    );
  });
});
