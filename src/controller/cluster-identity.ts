// The cluster's identity for the ownership tags: the uid of the kube-system namespace, which
// every cluster has and which stays the same for the cluster's life.
import { type KubeClient, resourcePath } from '../kube/client.js';

export const CLUSTER_IDENTITY_NAMESPACE = 'kube-system';

export async function readClusterUid(kube: KubeClient): Promise<string> {
  const namespace = await kube.request<{ metadata?: { uid?: string } }>({
    method: 'GET',
    path: resourcePath({ group: '', version: 'v1', plural: 'namespaces', name: CLUSTER_IDENTITY_NAMESPACE }),
  });
  const uid = namespace.metadata?.uid;
  if (!uid) throw new Error(`namespace ${CLUSTER_IDENTITY_NAMESPACE} has no uid`);
  return uid;
}
