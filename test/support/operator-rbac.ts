// The operator's Kubernetes identity as shipped in manifests/ (serviceaccount.yaml, rbac.yaml),
// for tests that run the operator under exactly that RBAC:
//
//   const sa = await operatorServiceAccountKubeconfig(ns);   // cluster project only
//   // ...then start the operator with --kubeconfig sa.kubeconfig --leader-election-namespace ns
//
// or, lower level, operatorRbacObjects({ namespace }) with serviceAccountKubeconfig() from ./cluster.js.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ServiceAccountKubeconfig } from '../../src/envtest/index.js';

/** Where manifests/ installs the operator. */
export const OPERATOR_NAMESPACE = 'emr-serverless-operator';
/** The operator's service account (same name in every namespace it is installed in). */
export const OPERATOR_SERVICE_ACCOUNT = 'emr-serverless-operator';

const RBAC_FILE = new URL('../../manifests/rbac.yaml', import.meta.url);

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
  [key: string]: unknown;
}

function isObject(doc: unknown): doc is KubeObject {
  return typeof doc === 'object' && doc !== null && 'kind' in doc && 'metadata' in doc;
}

/** The documents of manifests/rbac.yaml, as written. */
export function readRbacManifest(): KubeObject[] {
  return parseAllDocuments(readFileSync(RBAC_FILE, 'utf8'))
    .map((doc) => doc.toJS() as unknown)
    .filter(isObject);
}

export interface OperatorRbacOptions {
  /**
   * Install for a service account in this namespace instead of `emr-serverless-operator`, so tests
   * sharing one API server do not overwrite each other: namespaced objects and binding subjects
   * move there, and cluster-scoped objects get a `-<namespace>` suffix (roleRefs follow).
   */
  namespace?: string;
}

/**
 * The ClusterRole, ClusterRoleBinding, Role and RoleBinding of manifests/rbac.yaml, bound to the
 * operator's service account (in `options.namespace` when given).
 */
export function operatorRbacObjects(options: OperatorRbacOptions = {}): object[] {
  const objects = readRbacManifest();
  const namespace = options.namespace;
  if (!namespace || namespace === OPERATOR_NAMESPACE) return objects;
  const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding']);
  const renamed = (name: string) => `${name}-${namespace}`;
  return objects.map((obj) => {
    const copy = structuredClone(obj);
    if (clusterScoped.has(copy.kind)) copy.metadata.name = renamed(copy.metadata.name);
    else copy.metadata.namespace = namespace;
    if (copy.roleRef?.kind === 'ClusterRole') copy.roleRef.name = renamed(copy.roleRef.name);
    for (const subject of copy.subjects ?? []) {
      if (subject.kind === 'ServiceAccount') subject.namespace = namespace;
    }
    return copy;
  });
}

/**
 * A kubeconfig for the operator's service account in `namespace` (created if needed), with the
 * RBAC of manifests/ applied. Only in the `cluster` vitest project (it uses the shared control plane).
 */
export async function operatorServiceAccountKubeconfig(namespace: string): Promise<ServiceAccountKubeconfig> {
  const { serviceAccountKubeconfig } = await import('./cluster.js');
  return serviceAccountKubeconfig({
    namespace,
    name: OPERATOR_SERVICE_ACCOUNT,
    rbacManifests: operatorRbacObjects({ namespace }),
  });
}
