// The job run's writes to itself: those of every kind (resource-writer.ts), and deletion once
// ttlSecondsAfterFinished has passed, which only job runs do (RBAC grants delete on them alone).
import type { KubeConfig } from '@kubernetes/client-node';
import { GROUP, JOB_RUN_PLURAL, VERSION } from '../api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../api/jobrun-schema.js';
import type { JobRunWriter } from '../reconcile/jobrun/reconciler.js';
import { httpStatusOf } from './kube-errors.js';
import { KubeResourceWriter } from './resource-writer.js';

export class KubeJobRunWriter
  extends KubeResourceWriter<EmrServerlessJobRun, JobRunStatus>
  implements JobRunWriter
{
  constructor(kubeConfig: KubeConfig) {
    super(kubeConfig, JOB_RUN_PLURAL);
  }

  /** Deletes the resource (the finalizer then runs), only the very object read (uid precondition). */
  async delete(obj: EmrServerlessJobRun): Promise<void> {
    const { name, namespace, uid } = obj.metadata;
    try {
      await this.api.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: JOB_RUN_PLURAL,
        name,
        propagationPolicy: 'Background',
        body: { preconditions: { uid } },
      });
    } catch (error) {
      // Gone already, or replaced by a new object of the same name: not ours to delete.
      const status = httpStatusOf(error);
      if (status === 404 || status === 409) return;
      throw error;
    }
  }
}
