// Kubernetes Events (events.k8s.io/v1) for the operator's resources, without storms.
//
// Identical events (same object, type, reason and message) seen again within the window (10 min
// after the last one) form a series: the first occurrence creates an Event, repeats only update
// its `series` {count, lastObservedTime}, and at most once per patch interval (30 s); a repeat
// inside the interval schedules one deferred write so the final count still reaches the server.
// The correlation state is an LRU of bounded size. Failures are logged, never thrown: recording an
// event must not fail a reconcile.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { GROUP } from '../api/constants.js';
import { type KubeClient, microTime, PATCH_TYPES, resourcePath } from '../kube/client.js';
import { describeError, httpStatusOf } from '../kube/errors.js';
import type { EventRecorder, KubeResource, RecordedEvent } from '../reconcile/ports.js';

export const REPORTING_CONTROLLER = `${GROUP}/emr-serverless-operator`;

// --- the pure part: deciding when to write ----------------------------------------------------

export interface SeriesEntry<P = unknown> {
  key: string;
  /** Occurrences in this series so far. */
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** When the last write (create or patch) was started; -Infinity before the first. */
  lastWriteAt: number;
  /** A deferred write is scheduled. */
  flushScheduled: boolean;
  /** Whatever the recorder needs to write this series (the Event's name, regarding, ...). */
  payload: P;
}

export type Decision<P> =
  /** Write now: create the Event (a new series) or patch its series. */
  | { kind: 'write'; entry: SeriesEntry<P>; isNew: boolean }
  /** Too soon after the last write: schedule one write after `delayMs`. */
  | { kind: 'defer'; entry: SeriesEntry<P>; delayMs: number }
  /** Counted; a write is already scheduled. */
  | { kind: 'none'; entry: SeriesEntry<P> };

export interface EventCorrelatorOptions {
  /** A repeat later than this after the last occurrence starts a new Event (default 10 min). */
  windowMs?: number;
  /** Minimum time between two writes of one series (default 30 s). */
  patchIntervalMs?: number;
  /** Series remembered at most (least recently seen are forgotten first; default 4096). */
  maxEntries?: number;
}

export class EventCorrelator<P> {
  private readonly entries = new Map<string, SeriesEntry<P>>();
  readonly windowMs: number;
  readonly patchIntervalMs: number;
  readonly maxEntries: number;

  constructor(options: EventCorrelatorOptions = {}) {
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.patchIntervalMs = options.patchIntervalMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 4096;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Counts one occurrence of `key` at `now` and says what to write. `payload` makes a new series. */
  observe(key: string, now: number, payload: () => P): Decision<P> {
    const existing = this.entries.get(key);
    if (existing && now - existing.lastSeen <= this.windowMs) {
      existing.count++;
      existing.lastSeen = now;
      // Most recently seen last: the Map's order is the LRU order.
      this.entries.delete(key);
      this.entries.set(key, existing);
      if (now - existing.lastWriteAt >= this.patchIntervalMs)
        return { kind: 'write', entry: existing, isNew: false };
      if (existing.flushScheduled) return { kind: 'none', entry: existing };
      return { kind: 'defer', entry: existing, delayMs: existing.lastWriteAt + this.patchIntervalMs - now };
    }
    if (existing) this.entries.delete(key);
    const entry: SeriesEntry<P> = {
      key,
      count: 1,
      firstSeen: now,
      lastSeen: now,
      lastWriteAt: Number.NEGATIVE_INFINITY,
      flushScheduled: false,
      payload: payload(),
    };
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return { kind: 'write', entry, isNew: true };
  }
}

/** Identity of an event for aggregation. */
export function correlationKey(obj: KubeResource, event: RecordedEvent): string {
  return [obj.metadata.uid, event.type, event.reason, event.message].join('\u0000');
}

/** Event names as client-go makes them: the object's name, a dot, a unique hex suffix. */
export function eventName(objectName: string, now: number): string {
  return `${objectName.slice(0, 200)}.${now.toString(16)}${randomBytes(4).toString('hex')}`;
}

/** Truncates `text` to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes - 3) break;
    out += ch;
    bytes += n;
  }
  return `${out}...`;
}

// --- the recorder -----------------------------------------------------------------------------

/** An events.k8s.io/v1 Event, the fields the recorder writes. */
interface KubeEvent {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  /** MicroTime strings */
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: string;
  note: string;
  regarding: {
    apiVersion?: string | undefined;
    kind?: string | undefined;
    name: string;
    namespace: string;
    uid?: string | undefined;
    resourceVersion?: string;
  };
}

const EVENTS = { group: 'events.k8s.io', version: 'v1', plural: 'events' };

interface Payload {
  name: string;
  namespace: string;
  created: boolean;
  body: KubeEvent;
  /** Writes of one series happen one after the other. */
  chain: Promise<void>;
}

export interface KubeEventRecorderOptions extends EventCorrelatorOptions {
  kube: KubeClient;
  logger: Logger;
  /** Pod name; defaults to POD_NAME, then HOSTNAME, then the host name. */
  reportingInstance?: string;
  now?: () => number;
}

export class KubeEventRecorder implements EventRecorder {
  private readonly kube: KubeClient;
  private readonly correlator: EventCorrelator<Payload>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly reportingInstance: string;
  private readonly pending = new Set<Promise<void>>();
  /** Deferred writes, by their timer. */
  private readonly deferred = new Map<NodeJS.Timeout, SeriesEntry<Payload>>();

  constructor(options: KubeEventRecorderOptions) {
    this.kube = options.kube;
    this.correlator = new EventCorrelator(options);
    this.log = options.logger.child({ component: 'events' });
    this.now = options.now ?? Date.now;
    this.reportingInstance = (
      options.reportingInstance ??
      process.env.POD_NAME ??
      process.env.HOSTNAME ??
      hostname()
    ).slice(0, 128);
  }

  record(obj: KubeResource, event: RecordedEvent): void {
    try {
      const now = this.now();
      const decision = this.correlator.observe(correlationKey(obj, event), now, () =>
        this.newPayload(obj, event, now),
      );
      const { entry } = decision;
      if (decision.kind === 'write') {
        this.write(entry);
      } else if (decision.kind === 'defer') {
        entry.flushScheduled = true;
        const timer = setTimeout(() => {
          this.deferred.delete(timer);
          entry.flushScheduled = false;
          this.write(entry);
        }, decision.delayMs);
        timer.unref();
        this.deferred.set(timer, entry);
      }
    } catch (error) {
      this.log.warn({ err: describeError(error), reason: event.reason }, 'could not record event');
    }
  }

  /** Writes the series with deferred updates now and waits for all writes (for shutdown). */
  async flush(): Promise<void> {
    for (const [timer, entry] of this.deferred) {
      clearTimeout(timer);
      entry.flushScheduled = false;
      this.write(entry);
    }
    this.deferred.clear();
    await Promise.allSettled([...this.pending]);
  }

  private newPayload(obj: KubeResource, event: RecordedEvent, now: number): Payload {
    const { name, namespace, uid, resourceVersion } = obj.metadata;
    return {
      name: eventName(name, now),
      namespace,
      created: false,
      chain: Promise.resolve(),
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: '', namespace },
        eventTime: microTime(now),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.reportingInstance,
        action: truncateUtf8(event.action, 128),
        reason: truncateUtf8(event.reason, 128),
        type: event.type,
        note: truncateUtf8(event.message, 1024),
        regarding: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name,
          namespace,
          uid,
          ...(resourceVersion && { resourceVersion }),
        },
      },
    };
  }

  private write(entry: SeriesEntry<Payload>): void {
    entry.lastWriteAt = this.now();
    const payload = entry.payload;
    const run = payload.chain.then(() => this.writeNow(entry));
    payload.chain = run;
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  private async writeNow(entry: SeriesEntry<Payload>): Promise<void> {
    const payload = entry.payload;
    const count = entry.count;
    const series = count > 1 ? { count, lastObservedTime: microTime(entry.lastSeen) } : undefined;
    try {
      if (!payload.created) {
        const body: KubeEvent = {
          ...payload.body,
          metadata: { name: payload.name, namespace: payload.namespace },
          ...(series && { series }),
        };
        await this.kube.request({
          method: 'POST',
          path: resourcePath({ ...EVENTS, namespace: payload.namespace }),
          body,
        });
        payload.created = true;
      } else {
        await this.kube.request({
          method: 'PATCH',
          path: resourcePath({ ...EVENTS, namespace: payload.namespace, name: payload.name }),
          body: { series },
          contentType: PATCH_TYPES.merge,
        });
      }
    } catch (error) {
      if (payload.created && httpStatusOf(error) === 404) {
        // The Event expired on the server (event TTL): the next write creates a new one.
        payload.created = false;
        payload.name = eventName(payload.body.regarding?.name ?? 'event', this.now());
      }
      this.log.warn(
        {
          err: describeError(error),
          resource: `${payload.namespace}/${payload.body.regarding?.name}`,
          reason: payload.body.reason,
        },
        'could not write event',
      );
    }
  }
}
