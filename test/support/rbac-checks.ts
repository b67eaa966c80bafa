// What the operator's service account must and must not be allowed, as `kubectl auth can-i`
// arguments: one list for every way it is installed (manifests/, the Helm chart).
import { inject } from 'vitest';
import { runKubectl } from '../../src/envtest/index.js';

export const APPS = 'emrserverlessapplications.emrserverless.operator.dev';
export const JOBS = 'emrserverlessjobruns.emrserverless.operator.dev';

export interface RbacScope {
  /** Where the operator runs (its Lease lives there). */
  operatorNs: string;
  /** A namespace it watches. */
  watchedNs: string;
  /** Its Lease's name. */
  lease: string;
  /** Cluster-wide rights (watching all namespaces); false when bound in watched namespaces only. */
  clusterWide?: boolean;
}

/** Every call the operator makes (src/controller), where it makes it. */
export function neededAccess({ operatorNs, watchedNs, lease, clusterWide = true }: RbacScope): string[][] {
  return [
    // informer.ts: list + watch, cluster-wide or per namespace (--namespace)
    ...(clusterWide
      ? [
          ['list', APPS, '--all-namespaces'],
          ['watch', APPS, '--all-namespaces'],
        ]
      : []),
    ['list', APPS, '-n', watchedNs],
    ['watch', APPS, '-n', watchedNs],
    ['get', APPS, '-n', watchedNs],
    // resource-writer.ts: the finalizer (JSON patch) and status (server-side apply = patch)
    ['patch', APPS, '-n', watchedNs],
    ['patch', APPS, '--subresource=status', '-n', watchedNs],
    ['update', APPS, '--subresource=finalizers', '-n', watchedNs],
    // the same for job runs, and delete (jobrun-writer.ts: ttlSecondsAfterFinished)
    ...(clusterWide
      ? [
          ['list', JOBS, '--all-namespaces'],
          ['watch', JOBS, '--all-namespaces'],
        ]
      : []),
    ['list', JOBS, '-n', watchedNs],
    ['watch', JOBS, '-n', watchedNs],
    ['get', JOBS, '-n', watchedNs],
    ['patch', JOBS, '-n', watchedNs],
    ['patch', JOBS, '--subresource=status', '-n', watchedNs],
    ['update', JOBS, '--subresource=finalizers', '-n', watchedNs],
    ['delete', JOBS, '-n', watchedNs],
    // events.ts: events.k8s.io/v1, next to the resource
    ['create', 'events.events.k8s.io', '-n', watchedNs],
    ['patch', 'events.events.k8s.io', '-n', watchedNs],
    // leader.ts: its Lease, in its own namespace
    ['create', 'leases.coordination.k8s.io', '-n', operatorNs],
    ['get', `leases.coordination.k8s.io/${lease}`, '-n', operatorNs],
    ['update', `leases.coordination.k8s.io/${lease}`, '-n', operatorNs],
    // cluster-identity.ts: the kube-system namespace, whose uid names the cluster
    ['get', 'namespaces/kube-system'],
    // namespace-roles.ts: the namespaces, whose annotations name their IAM roles (watched)
    ['get', `namespaces/${watchedNs}`],
    ['list', 'namespaces'],
    ['watch', 'namespaces'],
  ];
}

/** What it must never be able to do. */
export function forbiddenAccess({ operatorNs, watchedNs, lease }: RbacScope): string[][] {
  return [
    ['get', 'secrets', '-n', operatorNs],
    ['list', 'secrets', '--all-namespaces'],
    ['get', 'configmaps', '-n', watchedNs],
    ['create', 'pods', '-n', operatorNs],
    ['create', 'pods', '-n', watchedNs],
    ['delete', 'namespaces', watchedNs],
    ['patch', `namespaces/${watchedNs}`],
    ['update', 'namespaces/kube-system'],
    ['create', 'serviceaccounts/token', '-n', operatorNs],
    ['impersonate', 'serviceaccounts', '-n', operatorNs],
    ['create', 'clusterrolebindings'],
    ['update', 'customresourcedefinitions'],
    // its own resources: never created, replaced or deleted (spec is the user's)
    ['create', APPS, '-n', watchedNs],
    ['update', APPS, '-n', watchedNs],
    ['delete', APPS, '-n', watchedNs],
    ['deletecollection', APPS, '-n', watchedNs],
    ['update', APPS, '--subresource=status', '-n', watchedNs],
    ['get', APPS, '--subresource=finalizers', '-n', watchedNs],
    // job runs: deleted one by one only (ttlSecondsAfterFinished), never created or replaced
    ['create', JOBS, '-n', watchedNs],
    ['update', JOBS, '-n', watchedNs],
    ['deletecollection', JOBS, '-n', watchedNs],
    ['update', JOBS, '--subresource=status', '-n', watchedNs],
    // events: no reading, deleting, or core/v1 events
    ['list', 'events.events.k8s.io', '-n', watchedNs],
    ['delete', 'events.events.k8s.io', '-n', watchedNs],
    ['create', 'events', '-n', watchedNs],
    // leases: only its own, only in its namespace
    ['get', 'leases.coordination.k8s.io/kube-controller-manager', '-n', operatorNs],
    ['update', 'leases.coordination.k8s.io/other', '-n', operatorNs],
    ['delete', `leases.coordination.k8s.io/${lease}`, '-n', operatorNs],
    ['list', 'leases.coordination.k8s.io', '-n', operatorNs],
    ['create', 'leases.coordination.k8s.io', '-n', watchedNs],
    ['get', `leases.coordination.k8s.io/${lease}`, '-n', watchedNs],
    ['update', `leases.coordination.k8s.io/${lease}`, '-n', 'kube-system'],
  ];
}

/** `kubectl auth can-i` for each case, as the holder of `kubeconfig`: "args joined" -> allowed. */
export async function canI(kubeconfig: string, cases: string[][]): Promise<Record<string, boolean>> {
  const answers = await Promise.all(
    cases.map(async (args) => {
      const result = await runKubectl(inject('kubectl'), kubeconfig, ['auth', 'can-i', ...args], {
        check: false,
      });
      if (result.exitCode > 1) throw new Error(`kubectl auth can-i ${args.join(' ')}: ${result.stderr}`);
      return result.stdout.trim() === 'yes';
    }),
  );
  return Object.fromEntries(cases.map((c, i) => [c.join(' '), answers[i]!]));
}

/** The answers `canI` must give: every case `allowed`. */
export const all = (cases: string[][], allowed: boolean): Record<string, boolean> =>
  Object.fromEntries(cases.map((c) => [c.join(' '), allowed]));
