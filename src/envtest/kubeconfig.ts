import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runKubectl } from './kubectl.js';

export interface KubeconfigSettings {
  server: string;
  /** PEM bundle the client trusts for the server's certificate. */
  caData: Buffer;
  user: string;
  token: string;
  namespace?: string;
}

/** Writes a single-cluster, single-user kubeconfig (owner-only: it holds a bearer token). */
export function writeKubeconfig(path: string, s: KubeconfigSettings): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'envtest',
        cluster: { server: s.server, 'certificate-authority-data': s.caData.toString('base64') },
      },
    ],
    users: [{ name: s.user, user: { token: s.token } }],
    contexts: [
      {
        name: `${s.user}@envtest`,
        context: { cluster: 'envtest', user: s.user, ...(s.namespace && { namespace: s.namespace }) },
      },
    ],
    'current-context': `${s.user}@envtest`,
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}

/** Server URL and CA of the first cluster in a kubeconfig written by `writeKubeconfig`. */
function readClusterOf(kubeconfigPath: string): { server: string; caData: Buffer } {
  const config = parse(readFileSync(kubeconfigPath, 'utf8'));
  const cluster = config?.clusters?.[0]?.cluster;
  if (!cluster?.server || !cluster['certificate-authority-data']) {
    throw new Error(`${kubeconfigPath} has no cluster with server and certificate-authority-data`);
  }
  return { server: cluster.server, caData: Buffer.from(cluster['certificate-authority-data'], 'base64') };
}

export interface ServiceAccountKubeconfigOptions {
  namespace: string;
  name: string;
  /**
   * RBAC to apply before minting the token: paths of YAML files or directories, or objects
   * (Role, ClusterRole, RoleBinding, ClusterRoleBinding, ...). Namespaced objects without a
   * namespace land in `namespace`.
   */
  rbacManifests?: Array<string | object>;
  /** Token lifetime requested from the TokenRequest API (default 24 h). */
  expirationSeconds?: number;
}

export interface ServiceAccountKubeconfig {
  /** Path of a kubeconfig whose user is the service account, default namespace `namespace`. */
  kubeconfig: string;
  namespace: string;
  serviceAccount: string;
  /** How RBAC sees it: system:serviceaccount:<namespace>:<name>. */
  username: string;
}

export interface AdminAccess {
  /** kubectl binary. */
  kubectl: string;
  /** Admin kubeconfig of the control plane. */
  kubeconfig: string;
  /** Where the new kubeconfig file is written. */
  outputDir: string;
}

/**
 * Creates (or updates) a namespace and service account, applies the given RBAC and writes a
 * kubeconfig holding a token minted through the TokenRequest API, i.e. what a pod would get.
 */
export async function createServiceAccountKubeconfig(
  admin: AdminAccess,
  options: ServiceAccountKubeconfigOptions,
): Promise<ServiceAccountKubeconfig> {
  const { namespace, name, rbacManifests = [], expirationSeconds = 24 * 3600 } = options;
  const kubectl = (args: string[], input?: string) =>
    runKubectl(admin.kubectl, admin.kubeconfig, args, input === undefined ? {} : { input });
  const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

  await kubectl(
    ['apply', '-f', '-'],
    list([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    ]),
  );
  for (const manifest of rbacManifests) {
    if (typeof manifest === 'string') await kubectl(['apply', '-n', namespace, '-f', manifest]);
  }
  const objects = rbacManifests.filter((manifest) => typeof manifest !== 'string');
  if (objects.length > 0) await kubectl(['apply', '-n', namespace, '-f', '-'], list(objects));

  const { stdout: token } = await kubectl([
    'create',
    'token',
    name,
    '-n',
    namespace,
    `--duration=${expirationSeconds}s`,
  ]);
  const kubeconfig = join(admin.outputDir, `${namespace}.${name}.kubeconfig`);
  writeKubeconfig(kubeconfig, {
    ...readClusterOf(admin.kubeconfig),
    user: name,
    token: token.trim(),
    namespace,
  });
  return {
    kubeconfig,
    namespace,
    serviceAccount: name,
    username: `system:serviceaccount:${namespace}:${name}`,
  };
}
