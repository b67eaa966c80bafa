// The informer against a real API server and etcd, in the three situations a long-running watch
// meets in production: the list's continue token expiring while paging (etcd compacted the
// revision it reads from: 410), bookmarks carrying the resourceVersion forward while nothing the
// informer watches changes, and a watch whose connection goes silent without being closed (a
// network partition: the watchdog). Uses its own control plane: it compacts etcd.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, type KubeObject } from '../../../src/controller/informer.js';
import { type ControlPlane, startControlPlane } from '../../../src/envtest/index.js';
import { connectKube, KubeClient, type KubeRequest } from '../../../src/kube/client.js';
import { loadKubeConnection } from '../../../src/kube/config.js';
import { testLogger, waitFor } from './helpers.js';

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
let cp: ControlPlane;
let admin: KubeClient;

beforeAll(async () => {
  // No watch cache for secrets: their list pages are read from etcd, as happens to any list
  // whose pages outlast the watch cache's history (its snapshots serve the pages otherwise).
  cp = await startControlPlane({ log: () => {}, apiServerArgs: ['--watch-cache-sizes=secrets#0'] });
  admin = await connectKube({ path: cp.kubeconfig });
}, 300_000);

afterAll(async () => {
  admin?.destroy();
  await cp?.stop();
});

async function createNamespace(name: string) {
  await admin.request({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } });
}

async function createConfigMap(namespace: string, name: string, plural = 'configmaps'): Promise<KubeObject> {
  return admin.request<KubeObject>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/${plural}`,
    body: { metadata: { name }, data: { n: Buffer.from(name).toString('base64') } },
  });
}

/** Compacts etcd up to its current revision (what kube-apiserver's compactor does every 5 minutes). */
async function compactEtcd(): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${cp.etcdEndpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as { header: { revision: string } };
  };
  const { header } = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  await post('/v3/kv/compaction', { revision: header.revision, physical: true });
  return Number(header.revision);
}

function informerOn(
  kube: KubeClient,
  namespace: string,
  extra: Partial<ConstructorParameters<typeof Informer>[0]> = {},
) {
  return new Informer<KubeObject>({
    kube,
    resource: CONFIGMAPS,
    namespace,
    logger: testLogger(),
    backoff: { initialMs: 100, maxMs: 1_000 },
    ...extra,
  });
}

describe('Informer against the real API server', () => {
  it('lists again, in one page, when etcd compaction expires the continue token while paging: no failure', async () => {
    await createNamespace('paging');
    for (let i = 0; i < 7; i++) await createConfigMap('paging', `cm-${i}`, 'secrets');
    // The admin client, but after the list's first page the revision it reads from is compacted
    // away (with a write after it), as happens to a slow list on a busy cluster.
    let compacted = 0;
    const pages: Array<{ continue: boolean; limit: unknown }> = [];
    class CompactingKube extends KubeClient {
      override async request<T>(req: KubeRequest): Promise<T> {
        pages.push({ continue: req.query?.continue !== undefined, limit: req.query?.limit });
        const answer = await super.request<T & { metadata?: { continue?: string } }>(req);
        if (compacted === 0 && answer.metadata?.continue) {
          await createConfigMap('paging', 'written-while-paging', 'secrets');
          compacted = await compactEtcd();
        }
        return answer;
      }
    }
    const kube = new CompactingKube(await loadKubeConnection({ path: cp.kubeconfig }));
    const informer = informerOn(kube, 'paging', {
      pageSize: 3,
      resource: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
    });
    informer.start();
    try {
      await informer.waitForSync();
      expect(compacted).toBeGreaterThan(0);
      expect([...informer.keys()].sort()).toEqual(
        [...Array.from({ length: 7 }, (_, i) => `paging/cm-${i}`), 'paging/written-while-paging'].sort(),
      );
      // The API server refused the continue token (410), and the informer listed again at once.
      expect(pages).toEqual([
        { continue: false, limit: 3 },
        { continue: true, limit: 3 },
        { continue: false, limit: undefined },
      ]);
      expect(informer.relistsAfterExpiredContinue).toBe(1);
      // Not the failure path: healthy all along, no error reported to /readyz.
      expect(informer.health()).toEqual({ synced: true, healthy: true });
    } finally {
      await informer.stop();
      kube.destroy();
    }
  });

  it('moves its resourceVersion forward on bookmarks while nothing it watches changes', async () => {
    await createNamespace('quiet');
    await createNamespace('busy');
    await createConfigMap('quiet', 'only');
    const informer = informerOn(admin, 'quiet', { watchTimeoutSeconds: { min: 4, max: 5 } });
    let events = 0;
    informer.addEventHandler({ onAdd: () => events++, onUpdate: () => events++, onDelete: () => events++ });
    informer.start();
    try {
      await informer.waitForSync();
      const listed = Number(informer.resourceVersionSeen);
      let written = 0;
      for (let i = 0; i < 5; i++) {
        written = Number((await createConfigMap('busy', `cm-${i}`)).metadata.resourceVersion);
      }
      // The API server sends a bookmark before the watch's timeout: it carries a resourceVersion
      // at least as new as the writes elsewhere, so the next watch resumes from there.
      await waitFor(
        'a bookmark past the writes in the other namespace',
        () => Number(informer.resourceVersionSeen) >= written,
        20_000,
      );
      expect(Number(informer.resourceVersionSeen)).toBeGreaterThan(listed);
      expect(events).toBe(1); // the one add of the list: nothing from the busy namespace
      expect(informer.health()).toEqual({ synced: true, healthy: true });
    } finally {
      await informer.stop();
    }
  });

  it('starts a silent watch again (the connection stalled without closing) and misses nothing', async () => {
    await createNamespace('stall');
    const proxy = await stallingProxy(new URL(cp.server));
    const connection = await loadKubeConnection({ path: cp.kubeconfig });
    const kube = new KubeClient({ ...connection, server: `https://127.0.0.1:${proxy.port}` });
    const informer = informerOn(kube, 'stall', {
      watchTimeoutSeconds: { min: 3, max: 4 },
      watchdogGraceMs: 2_000,
    });
    informer.start();
    try {
      await informer.waitForSync();
      // Every connection open now goes silent both ways, the watch's among them; new ones work.
      proxy.stallAll();
      await createConfigMap('stall', 'after-the-stall');
      const started = performance.now();
      await waitFor(
        'the object created after the stall',
        () => informer.get('stall/after-the-stall'),
        20_000,
      );
      // The watch's timeout (3-4 s) plus the grace (2 s), then a fresh watch (or list).
      expect(performance.now() - started).toBeGreaterThan(4_000);
      expect(proxy.stalled()).toBeGreaterThan(0);
    } finally {
      await informer.stop();
      kube.destroy();
      proxy.close();
    }
  });
});

/** A TCP proxy to the API server whose open connections can be made to go silent, not closed. */
async function stallingProxy(target: URL) {
  const connections = new Set<{ stalled: boolean; client: net.Socket; upstream: net.Socket }>();
  let stalledCount = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const entry = { stalled: false, client, upstream };
    connections.add(entry);
    client.on('data', (data) => entry.stalled || upstream.write(data));
    upstream.on('data', (data) => entry.stalled || client.write(data));
    const end = () => {
      connections.delete(entry);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stallAll: () => {
      for (const entry of connections) {
        entry.stalled = true;
        stalledCount++;
      }
    },
    stalled: () => stalledCount,
    close: () => {
      for (const entry of connections) entry.client.destroy();
      server.close();
    },
  };
}
