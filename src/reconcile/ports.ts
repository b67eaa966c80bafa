// What the reconciler needs from Kubernetes. The controller implements these; the reconciler
// never talks to the API server itself.
import type { EmrServerlessApplication, ObjectMeta, Status } from '../api/schema.js';

/** What every kind of the operator has: enough to write to it and about it. */
export interface KubeResource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export interface ResourceWriter<T extends KubeResource = EmrServerlessApplication, S = Status> {
  /** Adds the finalizer (optimistic concurrency on resourceVersion); answers the updated object. */
  addFinalizer(obj: T): Promise<T>;
  /** Removes the finalizer; the object may disappear right after. */
  removeFinalizer(obj: T): Promise<void>;
  /** Server-side apply of the whole status (field manager emr-serverless-operator). */
  applyStatus(obj: T, status: S): Promise<void>;
}

export interface RecordedEvent {
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. KeyChanged. */
  reason: string;
  /** What the operator did or is doing, e.g. UpdateApplication, WaitForStop. */
  action: string;
  message: string;
}

export interface EventRecorder {
  /** Fire and forget; identical events are aggregated by the recorder. */
  record(obj: KubeResource, event: RecordedEvent): void;
}

export interface ReconcileResult {
  /** Look again after this long even if nothing changes (polling AWS, drift resync). */
  requeueAfterMs?: number;
}
