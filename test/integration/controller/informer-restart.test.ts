// The informer's supervisor: it must come back by itself after the API server goes away and
// after its RBAC is taken away, and say why it is unhealthy meanwhile. Uses its own control plane
// because it stops the API server.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLICATION_KIND, APPLICATION_PLURAL, GROUP, VERSION } from '../../../src/api/constants.js';
import type { EmrServerlessApplication } from '../../../src/api/schema.js';
import { Informer } from '../../../src/controller/informer.js';
import { type ControlPlane, startControlPlane } from '../../../src/envtest/index.js';
import { connectKube, type KubeClient } from '../../../src/kube/client.js';
import { Apps, CRD_DIR, testLogger, waitFor } from './helpers.js';

const resource = { group: GROUP, version: VERSION, plural: APPLICATION_PLURAL, kind: APPLICATION_KIND };
let cp: ControlPlane;
let admin: KubeConfig;
let adminKube: KubeClient;
let apps: Apps;

beforeAll(async () => {
  cp = await startControlPlane({ crds: [CRD_DIR], log: () => {} });
  admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  apps = new Apps(admin);
  adminKube = await connectKube({ path: cp.kubeconfig });
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

function record(informer: Informer<EmrServerlessApplication>) {
  const log: string[] = [];
  informer.addEventHandler({
    onAdd: (o) => log.push(`add ${o.metadata.name}`),
    onUpdate: (_old, o) => log.push(`update ${o.metadata.name}`),
    onDelete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  return log;
}

describe('Informer supervision', () => {
  it('recovers after the API server is stopped and started again, missing nothing', async () => {
    await cp.kubectlAdmin(['create', 'namespace', 'restart']);
    await apps.create('restart', 'before');
    const informer = new Informer<EmrServerlessApplication>({
      kube: adminKube,
      resource,
      logger: testLogger(),
      backoff: { initialMs: 100, maxMs: 2_000 },
    });
    const events = record(informer);
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.health()).toMatchObject({ synced: true, healthy: true });
      expect(events).toEqual(['add before']);

      await cp.stopApiServer();
      await waitFor('informer unhealthy', () => !informer.health().healthy, 20_000);
      expect(informer.health().lastError).toBeDefined();
      expect(informer.health().synced).toBe(true); // the cache stays, stale

      await cp.startApiServer();
      await waitFor('informer healthy again', () => informer.health().healthy, 30_000);

      // Changes after the restart arrive; so do deletions.
      await apps.create('restart', 'after');
      await apps.delete('restart', 'before');
      await waitFor('new object seen', () => informer.get('restart/after'), 15_000);
      await waitFor('deletion seen', () => informer.get('restart/before') === undefined, 15_000);
      expect(events).toContain('add after');
      expect(events).toContain('delete before');
    } finally {
      await informer.stop();
    }
  });

  it('reports a 403, then syncs by itself once RBAC is granted; and again after RBAC is revoked and restored', async () => {
    const namespace = 'rbac';
    const sa = await cp.createServiceAccountKubeconfig({ namespace, name: 'operator' });
    const kube = await connectKube({ path: sa.kubeconfig });
    await apps.create(namespace, 'x');

    const informer = new Informer<EmrServerlessApplication>({
      kube,
      resource,
      namespace,
      logger: testLogger(),
      backoff: { initialMs: 100, maxMs: 1_000 },
      watchTimeoutSeconds: { min: 1, max: 2 },
    });
    informer.start();
    const grant = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'operator', namespace },
          rules: [{ apiGroups: [GROUP], resources: [APPLICATION_PLURAL], verbs: ['get', 'list', 'watch'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'operator', namespace },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'operator' },
          subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace }],
        },
      ],
    });
    try {
      await waitFor('a 403 reported', () => informer.health().lastError?.includes('403'), 15_000);
      expect(informer.health()).toMatchObject({ synced: false, healthy: false });

      await cp.kubectlAdmin(['apply', '-f', '-'], { input: grant });
      await waitFor('synced after the grant', () => informer.hasSynced(), 20_000);
      expect(informer.get(`${namespace}/x`)).toBeDefined();
      await waitFor('healthy', () => informer.health().healthy, 10_000);

      // Revoked: the next watch (the server closes them every 1-2 s here) is refused.
      await cp.kubectlAdmin(['delete', 'rolebinding', 'operator', '-n', namespace]);
      await waitFor('unhealthy after the revoke', () => !informer.health().healthy, 20_000);
      expect(informer.health().lastError).toContain('403');

      await cp.kubectlAdmin(['apply', '-f', '-'], { input: grant });
      await waitFor('healthy after the restore', () => informer.health().healthy, 20_000);
      await apps.create(namespace, 'y');
      await waitFor('new object seen', () => informer.get(`${namespace}/y`), 10_000);
    } finally {
      await informer.stop();
    }
  });
});
