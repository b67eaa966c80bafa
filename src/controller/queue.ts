// A work queue with client-go's semantics (k8s.io/client-go/util/workqueue):
//
// - a key is queued at most once (the dirty set), however often it is added;
// - a key is never handed to two workers at once (the processing set): adding a key that is being
//   processed marks it dirty, and `done(key)` puts it back in the queue, once;
// - `addAfter(key, ms)` delays an add (one timer for the whole delay heap; an earlier add wins);
// - `addRateLimited(key)` delays by a per-key exponential backoff that `forget(key)` resets;
//   `addAfterBackoff(key)` adds at once unless the key is backing off, and then when its backoff
//   ends: for watch events that must not cut a failing key's backoff short (metadata-only edits);
//   `holdOff(key, ms)` delays like `addAfter` and makes `addAfterBackoff` wait as well;
// - keys ready for a worker are handed out in turn by group (`groupOf`: the namespace), each
//   group's keys first in, first out: a namespace that queues a thousand keys at once delays
//   another namespace's next key by one turn, not by the thousand (FairQueue);
// - after `shutDown()` adds are ignored, items already queued are still handed out, and `get()`
//   answers `undefined` once the queue is empty; `shutDownWithDrain()` also waits until every
//   key handed out is `done`.
//
// `get()` is a promise: waiting workers are woken by the add that feeds them, never by polling.

import { FairQueue } from '../aws/fair-queue.js';

/** Per-key backoff for failures. */
export interface RateLimiter<K> {
  /** How long to wait before the next retry of `key`; counts one more failure. */
  when(key: K): number;
  forget(key: K): void;
  numRequeues(key: K): number;
}

/** `base * 2^failures`, capped at `max` (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialBackoffRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 5 * 60_000,
  ) {}

  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity for large n; min() keeps the answer finite.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }
}

/** Hooks for the workqueue_* metrics; every one optional. Seconds, like client-go. */
export interface QueueMetricsHooks {
  depth?(depth: number): void;
  add?(): void;
  /** Time a key spent queued before a worker took it. */
  queueDuration?(seconds: number): void;
  /** Time between `get()` handing a key out and `done()`. */
  workDuration?(seconds: number): void;
  retry?(): void;
}

export interface WorkQueueOptions<K> {
  name?: string;
  rateLimiter?: RateLimiter<K>;
  metrics?: QueueMetricsHooks;
  /** The group whose turn a key takes (the namespace of `namespace/name`); default: one group. */
  groupOf?: (key: K) => string;
  /** Milliseconds clock; tests may pass a fake. */
  now?: () => number;
}

interface Delayed<K> {
  key: K;
  readyAt: number;
  /** Position in the heap, kept up to date so an earlier add can move the entry up. */
  index: number;
}

/** Largest delay setTimeout accepts (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue<K = string> {
  readonly name: string;
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: QueueMetricsHooks;
  private readonly now: () => number;

  private readonly groupOf: (key: K) => string;
  // Keys ready for a worker: a FIFO per group, served in turn.
  private readonly items = new FairQueue<K>();
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  /** When each queued key was first added (for the queue-duration metric). */
  private readonly addedAt = new Map<K, number>();
  /** When each processing key was handed out (for the work-duration metric). */
  private readonly startedAt = new Map<K, number>();
  private readonly waiters: Array<(key: K | undefined) => void> = [];
  /** When each backing-off key may be retried (set by addRateLimited, cleared by forget). */
  private readonly backoffUntil = new Map<K, number>();
  /** Keys given to addAfterBackoff while processing: decided once done, by how processing ended. */
  private readonly afterBackoff = new Set<K>();

  // The delaying part: a min-heap on readyAt plus an index by key, and one timer.
  private readonly heap: Delayed<K>[] = [];
  private readonly waiting = new Map<K, Delayed<K>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  private shuttingDown = false;
  private drainWaiters: Array<() => void> = [];

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? 'queue';
    this.rateLimiter = options.rateLimiter ?? new ExponentialBackoffRateLimiter<K>();
    this.metrics = options.metrics ?? {};
    this.now = options.now ?? Date.now;
    this.groupOf = options.groupOf ?? (() => '');
  }

  /** Number of keys ready for a worker (not counting delayed or processing keys). */
  len(): number {
    return this.items.length;
  }

  /** Number of keys waiting in the delay heap. */
  delayedLen(): number {
    return this.heap.length;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) {
      // Already queued or already marked for re-queue: nothing to do (but a pending delayed add
      // for the same key is now moot once it fires; it will find the key dirty and do nothing).
      return;
    }
    this.metrics.add?.();
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() re-queues it
    this.enqueue(key);
  }

  /** Adds `key` after `delayMs`; if the key is already waiting, the earlier time wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing) {
      if (readyAt >= existing.readyAt) return;
      existing.readyAt = readyAt;
      this.siftUp(existing.index);
    } else {
      const entry: Delayed<K> = { key, readyAt, index: this.heap.length };
      this.heap.push(entry);
      this.waiting.set(key, entry);
      this.siftUp(entry.index);
    }
    this.schedule();
  }

  /** Adds `key` after its backoff (which grows with each call until `forget`). */
  addRateLimited(key: K): void {
    if (this.shuttingDown) return;
    this.metrics.retry?.();
    const delay = this.rateLimiter.when(key);
    this.backoffUntil.set(key, this.now() + delay);
    this.addAfter(key, delay);
  }

  /**
   * Adds `key` now, or, while it backs off after a failure, when its backoff ends (its retry is
   * already due then: nothing moves). A key being processed is decided once `done`: by then a
   * failure has set its new backoff.
   */
  addAfterBackoff(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.afterBackoff.add(key);
      return;
    }
    const left = (this.backoffUntil.get(key) ?? 0) - this.now();
    if (left > 0) this.addAfter(key, left);
    else this.add(key);
  }

  /**
   * Adds `key` after `ms`, a wait `addAfterBackoff` keeps to like a backoff's, without counting a
   * failure: after a refusal only a person elsewhere can lift, retried on resync.
   */
  holdOff(key: K, ms: number): void {
    if (this.shuttingDown) return;
    this.backoffUntil.set(key, this.now() + ms);
    this.addAfter(key, ms);
  }

  /** Resets the backoff of `key` (call it after a success). */
  forget(key: K): void {
    this.rateLimiter.forget(key);
    this.backoffUntil.delete(key);
  }

  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key);
  }

  /**
   * The next key, once one is ready. `undefined` means the queue is shut down and empty: the
   * worker should exit. Every key handed out must be passed to `done()`.
   */
  get(): Promise<K | undefined> {
    if (this.len() > 0) return Promise.resolve(this.take(this.dequeue()));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.metrics.workDuration?.((this.now() - started) / 1000);
    const afterBackoff = this.afterBackoff.delete(key);
    if (this.dirty.has(key)) {
      // A key added during processing goes back once, even during shutdown (client-go does the
      // same: the add happened before the shutdown or was ignored).
      this.enqueue(key);
    } else if (afterBackoff) {
      this.addAfterBackoff(key);
    }
    if (this.processing.size === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Stops accepting adds and wakes idle workers; queued keys are still handed out. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.clearTimer();
    this.heap.length = 0;
    this.waiting.clear();
    // Idle workers have nothing to take (a waiter only exists while the queue is empty).
    const waiters = this.waiters.splice(0);
    for (const resolve of waiters) resolve(undefined);
  }

  /** Shuts down and resolves once every key handed out so far is `done`. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  // --- internals --------------------------------------------------------------------------

  private enqueue(key: K): void {
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.now());
    const waiter = this.waiters.shift();
    if (waiter) {
      // Hand the key straight to a waiting worker: no window in which another get() could
      // take it from under the woken one.
      waiter(this.take(key));
      return;
    }
    this.items.push(this.groupOf(key), key);
    this.metrics.depth?.(this.len());
  }

  private dequeue(): K {
    const key = this.items.shift() as K;
    this.metrics.depth?.(this.len());
    return key;
  }

  private take(key: K): K {
    const now = this.now();
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.metrics.queueDuration?.((now - added) / 1000);
    this.processing.add(key);
    this.startedAt.set(key, now);
    this.dirty.delete(key);
    return key;
  }

  private schedule(): void {
    const top = this.heap[0];
    if (!top) {
      this.clearTimer();
      return;
    }
    if (this.timer && top.readyAt >= this.timerAt) return; // the current timer fires first
    this.clearTimer();
    const delay = Math.min(Math.max(top.readyAt - this.now(), 0), MAX_TIMER_MS);
    this.timerAt = top.readyAt;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let top = this.heap[0]; top && top.readyAt <= now; top = this.heap[0]) {
      this.popHeap();
      this.waiting.delete(top.key);
      this.add(top.key);
    }
    this.schedule();
  }

  private popHeap(): void {
    const last = this.heap.pop();
    if (!last || this.heap.length === 0) return;
    this.heap[0] = last;
    last.index = 0;
    this.siftDown(0);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const entry = heap[i] as Delayed<K>;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as Delayed<K>;
      if (parent.readyAt <= entry.readyAt) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i] as Delayed<K>;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const smallest =
        right < n && (heap[right] as Delayed<K>).readyAt < (heap[left] as Delayed<K>).readyAt ? right : left;
      const child = heap[smallest] as Delayed<K>;
      if (child.readyAt >= entry.readyAt) break;
      heap[i] = child;
      child.index = i;
      i = smallest;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
