// The manager starts a controller's workers only once every cache it reads has synced (its own
// kind's, the kinds it watches, the shared ones), and /readyz names the caches it still waits for.
// The API server is scripted: each list is answered when the test says so.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Informer, type KubeObject } from '../../../src/controller/informer.js';
import {
  APPLICATION_CONTROLLER,
  applicationController,
  JOB_RUN_CONTROLLER,
  jobRunController,
} from '../../../src/controller/kinds.js';
import { Manager } from '../../../src/controller/manager.js';
import { OperatorMetrics } from '../../../src/controller/metrics.js';
import type { KubeClient } from '../../../src/kube/client.js';

const NS = 'team';
const GROUP = 'emrserverless.operator.dev/v1alpha1';
const logger = pino({ level: 'silent' });

const object = (kind: string, name: string, spec: object, namespace: string | undefined = NS) => ({
  apiVersion: GROUP,
  kind,
  metadata: {
    name,
    ...(namespace && { namespace }),
    uid: `uid-${name}`,
    resourceVersion: '1',
    generation: 1,
  },
  spec,
});

const LISTS: Record<string, object[]> = {
  emrserverlessapplications: [object('EmrServerlessApplication', 'app', { name: 'app' })],
  emrserverlessjobruns: [object('EmrServerlessJobRun', 'job', { applicationRef: { name: 'app' } })],
  namespaces: [{ metadata: { name: NS, resourceVersion: '1' } }],
};

/** Answers each resource's list once `release(plural)` is called; watches stay open and silent. */
function gatedKube() {
  const gates = new Map<string, () => void>();
  const opened = new Map<string, Promise<void>>();
  const gate = (plural: string) => {
    let promise = opened.get(plural);
    if (!promise) {
      promise = new Promise<void>((resolve) => gates.set(plural, resolve));
      opened.set(plural, promise);
    }
    return promise;
  };
  const pluralOf = (path: string) => path.slice(path.lastIndexOf('/') + 1);
  const kube = {
    request: async ({ path }: { path: string }) => {
      const plural = pluralOf(path);
      await gate(plural);
      return { metadata: { resourceVersion: '10' }, items: structuredClone(LISTS[plural] ?? []) };
    },
    watch: async () => new AbortController(),
  } as unknown as KubeClient;
  return {
    kube,
    release: (...plurals: string[]) => {
      for (const plural of plurals) {
        gate(plural);
        gates.get(plural)?.();
      }
    },
  };
}

interface Seen {
  controller: string;
  key: string;
  /** For a job run: whether its application was in the cache when it was reconciled. */
  applicationCached?: boolean;
}

const ALL = ['emrserverlessapplications', 'emrserverlessjobruns', 'namespaces'];
let manager: Manager | undefined;
let releaseAll: (() => void) | undefined;

afterEach(async () => {
  // A list in flight cannot be aborted: answer them all, so the informers stop at once.
  releaseAll?.();
  await manager?.stop();
  manager = undefined;
});

function build() {
  const api = gatedKube();
  const seen: Seen[] = [];
  const namespaces = new Informer<KubeObject>({
    kube: api.kube,
    resource: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' },
    logger,
  });
  manager = new Manager({
    kube: api.kube,
    logger,
    metrics: new OperatorMetrics({ processMetrics: false }),
    namespaces: [NS],
    concurrency: 1,
    healthAddr: '127.0.0.1:0',
    caches: [{ name: 'namespaces', cache: namespaces }],
    controllers: [
      applicationController(() => ({
        reconcile: async (obj) => {
          seen.push({ controller: APPLICATION_CONTROLLER, key: `${NS}/${obj.metadata.name}` });
          return {};
        },
      })),
      jobRunController(({ cache }) => ({
        reconcile: async (obj) => {
          seen.push({
            controller: JOB_RUN_CONTROLLER,
            key: `${NS}/${obj.metadata.name}`,
            applicationCached: cache.get('emrserverlessapplications', `${NS}/app`) !== undefined,
          });
          return {};
        },
      })),
    ],
  }) as Manager;
  releaseAll = () => api.release(...ALL);
  return { manager, seen, release: api.release };
}

async function readyz(m: Manager): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${m.addresses.health}/readyz`);
  return { status: res.status, body: await res.text() };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

async function eventually<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('workers start once the caches they read have synced', () => {
  it('the job-run controller waits for the applications it reads, not only for its own kind', async () => {
    const { manager, seen, release } = build();
    await manager.start();
    // Job runs and namespaces are listed; applications are not, yet.
    release('emrserverlessjobruns', 'namespaces');
    await settle();
    expect(seen).toEqual([]);
    const waiting = await readyz(manager);
    expect(waiting.status).toBe(503);
    expect(waiting.body).toContain(
      `[-]caches-${JOB_RUN_CONTROLLER} failed: waiting for caches to sync: emrserverlessapplications`,
    );
    expect(waiting.body).toContain(
      `[-]caches-${APPLICATION_CONTROLLER} failed: waiting for caches to sync: emrserverlessapplications`,
    );

    release('emrserverlessapplications');
    const job = await eventually('the job run reconciled', () =>
      seen.find((s) => s.controller === JOB_RUN_CONTROLLER),
    );
    // The very first reconcile found the application: it was never taken for missing.
    expect(job).toEqual({ controller: JOB_RUN_CONTROLLER, key: `${NS}/job`, applicationCached: true });
    const ready = await readyz(manager);
    expect(ready.status).toBe(200);
    expect(ready.body).toContain(`[+]caches-${JOB_RUN_CONTROLLER} ok`);
    expect(ready.body).toContain(`[+]caches-${APPLICATION_CONTROLLER} ok`);
  });

  it('every controller waits for the shared caches too', async () => {
    const { manager, seen, release } = build();
    await manager.start();
    release('emrserverlessapplications', 'emrserverlessjobruns');
    await settle();
    expect(seen).toEqual([]);
    const { status, body } = await readyz(manager);
    expect(status).toBe(503);
    expect(body).toContain(
      `[-]caches-${APPLICATION_CONTROLLER} failed: waiting for caches to sync: namespaces`,
    );
    expect(body).toContain(`[-]caches-${JOB_RUN_CONTROLLER} failed: waiting for caches to sync: namespaces`);

    release('namespaces');
    await eventually('both kinds reconciled', () => seen.length >= 2 && seen);
    expect(seen.map((s) => s.controller).sort()).toEqual([APPLICATION_CONTROLLER, JOB_RUN_CONTROLLER]);
    expect((await readyz(manager)).status).toBe(200);
  });

  it('a controller whose caches synced starts without waiting for another controller’s', async () => {
    const { manager, seen, release } = build();
    await manager.start();
    // The application controller reads applications and namespaces only.
    release('emrserverlessapplications', 'namespaces');
    await eventually('the application reconciled', () => seen.length > 0);
    await settle();
    expect(seen.map((s) => s.controller)).toEqual([APPLICATION_CONTROLLER]);
    const { body } = await readyz(manager);
    expect(body).toContain(`[+]caches-${APPLICATION_CONTROLLER} ok`);
    expect(body).toContain(
      `[-]caches-${JOB_RUN_CONTROLLER} failed: waiting for caches to sync: emrserverlessjobruns`,
    );
  });

  it('names the caches a controller reads: its own, the watched kinds’, the shared ones', () => {
    const { manager } = build();
    expect(manager.cachesOf(manager.controller(JOB_RUN_CONTROLLER)).map((c) => c.name)).toEqual([
      'emrserverlessjobruns',
      'emrserverlessapplications',
      'namespaces',
    ]);
    expect(manager.cachesOf(manager.controller(APPLICATION_CONTROLLER)).map((c) => c.name)).toEqual([
      'emrserverlessapplications',
      'namespaces',
    ]);
  });

  it('stopped before the caches synced: no worker ever starts, and it stops cleanly', async () => {
    const { manager: m, seen, release } = build();
    await m.start();
    const stopping = m.stop();
    manager = undefined;
    // The lists answer while it stops: the caches sync, but too late to start anything.
    release(...ALL);
    await stopping;
    await settle();
    expect(seen).toEqual([]);
    expect((await m.done).code).toBe(0);
  });
});
