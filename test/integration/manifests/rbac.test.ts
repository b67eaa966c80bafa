// The RBAC in manifests/rbac.yaml, checked as the operator's own service account (a token from
// the TokenRequest API, as a pod gets): everything the operator calls is allowed, in any
// namespace for its resources and in its own namespace for the leader Lease; nothing else is.
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runKubectl, type ServiceAccountKubeconfig } from '../../../src/envtest/index.js';
import { kubectl, newNamespace, serviceAccountKubeconfig } from '../../support/cluster.js';
import { operatorRbacObjects, operatorServiceAccountKubeconfig } from '../../support/operator-rbac.js';

const CRD_FILE = new URL(
  '../../../crds/emrserverless.operator.dev_emrserverlessapplications.yaml',
  import.meta.url,
).pathname;
const apps = 'emrserverlessapplications.emrserverless.operator.dev';
const LEASE = 'emr-serverless-operator';

let sa: ServiceAccountKubeconfig;
let operatorNs: string;
let otherNs: string;

/** `kubectl auth can-i`, as the operator's service account itself. */
async function can(args: string[]): Promise<boolean> {
  const result = await runKubectl(inject('kubectl'), sa.kubeconfig, ['auth', 'can-i', ...args], {
    check: false,
  });
  if (result.exitCode > 1) throw new Error(`kubectl auth can-i ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim() === 'yes';
}

async function checkAll(cases: string[][]): Promise<Record<string, boolean>> {
  const answers = await Promise.all(cases.map((c) => can(c)));
  return Object.fromEntries(cases.map((c, i) => [c.join(' '), answers[i]!]));
}

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_FILE]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${apps}`]);
  operatorNs = await newNamespace('operator-rbac');
  otherNs = await newNamespace('team-data');
  sa = await operatorServiceAccountKubeconfig(operatorNs);
});

describe('the RBAC objects of manifests/', () => {
  it('are a ClusterRole, a Role for the Lease and their bindings to the service account', () => {
    const objects = operatorRbacObjects({ namespace: 'x' }) as Array<{
      kind: string;
      metadata: { name: string; namespace?: string };
      subjects?: unknown[];
    }>;
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace ?? ''}`)).toEqual([
      'ClusterRole/emr-serverless-operator-x/',
      'ClusterRoleBinding/emr-serverless-operator-x/',
      'Role/emr-serverless-operator-leader-election/x',
      'RoleBinding/emr-serverless-operator-leader-election/x',
    ]);
    for (const binding of objects.filter((o) => o.subjects)) {
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'emr-serverless-operator', namespace: 'x' },
      ]);
    }
  });
});

/**
 * The Kubernetes calls in src/controller, as "apiGroup/resource verb", read from the source: each
 * `this.api.<method>(` of a client-node API class, and `new Watch(` (the informer's watch).
 */
function callsInSource(): Set<string> {
  const dir = new URL('../../../src/controller/', import.meta.url);
  const calls = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    const apiClass = /makeApiClient\((\w+)\)/.exec(source)?.[1];
    if (/new Watch\(/.test(source)) calls.add(`emrserverless.operator.dev/emrserverlessapplications watch`);
    for (const [, method] of source.matchAll(/this\.api\.(\w+)\(/g)) {
      const match = /^(list|read|get|create|replace|patch|delete)(Namespaced|Cluster)?(\w+)$/.exec(method!);
      if (!match) throw new Error(`${file}: teach this test what ${method} needs`);
      const verb = {
        list: 'list',
        read: 'get',
        get: 'get',
        create: 'create',
        replace: 'update',
        patch: 'patch',
        delete: 'delete',
      }[match[1] as 'list'];
      const resources: Record<string, string> = {
        'CustomObjectsApi:CustomObject': 'emrserverless.operator.dev/emrserverlessapplications',
        'CustomObjectsApi:CustomObjectStatus': 'emrserverless.operator.dev/emrserverlessapplications/status',
        'EventsV1Api:Event': 'events.k8s.io/events',
        'CoreV1Api:Event': '/events',
        'CoordinationV1Api:Lease': 'coordination.k8s.io/leases',
        'CoreV1Api:Namespace': '/namespaces',
      };
      const resource = resources[`${apiClass}:${match[3]}`];
      if (!resource) throw new Error(`${file}: teach this test what ${apiClass}.${method} needs`);
      calls.add(`${resource} ${verb}`);
    }
  }
  return calls;
}

describe('the RBAC of manifests/ against the source', () => {
  it('grants every call src/controller makes', () => {
    const granted = new Set<string>();
    for (const obj of operatorRbacObjects() as Array<{
      rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
    }>) {
      for (const rule of obj.rules ?? []) {
        for (const group of rule.apiGroups)
          for (const resource of rule.resources)
            for (const verb of rule.verbs) granted.add(`${group}/${resource} ${verb}`);
      }
    }
    const calls = [...callsInSource()].sort();
    expect(calls).toEqual([
      '/namespaces get',
      'coordination.k8s.io/leases create',
      'coordination.k8s.io/leases get',
      'coordination.k8s.io/leases update',
      'emrserverless.operator.dev/emrserverlessapplications list',
      'emrserverless.operator.dev/emrserverlessapplications patch',
      'emrserverless.operator.dev/emrserverlessapplications watch',
      'emrserverless.operator.dev/emrserverlessapplications/status patch',
      'events.k8s.io/events create',
      'events.k8s.io/events patch',
    ]);
    expect(calls.filter((call) => !granted.has(call))).toEqual([]);
  });
});

describe("the operator's service account", () => {
  it('may do everything the operator calls', async () => {
    const needed = [
      // informer.ts: list + watch, cluster-wide and per namespace (--namespace)
      ['list', apps, '--all-namespaces'],
      ['watch', apps, '--all-namespaces'],
      ['list', apps, '-n', otherNs],
      ['watch', apps, '-n', otherNs],
      ['get', apps, '-n', otherNs],
      // resource-writer.ts: the finalizer (JSON patch) and status (server-side apply = patch)
      ['patch', apps, '-n', otherNs],
      ['patch', apps, '--subresource=status', '-n', otherNs],
      ['update', apps, '--subresource=finalizers', '-n', otherNs],
      // events.ts: events.k8s.io/v1, next to the resource
      ['create', 'events.events.k8s.io', '-n', otherNs],
      ['patch', 'events.events.k8s.io', '-n', otherNs],
      // leader.ts: its Lease, in its own namespace
      ['create', 'leases.coordination.k8s.io', '-n', operatorNs],
      ['get', `leases.coordination.k8s.io/${LEASE}`, '-n', operatorNs],
      ['update', `leases.coordination.k8s.io/${LEASE}`, '-n', operatorNs],
      // cluster-identity.ts: the kube-system namespace, whose uid names the cluster
      ['get', 'namespaces/kube-system'],
    ];
    const answers = await checkAll(needed);
    expect(answers).toEqual(Object.fromEntries(needed.map((c) => [c.join(' '), true])));
  });

  it('may do nothing else', async () => {
    const forbidden = [
      ['get', 'secrets', '-n', operatorNs],
      ['list', 'secrets', '--all-namespaces'],
      ['get', 'configmaps', '-n', otherNs],
      ['create', 'pods', '-n', operatorNs],
      ['create', 'pods', '-n', otherNs],
      ['delete', 'namespaces', otherNs],
      ['get', `namespaces/${otherNs}`],
      ['list', 'namespaces'],
      ['update', 'namespaces/kube-system'],
      ['create', 'serviceaccounts/token', '-n', operatorNs],
      ['impersonate', 'serviceaccounts', '-n', operatorNs],
      ['create', 'clusterrolebindings'],
      ['update', 'customresourcedefinitions'],
      // its own resources: never created, replaced or deleted (spec is the user's)
      ['create', apps, '-n', otherNs],
      ['update', apps, '-n', otherNs],
      ['delete', apps, '-n', otherNs],
      ['deletecollection', apps, '-n', otherNs],
      ['update', apps, '--subresource=status', '-n', otherNs],
      ['get', apps, '--subresource=finalizers', '-n', otherNs],
      // events: no reading, deleting, or core/v1 events
      ['list', 'events.events.k8s.io', '-n', otherNs],
      ['delete', 'events.events.k8s.io', '-n', otherNs],
      ['create', 'events', '-n', otherNs],
      // leases: only its own, only in its namespace
      ['get', 'leases.coordination.k8s.io/kube-controller-manager', '-n', operatorNs],
      ['update', 'leases.coordination.k8s.io/other', '-n', operatorNs],
      ['delete', `leases.coordination.k8s.io/${LEASE}`, '-n', operatorNs],
      ['list', 'leases.coordination.k8s.io', '-n', operatorNs],
      ['create', 'leases.coordination.k8s.io', '-n', otherNs],
      ['get', `leases.coordination.k8s.io/${LEASE}`, '-n', otherNs],
      ['update', `leases.coordination.k8s.io/${LEASE}`, '-n', 'kube-system'],
    ];
    const answers = await checkAll(forbidden);
    expect(answers).toEqual(Object.fromEntries(forbidden.map((c) => [c.join(' '), false])));
  });

  it('sees exactly the ClusterRole rules in a namespace it does not own (auth can-i --list)', async () => {
    // What any service account may do (discovery, self reviews, ...) is subtracted: a second
    // service account without RBAC shows it.
    const nobody = await serviceAccountKubeconfig({ namespace: operatorNs, name: 'nobody' });
    const list = async (kubeconfig: string) => {
      const { stdout } = await runKubectl(inject('kubectl'), kubeconfig, [
        'auth',
        'can-i',
        '--list',
        '-n',
        otherNs,
      ]);
      return stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.trim().replace(/\s+/g, ' '));
    };
    const baseline = new Set(await list(nobody.kubeconfig));
    const rows = (await list(sa.kubeconfig)).filter((row) => !baseline.has(row)).sort();
    expect(rows).toEqual(
      [
        `${apps} [] [] [get list watch patch]`,
        `${apps}/status [] [] [get patch]`,
        `${apps}/finalizers [] [] [update]`,
        'events.events.k8s.io [] [] [create patch]',
        'namespaces [] [kube-system] [get]',
      ].sort(),
    );
  });
});
