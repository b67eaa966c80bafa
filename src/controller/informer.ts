// A small list+watch informer (client-go's reflector + store) on the operator's Kubernetes client.
// Unlike client-node's `makeInformer`, which stops for good on a network error, a 403 or a failed
// list and leaves restarting to the caller, keeps two maps per object and reports no health for
// /readyz, this loop never gives up:
//
//   list (paginated) -> replace the cache, emitting add/update/delete for the differences
//   watch from the list's resourceVersion (bookmarks on) -> apply events, remember each
//     resourceVersion; a normal close (server timeout) resumes from the last one at once
//   410 Gone / Expired on the watch -> list again
//   410 on a list's continue token (compacted while paging) -> list again at once, in one page
//   any other failure -> unhealthy, retry the same step after a backoff
//     (200 ms doubling to 30 s, with jitter), healthy again once a list or watch succeeds
//
// The cache holds the objects as received, minus what no reader needs (cache-pruning.ts: managed
// fields, kubectl's last-applied configuration), like controller-runtime's cache transforms.
// It is indexed by namespace (client-go's namespace index), kept in step on every add, update,
// delete and relist, so `byNamespace` answers one namespace's objects without a scan.
import type { Logger } from 'pino';
import { type KubeClient, resourcePath } from '../kube/client.js';
import { describeError, httpStatusOf } from '../kube/errors.js';
import { pruneForCache, SharedStrings } from './cache-pruning.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
  };
}

export interface ResourceType {
  /** '' for the core API group (`/api/v1`), e.g. namespaces. */
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export interface InformerEventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerHealth {
  /** The first list has completed: the cache holds every object. */
  synced: boolean;
  /** False while list or watch fail (the cache is then going stale). */
  healthy: boolean;
  lastError?: string;
  lastErrorAt?: string;
}

export interface InformerOptions {
  kube: KubeClient;
  resource: ResourceType;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /**
   * Only objects whose labels match (`shard=a`, `tier in (gold)`, ...), as the API server filters
   * them. An object whose labels stop matching is reported deleted, as by a watch.
   */
  labelSelector?: string;
  logger: Logger;
  /** Items per list page (default 500). */
  pageSize?: number;
  /** Backoff after a failure (default 200 ms doubling to 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Server-side watch timeout range in seconds (default 300 to 600, random per watch, as client-go). */
  watchTimeoutSeconds?: { min: number; max: number };
  /**
   * How long past the watch's own timeout a silent watch is given before it is taken for dead
   * and started again (default 60 s).
   */
  watchdogGraceMs?: number;
}

type WatchEnd = 'relist' | 'resume';

export const objectKey = (obj: KubeObject): string =>
  obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  /** The cache's keys by namespace ('' for cluster-scoped objects), kept in step with `cache`. */
  private readonly namespaceIndex = new Map<string, Set<string>>();
  private readonly handlers: InformerEventHandler<T>[] = [];
  private readonly log: Logger;
  private readonly apiVersion: string;
  private readonly strings = new SharedStrings();
  private resourceVersion: string | undefined;
  private synced = false;
  private healthy = false;
  private lastError: string | undefined;
  private lastErrorAt: string | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private abortWatch: (() => void) | undefined;
  private wakeSleep: (() => void) | undefined;
  private readonly syncWaiters: Array<() => void> = [];
  /** Lists restarted because a continue token expired (410 while paging). */
  relistsAfterExpiredContinue = 0;

  constructor(private readonly options: InformerOptions) {
    this.log = options.logger.child({ component: 'informer', resource: options.resource.plural });
    const { group, version } = options.resource;
    this.apiVersion = group === '' ? version : `${group}/${version}`;
  }

  addEventHandler(handler: InformerEventHandler<T>): void {
    this.handlers.push(handler);
  }

  /** The cached object, as last received; callers must not mutate it. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  keys(): IterableIterator<string> {
    return this.cache.keys();
  }

  /** The cached objects of one namespace ('' for cluster-scoped ones), from the index: no scan. */
  byNamespace(namespace: string): T[] {
    const keys = this.namespaceIndex.get(namespace);
    if (!keys) return [];
    // put/remove keep every indexed key in the cache.
    return [...keys].map((key) => this.cache.get(key) as T);
  }

  get size(): number {
    return this.cache.size;
  }

  health(): InformerHealth {
    return {
      synced: this.synced,
      healthy: this.healthy,
      ...(this.lastError !== undefined && { lastError: this.lastError, lastErrorAt: this.lastErrorAt }),
    };
  }

  /** The resourceVersion a watch resumes from: the last event's or bookmark's, or the list's. */
  get resourceVersionSeen(): string | undefined {
    return this.resourceVersion;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list completed; rejects when `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal?.reason ?? new Error('aborted'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.run();
  }

  /** Stops the loop; waits for it at most `timeoutMs` (a list in flight cannot be aborted). */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    this.wakeSleep?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.running,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    this.running = undefined;
  }

  // --- the loop ---------------------------------------------------------------------------

  private async run(): Promise<void> {
    const initialMs = this.options.backoff?.initialMs ?? 200;
    const maxMs = this.options.backoff?.maxMs ?? 30_000;
    let backoffMs = initialMs;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) {
          await this.list();
          backoffMs = initialMs;
          if (this.stopped) break;
        }
        const started = Date.now();
        const end = await this.watchOnce();
        if (end === 'relist') {
          this.resourceVersion = undefined;
          continue;
        }
        // A watch the server closes at once, again and again, must not spin: back off quietly.
        if (Date.now() - started < 1_000) {
          await this.sleep(jitter(backoffMs));
          backoffMs = Math.min(backoffMs * 2, maxMs);
        } else {
          backoffMs = initialMs;
        }
      } catch (error) {
        if (this.stopped) break;
        this.fail(error);
        const delay = jitter(backoffMs);
        this.log.warn(
          { err: describeError(error), retryInMs: Math.round(delay) },
          'list/watch failed; retrying',
        );
        await this.sleep(delay);
        backoffMs = Math.min(backoffMs * 2, maxMs);
      }
    }
  }

  private fail(error: unknown): void {
    this.healthy = false;
    this.lastError = describeError(error);
    this.lastErrorAt = new Date().toISOString();
  }

  private succeed(): void {
    if (!this.healthy && this.lastError !== undefined) this.log.info('list/watch recovered');
    this.healthy = true;
  }

  /** Lists every object (paginated) and replaces the cache with the result. */
  private async list(): Promise<void> {
    const limit = this.options.pageSize ?? 500;
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let listResourceVersion: string | undefined;
    let paged = true;
    for (;;) {
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };
      try {
        page = await this.options.kube.request({
          method: 'GET',
          path: this.path(),
          query: {
            limit: paged ? limit : undefined,
            labelSelector: this.options.labelSelector,
            continue: continueToken,
          },
        });
      } catch (error) {
        // The continue token's resourceVersion was compacted away while paging: not a failure.
        // As client-go's pager (FullListIfExpired), list again at once, in one page this time,
        // so a list slower than the compaction interval cannot expire again.
        if (continueToken === undefined || httpStatusOf(error) !== 410) throw error;
        this.log.info({ objects: fresh.size }, 'list continue token expired; listing again in one page');
        this.relistsAfterExpiredContinue++;
        fresh.clear();
        continueToken = undefined;
        paged = false;
        continue;
      }
      for (const item of page.items ?? []) {
        const obj = this.prepare(item);
        fresh.set(objectKey(obj), obj);
      }
      continueToken = page.metadata?.continue || undefined;
      listResourceVersion = page.metadata?.resourceVersion;
      if (!continueToken || this.stopped) break;
    }
    if (this.stopped) return;
    this.replace(fresh);
    this.resourceVersion = listResourceVersion ?? '';
    this.succeed();
    this.log.debug({ objects: fresh.size, resourceVersion: this.resourceVersion }, 'listed');
    if (!this.synced) {
      this.synced = true;
      this.log.info({ objects: fresh.size }, 'cache synced');
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  /** Swaps in a fresh list, telling the handlers what changed since the old cache. */
  private replace(fresh: Map<string, T>): void {
    const old = new Map(this.cache);
    this.cache.clear();
    this.namespaceIndex.clear();
    for (const [key, obj] of fresh) this.put(key, obj);
    for (const [key, obj] of fresh) {
      const before = old.get(key);
      if (before === undefined) this.emit('add', obj);
      else if (before.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.emit('update', obj, before);
    }
    for (const [key, obj] of old) {
      if (!fresh.has(key)) this.emit('delete', obj);
    }
  }

  /** One watch request; resolves with what to do next, rejects on failure. */
  private watchOnce(): Promise<WatchEnd> {
    const range = this.options.watchTimeoutSeconds ?? { min: 300, max: 600 };
    const timeoutSeconds = Math.floor(range.min + Math.random() * (range.max - range.min));

    return new Promise<WatchEnd>((resolve, reject) => {
      let settled = false;
      let relist = false;
      let controller: AbortController | undefined;
      // If neither an event nor a bookmark nor the server's own timeout arrives, the connection
      // is dead without anyone having closed it (a partition): give up on it.
      let watchdog: NodeJS.Timeout | undefined;
      const armWatchdog = () => {
        if (watchdog) clearTimeout(watchdog);
        watchdog = setTimeout(
          () => {
            this.log.warn('watch silent for too long; reconnecting');
            controller?.abort();
            settle(undefined, 'resume');
          },
          timeoutSeconds * 1000 + (this.options.watchdogGraceMs ?? 60_000),
        );
        watchdog.unref();
      };
      const settle = (error: unknown, end: WatchEnd) => {
        if (settled) return;
        settled = true;
        if (watchdog) clearTimeout(watchdog);
        this.abortWatch = undefined;
        if (error) reject(error);
        else resolve(end);
      };
      this.abortWatch = () => {
        controller?.abort();
        settle(undefined, 'resume');
      };
      armWatchdog();

      const onEvent = (type: string, obj: unknown) => {
        if (settled) return;
        armWatchdog();
        if (type === 'ERROR') {
          const status = obj as { code?: number; reason?: string; message?: string };
          if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') {
            this.log.info({ reason: status.reason, message: status.message }, 'watch expired; listing again');
            relist = true;
            controller?.abort();
            settle(undefined, 'relist');
            return;
          }
          const error = Object.assign(new Error(status.message ?? 'watch error'), {
            statusCode: status.code,
          });
          controller?.abort();
          settle(error, 'resume');
          return;
        }
        const item = obj as T;
        if (type === 'BOOKMARK') {
          if (item.metadata?.resourceVersion) this.resourceVersion = item.metadata.resourceVersion;
          return;
        }
        if (!item?.metadata?.name) return;
        const prepared = this.prepare(item);
        const key = objectKey(prepared);
        if (prepared.metadata.resourceVersion) this.resourceVersion = prepared.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') {
          const before = this.cache.get(key);
          this.put(key, prepared);
          if (before === undefined) this.emit('add', prepared);
          else this.emit('update', prepared, before);
        } else if (type === 'DELETED') {
          const before = this.cache.get(key);
          this.remove(key, before ?? prepared);
          this.emit('delete', before ?? prepared);
        }
      };

      const onDone = (error: unknown) => {
        if (relist) return settle(undefined, 'relist');
        if (error && !this.stopped && !(error instanceof Error && error.name === 'AbortError')) {
          if (httpStatusOf(error) === 410) return settle(undefined, 'relist');
          return settle(error, 'resume');
        }
        settle(undefined, 'resume');
      };

      this.options.kube
        .watch(
          this.path(),
          {
            allowWatchBookmarks: true,
            resourceVersion: this.resourceVersion,
            timeoutSeconds,
            ...(this.options.labelSelector && { labelSelector: this.options.labelSelector }),
          },
          onEvent,
          onDone,
        )
        .then(
          (c) => {
            controller = c;
            if (settled || this.stopped) {
              c.abort();
              settle(undefined, 'resume');
              return;
            }
            // The request was answered 200 and the stream is open.
            this.succeed();
          },
          // The watch request itself refused (a resourceVersion too old is answered 410 here
          // too): the same ending as a stream that fails.
          onDone,
        );
    });
  }

  /** Stores an object and indexes it by namespace (a key never changes namespace). */
  private put(key: string, obj: T): void {
    this.cache.set(key, obj);
    const namespace = obj.metadata.namespace ?? '';
    let keys = this.namespaceIndex.get(namespace);
    if (!keys) {
      keys = new Set();
      this.namespaceIndex.set(namespace, keys);
    }
    keys.add(key);
  }

  /** Drops an object and its index entry; an emptied namespace leaves the index. */
  private remove(key: string, obj: T): void {
    this.cache.delete(key);
    const namespace = obj.metadata.namespace ?? '';
    const keys = this.namespaceIndex.get(namespace);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.namespaceIndex.delete(namespace);
  }

  private path(): string {
    return resourcePath({ ...this.options.resource, namespace: this.options.namespace });
  }

  private prepare(obj: T): T {
    // The informer's own copies, when the object says the same (a list's items may say nothing).
    if (obj.apiVersion === undefined || obj.apiVersion === this.apiVersion) obj.apiVersion = this.apiVersion;
    const kind = this.options.resource.kind;
    if (obj.kind === undefined || obj.kind === kind) obj.kind = kind;
    return this.strings.shareMetadata(pruneForCache(obj));
  }

  private emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const handler of this.handlers) {
      try {
        if (kind === 'add') handler.onAdd?.(obj);
        else if (kind === 'update') handler.onUpdate?.(old as T, obj);
        else handler.onDelete?.(obj);
      } catch (error) {
        this.log.error({ err: describeError(error), key: objectKey(obj) }, 'event handler failed');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = () => {
        this.wakeSleep = undefined;
        done();
      };
    });
  }
}

/** ±20 % around `ms`, so many operators restarting together do not stay in step. */
function jitter(ms: number): number {
  return ms * (0.8 + Math.random() * 0.4);
}
