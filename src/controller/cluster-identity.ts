// The cluster's identity for the ownership tags: the uid of the kube-system namespace, which
// every cluster has and which stays the same for the cluster's life.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

export const CLUSTER_IDENTITY_NAMESPACE = 'kube-system';

class ClusterIdentityReader {
  private readonly api: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(): Promise<string> {
    const namespace = await this.api.readNamespace({ name: CLUSTER_IDENTITY_NAMESPACE });
    const uid = namespace.metadata?.uid;
    if (!uid) throw new Error(`namespace ${CLUSTER_IDENTITY_NAMESPACE} has no uid`);
    return uid;
  }
}

export function readClusterUid(kubeConfig: KubeConfig): Promise<string> {
  return new ClusterIdentityReader(kubeConfig).read();
}
