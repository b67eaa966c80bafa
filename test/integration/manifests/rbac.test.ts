// The RBAC in manifests/rbac.yaml, checked as the operator's own service account (a token from
// the TokenRequest API, as a pod gets): everything the operator calls is allowed, in any
// namespace for its resources and in its own namespace for the leader Lease; nothing else is.
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { APPLICATION_PLURAL, JOB_RUN_PLURAL, POLICY_PLURAL } from '../../../src/api/constants.js';
import {
  runKubectl,
  type ServiceAccountKubeconfig,
  waitForCrdsEstablished,
} from '../../../src/envtest/index.js';
import { kubectl, newNamespace, serviceAccountKubeconfig } from '../../support/cluster.js';
import { operatorRbacObjects, operatorServiceAccountKubeconfig } from '../../support/operator-rbac.js';
import { all, canI, forbiddenAccess, neededAccess } from '../../support/rbac-checks.js';

const CRD_DIR = new URL('../../../crds/', import.meta.url).pathname;
const apps = 'emrserverlessapplications.emrserverless.operator.dev';
const jobs = 'emrserverlessjobruns.emrserverless.operator.dev';
const policies = `${POLICY_PLURAL}.emrserverless.operator.dev`;
const LEASE = 'emr-serverless-operator';

let sa: ServiceAccountKubeconfig;
let operatorNs: string;
let otherNs: string;

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
  await waitForCrdsEstablished(kubectl, [`crd/${apps}`, `crd/${jobs}`, `crd/${policies}`]);
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

/** The kinds the operator serves; the informer and resource-writer.ts serve each of them. */
const KINDS = [APPLICATION_PLURAL, JOB_RUN_PLURAL].map((plural) => `emrserverless.operator.dev/${plural}`);
/** The policies, which it only reads (namespace-policies.ts, through an Informer). */
const POLICIES = `emrserverless.operator.dev/${POLICY_PLURAL}`;
/** What each file of src/controller that talks to the API server talks about. */
const RESOURCES_OF_FILE: Record<string, string[]> = {
  'informer.ts': KINDS,
  'resource-writer.ts': KINDS,
  'jobrun-writer.ts': ['emrserverless.operator.dev/emrserverlessjobruns'],
  'leader.ts': ['coordination.k8s.io/leases'],
  'events.ts': ['events.k8s.io/events'],
  'namespace-roles.ts': ['/namespaces'],
  'cluster-identity.ts': ['/namespaces'],
};
const VERBS: Record<string, string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/**
 * The Kubernetes calls in src/controller, as "apiGroup/resource verb", read from the source: each
 * `.request({ method, path })` and `.watch(` of the Kubernetes client, on the resources of its
 * file (RESOURCES_OF_FILE; the informer's GET is a list, a path naming 'status' the
 * subresource), and informers of core resources.
 */
function callsInSource(): Set<string> {
  const dir = new URL('../../../src/controller/', import.meta.url);
  const calls = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    // An Informer of a core resource (namespace-roles.ts: namespaces) lists and watches it.
    for (const [, plural] of source.matchAll(/\{ group: '', version: '\w+', plural: '(\w+)'/g)) {
      calls.add(`/${plural} list`);
      calls.add(`/${plural} watch`);
    }
    // So does the Informer of the policies (namespace-policies.ts).
    if (/\{ group: GROUP, version: VERSION, plural: POLICY_PLURAL/.test(source)) {
      calls.add(`${POLICIES} list`);
      calls.add(`${POLICIES} watch`);
    }
    const requests = [...source.matchAll(/\.request(?:<[^(]*?>)?\(\{\s*method: '(\w+)',\s*path: ([^\n]+)/g)];
    const watches = /kube\s*\.watch\(/.test(source);
    if (requests.length === 0 && !watches) continue;
    const resources = RESOURCES_OF_FILE[file];
    if (!resources) throw new Error(`${file}: teach this test what its Kubernetes calls are about`);
    if (watches) for (const r of resources) calls.add(`${r} watch`);
    for (const [, method, path] of requests) {
      const verb = file === 'informer.ts' && method === 'GET' ? 'list' : VERBS[method!];
      if (!verb) throw new Error(`${file}: teach this test what ${method} needs`);
      const sub = path!.includes("'status'") ? '/status' : '';
      for (const r of resources) calls.add(`${r}${sub} ${verb}`);
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
      '/namespaces list',
      '/namespaces watch',
      'coordination.k8s.io/leases create',
      'coordination.k8s.io/leases get',
      'coordination.k8s.io/leases update',
      'emrserverless.operator.dev/emrserverlessapplications list',
      'emrserverless.operator.dev/emrserverlessapplications patch',
      'emrserverless.operator.dev/emrserverlessapplications watch',
      'emrserverless.operator.dev/emrserverlessapplications/status patch',
      'emrserverless.operator.dev/emrserverlessjobruns delete',
      'emrserverless.operator.dev/emrserverlessjobruns list',
      'emrserverless.operator.dev/emrserverlessjobruns patch',
      'emrserverless.operator.dev/emrserverlessjobruns watch',
      'emrserverless.operator.dev/emrserverlessjobruns/status patch',
      'emrserverless.operator.dev/emrserverlesspolicies list',
      'emrserverless.operator.dev/emrserverlesspolicies watch',
      'events.k8s.io/events create',
      'events.k8s.io/events patch',
    ]);
    expect(calls.filter((call) => !granted.has(call))).toEqual([]);
  });
});

describe("the operator's service account", () => {
  const scope = () => ({ operatorNs, watchedNs: otherNs, lease: LEASE });

  it('may do everything the operator calls', async () => {
    const needed = neededAccess(scope());
    expect(await canI(sa.kubeconfig, needed)).toEqual(all(needed, true));
  });

  it('may do nothing else', async () => {
    const forbidden = forbiddenAccess(scope());
    expect(await canI(sa.kubeconfig, forbidden)).toEqual(all(forbidden, false));
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
        `${jobs} [] [] [get list watch patch delete]`,
        `${jobs}/status [] [] [get patch]`,
        `${jobs}/finalizers [] [] [update]`,
        'events.events.k8s.io [] [] [create patch]',
        'namespaces [] [] [get list watch]',
        `${policies} [] [] [get list watch]`,
      ].sort(),
    );
  });
});
