// The job run's writes to itself: those of every kind (resource-writer.ts), and deletion once
// ttlSecondsAfterFinished has passed, which only job runs do (RBAC grants delete on them alone).
import { JOB_RUN_PLURAL } from '../api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../api/jobrun-schema.js';
import type { KubeClient } from '../kube/client.js';
import { httpStatusOf } from '../kube/errors.js';
import type { JobRunWriter } from '../reconcile/jobrun/reconciler.js';
import { KubeResourceWriter } from './resource-writer.js';

export class KubeJobRunWriter
  extends KubeResourceWriter<EmrServerlessJobRun, JobRunStatus>
  implements JobRunWriter
{
  constructor(kube: KubeClient) {
    super(kube, JOB_RUN_PLURAL);
  }

  /** Deletes the resource (the finalizer then runs), only the very object read (uid precondition). */
  async delete(obj: EmrServerlessJobRun): Promise<void> {
    try {
      await this.kube.request({
        method: 'DELETE',
        path: this.path(obj),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          preconditions: { uid: obj.metadata.uid },
        },
      });
    } catch (error) {
      // Gone already, or replaced by a new object of the same name: not ours to delete.
      const status = httpStatusOf(error);
      if (status === 404 || status === 409) return;
      throw error;
    }
  }
}
