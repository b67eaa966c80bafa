// One controller: one kind's informer -> work queue -> workers -> reconciler, as
// controller-runtime wires them. The Manager (manager.ts) owns what controllers share: the
// lease, the HTTP servers and the lifecycle.
//
// - Watch events are filtered like GenerationChangedPredicate (see predicates.ts): status-only
//   updates, the operator's own status writes among them, never enqueue.
// - Workers (`concurrency`, default 4) reconcile a deep copy of the cached object. A result with
//   `requeueAfterMs` resets the key's backoff and requeues it after min(requeueAfterMs, resync)
//   (0: at once); no result requeues it after the resync period; a thrown error requeues it
//   with the key's exponential backoff (1 s doubling to 5 min). A spec change (new generation)
//   resets the backoff; a label or annotation edit never cuts it short (predicates.ts), nor the
//   wait of a `holdOff` result (a refusal such as access denied, looked at again on resync).
//   Resync delays carry ±10 % jitter per key, so thousands of keys do not come due together.
//   A key whose object is gone from the cache is dropped (the finalizer keeps the object around
//   until the reconciler has cleaned up, so that only happens after it did).
// - Keys are handed to workers in turn by namespace; a reconcile's AWS calls take its namespace's
//   turn at the rate limit (the scope's port tags them, src/aws/tenant.ts).
// - A reconciler may queue another object of its kind at once (`enqueue`, controller-runtime's
//   channel source): list drift detection does, when a listing shows that object's application moved.

import type { Logger } from 'pino';
import { SHARED_TENANT } from '../aws/tenant.js';
import type { KubeClient } from '../kube/client.js';
import { describeError } from '../kube/errors.js';
import type { ReconcileResult } from '../reconcile/ports.js';
import { type KubeObject, objectKey, type ResourceType } from './informer.js';
import type { OperatorMetrics, ReconcileOutcome } from './metrics.js';
import { informerFor, type ObjectCache } from './multi-namespace-informer.js';
import { updateTrigger } from './predicates.js';
import { ExponentialBackoffRateLimiter, WorkQueue } from './queue.js';
import { ConflictError } from './resource-writer.js';

/** What a controller calls. Throws to ask for a retry with backoff. */
export interface ReconcilerLike<T> {
  reconcile(obj: T): Promise<ReconcileResult>;
}

/** Read access to every controller's cache, by resource plural and `namespace/name` key. */
export interface CacheReader {
  get<T = unknown>(plural: string, key: string): T | undefined;
  /** Every cached object of the kind, in one namespace. */
  list<T = unknown>(plural: string, namespace: string): T[];
}

/** What the manager hands every reconciler it builds. */
export interface ReconcilerDeps {
  /** The manager's logger; the reconciler adds `resource` per reconcile. */
  logger: Logger;
  /** The manager's shared caches (another kind's objects, without an API call). */
  cache: CacheReader;
  /** The write guard every write must pass (false once this process may no longer write). */
  mayWrite: () => boolean;
  /** Queues one of this controller's objects now, by `namespace/name` (a change seen outside a watch). */
  enqueue: (key: string) => void;
}

/** Per-key backoff after a failed reconcile: 1 s, doubling, at most 5 minutes. */
export const FAILURE_BACKOFF = { baseMs: 1_000, maxMs: 5 * 60_000 };

/** Builds a reconciler once, with what the manager hands every reconciler. */
export type ReconcilerFactory<T> = (deps: ReconcilerDeps) => ReconcilerLike<T>;

/**
 * Another kind whose changes concern this controller's objects (controller-runtime's Watches
 * with a map function): `map` answers the keys of this controller's objects to reconcile.
 */
export interface Watch {
  /** The plural of the watched kind (its controller must be in the same manager). */
  plural: string;
  map(obj: KubeObject, cache: CacheReader): string[];
}

/** One kind, as the manager is told about it. */
export interface ControllerDefinition<T extends KubeObject> {
  /** The `controller` label of metrics and logs, e.g. emrserverlessapplication. */
  name: string;
  resource: ResourceType;
  reconciler: ReconcilerFactory<T>;
  watches?: Watch[];
  /** Its reconciler reports key health and status per object (gauges), cleared on delete. */
  reportsResourceMetrics?: boolean;
}

export interface ControllerSettings {
  kube: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  /** Watched namespaces; all when empty. */
  namespaces: readonly string[];
  /** Only objects whose labels match (a shard); all when absent. */
  labelSelector?: string;
  concurrency: number;
  resyncPeriodMs: number;
  informerBackoff?: { initialMs?: number; maxMs?: number };
  failureBackoff: { baseMs: number; maxMs: number };
}

export class Controller<T extends KubeObject = KubeObject> {
  readonly name: string;
  readonly plural: string;
  readonly informer: ObjectCache<T>;
  readonly queue: WorkQueue<string>;

  private readonly log: Logger;
  private reconciler: ReconcilerLike<T> | undefined;
  private workers: Promise<void>[] = [];
  private stopping = false;
  private inFlight = 0;

  constructor(
    private readonly definition: ControllerDefinition<T>,
    private readonly settings: ControllerSettings,
  ) {
    const { metrics } = settings;
    this.name = definition.name;
    this.plural = definition.resource.plural;
    this.log = settings.logger.child({ controller: this.name });
    metrics.registerController(this.name);
    const backoff = settings.failureBackoff;
    this.queue = new WorkQueue<string>({
      name: this.name,
      metrics: metrics.queueHooks(this.name),
      rateLimiter: new ExponentialBackoffRateLimiter<string>(backoff.baseMs, backoff.maxMs),
      // Namespaces take turns at the workers: one namespace's thousand keys do not queue another's.
      groupOf: namespaceOfKey,
    });
    this.informer = informerFor<T>(
      {
        kube: settings.kube,
        resource: definition.resource,
        logger: settings.logger,
        ...(settings.labelSelector && { labelSelector: settings.labelSelector }),
        ...(settings.informerBackoff && { backoff: settings.informerBackoff }),
      },
      settings.namespaces,
    );
    this.informer.addEventHandler({
      onAdd: (obj) => this.queue.add(objectKey(obj)),
      onUpdate: (oldObj, newObj) => {
        const trigger = updateTrigger(oldObj, newObj);
        if (trigger === 'none') return;
        const key = objectKey(newObj);
        // A new spec deserves a fresh start: the backoff earned by the old one is forgotten.
        if (trigger === 'spec') this.queue.forget(key);
        if (trigger === 'afterBackoff') this.queue.addAfterBackoff(key);
        else this.queue.add(key);
      },
      onDelete: (obj) => {
        const key = objectKey(obj);
        if (definition.reportsResourceMetrics) {
          metrics.setKeyHealth(key, undefined);
          metrics.setResourceStatus(key, undefined);
        }
        metrics.setPolicyViolations(definition.resource.kind, key, []);
        this.queue.add(key);
      },
    });
  }

  /** Builds the reconciler and subscribes the watches; the manager calls it once every controller exists. */
  wire(deps: Omit<ReconcilerDeps, 'enqueue'>, source: (plural: string) => Controller | undefined): void {
    this.reconciler = this.definition.reconciler({ ...deps, enqueue: (key) => this.queue.add(key) });
    for (const watch of this.definition.watches ?? []) {
      const watched = source(watch.plural);
      if (!watched) throw new Error(`${this.name} watches ${watch.plural}, which no controller serves`);
      const enqueue = (obj: KubeObject) => {
        for (const key of watch.map(obj, deps.cache)) this.queue.add(key);
      };
      watched.informer.addEventHandler({
        onAdd: enqueue,
        onUpdate: (_oldObj, newObj) => enqueue(newObj),
        onDelete: enqueue,
      });
    }
  }

  /** The plurals of the kinds this controller watches besides its own (their caches are read too). */
  get watchedPlurals(): string[] {
    return (this.definition.watches ?? []).map((w) => w.plural);
  }

  /** Why this controller's cache is not ready, or undefined when it is. */
  cacheProblem(): string | undefined {
    return cacheProblem(this.informer);
  }

  /** Reconciles running now. */
  get activeReconciles(): number {
    return this.inFlight;
  }

  startWorkers(): void {
    if (this.workers.length > 0 || this.stopping) return;
    this.log.info({ workers: this.settings.concurrency }, 'starting workers');
    for (let i = 0; i < this.settings.concurrency; i++) this.workers.push(this.worker());
  }

  /** Takes no more work; resolves once in-flight reconciles are done. */
  drain(): Promise<void> {
    this.stopping = true;
    return this.queue.shutDownWithDrain();
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (this.stopping) {
        // Shutting down: queued keys are handed out until the queue is empty; drop them.
        this.queue.done(key);
        continue;
      }
      this.inFlight++;
      try {
        await this.process(key);
      } finally {
        this.inFlight--;
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const cached = this.informer.get(key);
    if (!cached) {
      // Deleted (and finalized): nothing to do.
      this.queue.forget(key);
      return;
    }
    const obj = structuredClone(cached);
    const started = performance.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await this.reconciler!.reconcile(obj);
      const resync = this.jitteredResync();
      // A success either way, so the backoff starts over.
      this.queue.forget(key);
      if (result.requeueAfterMs === 0) {
        // Acted and looks again at once.
        outcome = 'requeue';
        this.queue.add(key);
      } else if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        outcome = 'requeue_after';
        const delay = Math.min(result.requeueAfterMs, resync);
        if (result.holdOff) this.queue.holdOff(key, delay);
        else this.queue.addAfter(key, delay);
      } else {
        outcome = 'success';
        this.queue.addAfter(key, resync);
      }
    } catch (error) {
      outcome = 'error';
      const details = { resource: key, err: describeError(error), retries: this.queue.numRequeues(key) };
      // A conflict is routine (the object changed while it was reconciled): planned again from the newer version.
      if (error instanceof ConflictError)
        this.log.info(details, 'object changed meanwhile; reconciling it again');
      else this.log.error(details, 'reconcile failed; retrying with backoff');
      this.queue.addRateLimited(key);
    }
    const seconds = (performance.now() - started) / 1000;
    this.settings.metrics.reconciled(this.name, outcome, seconds);
    this.log.debug({ resource: key, outcome, seconds }, 'reconciled');
  }

  private jitteredResync(): number {
    return this.settings.resyncPeriodMs * (0.9 + Math.random() * 0.2);
  }
}

/** The namespace of a `namespace/name` key; cluster-scoped keys (no slash) share one turn. */
function namespaceOfKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? SHARED_TENANT : key.slice(0, slash);
}

/** Why a cache is not ready (not synced, or list/watch failing), or undefined when it is. */
export function cacheProblem(cache: Pick<ObjectCache<KubeObject>, 'health'>): string | undefined {
  const h = cache.health();
  if (!h.synced) return `cache not synced yet${h.lastError ? ` (last error: ${h.lastError})` : ''}`;
  if (!h.healthy) return `list/watch failing: ${h.lastError ?? 'unknown error'}`;
  return undefined;
}
