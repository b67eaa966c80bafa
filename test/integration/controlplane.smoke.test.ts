// Proves the test control plane is a real kube-apiserver: discovery, CRDs with CEL validation and a
// status subresource, watches, finalizers, server-side apply conflicts, and restarts.
import {
  ApiException,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type ControlPlane,
  runKubectl,
  startControlPlane,
  waitForCrdsEstablished,
} from '../../src/envtest/index.js';
import { adminKubeConfig, kubectl, newNamespace } from '../support/cluster.js';

const group = 'smoke.envtest.example.com';
const version = 'v1';
const plural = 'widgets';

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: { size: { type: 'integer' }, color: { type: 'string' } },
                'x-kubernetes-validations': [{ rule: 'self.size <= 10', message: 'size must be at most 10' }],
              },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

type Widget = KubernetesObject & {
  spec?: { size?: number; color?: string };
  status?: { phase?: string };
};

const widget = (namespace: string, name: string, spec: Widget['spec']): Widget => ({
  apiVersion: `${group}/${version}`,
  kind: 'Widget',
  metadata: { name, namespace },
  spec,
});

/** Polls until `predicate` holds, for conditions reached asynchronously (watch events). */
async function eventually<T>(
  read: () => T,
  predicate: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('shared control plane', () => {
  let kubeConfig: KubeConfig;
  let namespace: string;

  beforeAll(async () => {
    kubeConfig = adminKubeConfig();
    namespace = await newNamespace('smoke');
    await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(widgetCrd) });
    await waitForCrdsEstablished(kubectl, [`crd/${plural}.${group}`]);
  });

  it('reports the Kubernetes version it was built from, for server and kubectl', async () => {
    const { stdout } = await kubectl(['version', '-o', 'json']);
    const versions = JSON.parse(stdout);
    expect(versions.serverVersion.gitVersion).toBe(inject('kubernetesVersion'));
    expect(versions.clientVersion.gitVersion).toBe(inject('kubernetesVersion'));
  });

  it('serves leases (coordination.k8s.io) and events (events.k8s.io) in discovery', async () => {
    const leases = await kubeConfig.makeApiClient(CoordinationV1Api).getAPIResources();
    expect(leases.resources.map((r) => r.name)).toContain('leases');
    const events = await kubeConfig.makeApiClient(EventsV1Api).getAPIResources();
    expect(events.resources.map((r) => r.name)).toContain('events');

    const { stdout } = await kubectl(['api-resources', '-o', 'name']);
    expect(stdout.split('\n')).toEqual(
      expect.arrayContaining(['leases.coordination.k8s.io', 'events.events.k8s.io']),
    );
  });

  it('rejects a custom resource violating the CRD CEL rule, with its message, through kubectl apply', async () => {
    const bad = widget(namespace, 'too-big', { size: 11 });
    const result = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad), check: false });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('size must be at most 10');

    const good = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(widget(namespace, 'fine', { size: 3 })),
    });
    expect(good.stdout).toContain('created');
  });

  it('watches, patches status through /status, and holds deletion for a finalizer', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const key = { group, version, namespace, plural, name: 'watched' };
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

    const events: Array<{ type: string; object: Widget }> = [];
    const watch = await new Watch(kubeConfig).watch(
      `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      {},
      (type, object: Widget) => events.push({ type, object }),
      () => {},
    );
    try {
      const created = await objects.create<Widget>({
        ...widget(namespace, 'watched', { size: 1 }),
        metadata: { name: 'watched', namespace, finalizers: [`${group}/hold`] },
      });
      await eventually(
        () => events,
        (seen) => seen.some((e) => e.type === 'ADDED' && e.object.metadata?.name === 'watched'),
      );

      // The status subresource: status changes go through /status and do not bump generation.
      const patched: Widget = await custom.patchNamespacedCustomObjectStatus(
        { ...key, body: { status: { phase: 'Ready' } } },
        mergePatch,
      );
      expect(patched.status?.phase).toBe('Ready');
      expect(patched.metadata?.generation).toBe(created.metadata?.generation);
      await eventually(
        () => events,
        (seen) => seen.some((e) => e.type === 'MODIFIED' && e.object.status?.phase === 'Ready'),
      );
      // ...and status sent to the main resource is ignored.
      const viaMain: Widget = await custom.patchNamespacedCustomObject(
        { ...key, body: { status: { phase: 'Ignored' } } },
        mergePatch,
      );
      expect(viaMain.status?.phase).toBe('Ready');

      // The finalizer keeps the object, marked for deletion, until it is removed.
      await custom.deleteNamespacedCustomObject(key);
      const terminating: Widget = await custom.getNamespacedCustomObject(key);
      expect(terminating.metadata?.deletionTimestamp).toBeTruthy();
      expect(terminating.metadata?.finalizers).toEqual([`${group}/hold`]);

      await custom.patchNamespacedCustomObject(
        { ...key, body: { metadata: { finalizers: null } } },
        mergePatch,
      );
      await eventually(
        () => events,
        (seen) => seen.some((e) => e.type === 'DELETED' && e.object.metadata?.name === 'watched'),
      );
      const gone = await custom.getNamespacedCustomObject(key).catch((error: unknown) => error);
      expect(gone).toBeInstanceOf(ApiException);
      expect((gone as ApiException<unknown>).code).toBe(404);
    } finally {
      watch.abort();
    }
  });

  it('reports server-side apply conflicts between field managers unless forced', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    const apply = (manager: string, spec: Widget['spec'], force: boolean) =>
      objects.patch(
        widget(namespace, 'applied', spec),
        undefined,
        undefined,
        manager,
        force,
        PatchStrategy.ServerSideApply,
      );

    await apply('manager-a', { size: 1, color: 'red' }, false);

    const conflict = await apply('manager-b', { size: 2 }, false).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ApiException);
    expect((conflict as ApiException<unknown>).code).toBe(409);
    const body = (conflict as ApiException<unknown>).body;
    expect(typeof body === 'string' ? body : JSON.stringify(body)).toContain('manager-a');

    const forced = await apply('manager-b', { size: 2 }, true);
    expect(forced.spec).toEqual({ size: 2, color: 'red' });
    const ownerOfSize = forced.metadata?.managedFields?.find((entry) =>
      JSON.stringify(entry.fieldsV1).includes('"f:size"'),
    );
    expect(ownerOfSize?.manager).toBe('manager-b');
  });
});

// Stopping kube-apiserver would break other test files sharing the global control plane,
// so this one starts its own (the binaries are already built by the global setup).
describe('a private control plane', () => {
  let controlPlane: ControlPlane;

  beforeAll(async () => {
    controlPlane = await startControlPlane();
  });
  afterAll(async () => {
    await controlPlane?.stop();
  });

  it('restarts kube-apiserver on the same port, keeping the data in etcd', async () => {
    const run = (args: string[]) =>
      runKubectl(controlPlane.kubectl, controlPlane.kubeconfig, ['--request-timeout=5s', ...args], {
        check: false,
      });
    expect((await run(['create', 'configmap', 'survivor', '--from-literal=k=v'])).exitCode).toBe(0);

    await controlPlane.stopApiServer();
    const whileDown = await run(['get', 'configmap', 'survivor']);
    expect(whileDown.exitCode).not.toBe(0);
    expect(whileDown.stderr).toMatch(/refused/);

    const serverBefore = controlPlane.server;
    await controlPlane.startApiServer();
    expect(controlPlane.server).toBe(serverBefore);
    const afterRestart = await run(['get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}']);
    expect(afterRestart).toMatchObject({ exitCode: 0, stdout: 'v' });
  });

  it('mints service account kubeconfigs whose RBAC is enforced', async () => {
    const account = await controlPlane.createServiceAccountKubeconfig({
      namespace: 'rbac-check',
      name: 'reader',
      rbacManifests: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'configmap-reader' },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'reader-reads-configmaps' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'rbac-check' }],
        },
      ],
    });
    expect(account.username).toBe('system:serviceaccount:rbac-check:reader');
    const asReader = (args: string[]) =>
      runKubectl(controlPlane.kubectl, account.kubeconfig, args, { check: false });

    const whoami = await asReader(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(whoami.stdout).toBe(account.username);
    expect((await asReader(['get', 'configmaps'])).exitCode).toBe(0);
    const forbidden = await asReader(['get', 'secrets']);
    expect(forbidden.exitCode).not.toBe(0);
    expect(forbidden.stderr).toContain('forbidden');
  });
});
