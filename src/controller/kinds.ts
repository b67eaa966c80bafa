// The operator's kinds as the manager runs them: one controller each, with what it watches.
import {
  APPLICATION_KIND,
  APPLICATION_PLURAL,
  GROUP,
  JOB_RUN_KIND,
  JOB_RUN_PLURAL,
  VERSION,
} from '../api/constants.js';
import type { EmrServerlessJobRun } from '../api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../api/schema.js';
import { unsubmittedJobRunsOf } from '../reconcile/jobrun/reconciler.js';
import type { ControllerDefinition, ReconcilerFactory } from './controller.js';

/** The controllers' names (their `controller` metrics label). */
export const APPLICATION_CONTROLLER = 'emrserverlessapplication';
export const JOB_RUN_CONTROLLER = 'emrserverlessjobrun';

export function applicationController(
  reconciler: ReconcilerFactory<EmrServerlessApplication>,
): ControllerDefinition<EmrServerlessApplication> {
  return {
    name: APPLICATION_CONTROLLER,
    resource: { group: GROUP, version: VERSION, plural: APPLICATION_PLURAL, kind: APPLICATION_KIND },
    reconciler,
    reportsResourceMetrics: true,
  };
}

/**
 * Job runs also watch applications: a job run waiting for its application to be bound (or to
 * recover from Stalled) is reconciled as soon as the application changes, not on the next poll.
 */
export function jobRunController(
  reconciler: ReconcilerFactory<EmrServerlessJobRun>,
): ControllerDefinition<EmrServerlessJobRun> {
  return {
    name: JOB_RUN_CONTROLLER,
    resource: { group: GROUP, version: VERSION, plural: JOB_RUN_PLURAL, kind: JOB_RUN_KIND },
    reconciler,
    watches: [
      {
        plural: APPLICATION_PLURAL,
        map: (app, cache) =>
          app.metadata.namespace
            ? unsubmittedJobRunsOf(cache, app.metadata.namespace, app.metadata.name)
            : [],
      },
    ],
  };
}
