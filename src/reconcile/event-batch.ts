// The events of one reconcile, any kind: each said once even when several steps plan it.
//
// Two sources, two fates. An action's event tells what AWS or Kubernetes now holds: it is said
// whatever happens next. A plan's event announces a state the status is about to record
// ("waiting for…", "stalled: …"); it is said only once that status is written, so a refused
// (stale) status write, which is retried, does not announce the same state twice.
import type { EventRecorder, KubeResource, RecordedEvent } from './ports.js';

export class EventBatch {
  private readonly seen = new Set<string>();
  private readonly planned: RecordedEvent[] = [];
  private readonly done: RecordedEvent[] = [];

  /** Events a plan announces: said by `flush`, after the status that records them is written. */
  announce(events: readonly RecordedEvent[]): void {
    this.push(this.planned, events);
  }

  /** Events of an action that succeeded: said by either flush. */
  acted(events: readonly RecordedEvent[]): void {
    this.push(this.done, events);
  }

  /** Says every pending event. */
  flush(recorder: EventRecorder, resource: KubeResource): void {
    this.flushActions(recorder, resource);
    for (const e of this.planned.splice(0)) recorder.record(resource, e);
  }

  /** Says the actions' events only (a reconcile that ends without writing its status). */
  flushActions(recorder: EventRecorder, resource: KubeResource): void {
    for (const e of this.done.splice(0)) recorder.record(resource, e);
  }

  private push(into: RecordedEvent[], events: readonly RecordedEvent[]): void {
    for (const e of events) {
      const id = `${e.type}/${e.reason}/${e.message}`;
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      into.push(e);
    }
  }
}
