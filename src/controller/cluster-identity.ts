// The cluster's identity for the ownership tags: the uid of the kube-system namespace, which
// every cluster has and which stays the same for the cluster's life.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

export const CLUSTER_IDENTITY_NAMESPACE = 'kube-system';

export async function readClusterUid(kubeConfig: KubeConfig): Promise<string> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const namespace = await api.readNamespace({ name: CLUSTER_IDENTITY_NAMESPACE });
  const uid = namespace.metadata?.uid;
  if (!uid) throw new Error(`namespace ${CLUSTER_IDENTITY_NAMESPACE} has no uid`);
  return uid;
}
