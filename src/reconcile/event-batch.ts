// The events of one reconcile, any kind: each said once even when several steps plan it.
import type { EventRecorder, KubeResource, RecordedEvent } from './ports.js';

export class EventBatch implements EventRecorder {
  private readonly seen = new Set<string>();
  private readonly pending: RecordedEvent[] = [];

  add(events: RecordedEvent[]): void {
    for (const e of events) {
      const id = `${e.type}/${e.reason}/${e.message}`;
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      this.pending.push(e);
    }
  }

  /** Also usable as the executor's recorder: action events pass through the same filter. */
  record(_resource: KubeResource, event: RecordedEvent): void {
    this.add([event]);
  }

  flush(recorder: EventRecorder, resource: KubeResource): void {
    for (const e of this.pending.splice(0)) recorder.record(resource, e);
  }
}
