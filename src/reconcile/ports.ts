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
  /**
   * Server-side apply of the whole status (field manager emr-serverless-operator); answers the
   * object's new resourceVersion when known (later optimistic writes must use it).
   */
  applyStatus(obj: T, status: S): Promise<string | undefined>;
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
  /**
   * The wait follows a refusal that needs a person elsewhere (access denied, a quota): label and
   * annotation edits do not cut it short, as they do not cut a backoff short (predicates.ts).
   */
  holdOff?: boolean;
}

/** May this process write now? False once leadership is lost or cannot be confirmed. */
export type WriteGuard = () => boolean;

/** Thrown before a write when the write guard says no (the leader lease is gone). */
export class WritesStoppedError extends Error {
  constructor(what: string) {
    super(`not sending ${what}: this process may no longer write (leader lease lost)`);
    this.name = 'WritesStoppedError';
  }
}

/** Throws unless the guard allows a write. */
export function assertMayWrite(guard: WriteGuard | undefined, what: string): void {
  if (guard && !guard()) throw new WritesStoppedError(what);
}
