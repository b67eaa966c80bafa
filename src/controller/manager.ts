// The controller manager: informer -> work queue -> workers -> reconciler, as controller-runtime
// wires them.
//
// - Watch events are filtered like GenerationChangedPredicate (see predicates.ts): status-only
//   updates, the operator's own status writes among them, never enqueue.
// - Workers (`concurrency`, default 4) reconcile a deep copy of the cached object. A result with
//   `requeueAfterMs` resets the key's backoff and requeues it after min(requeueAfterMs, resync)
//   (0: at once); no result requeues it after the resync period; a thrown error requeues it
//   with the key's exponential backoff (1 s doubling to 5 min). A spec change (new generation)
//   resets the backoff.
//   Resync delays carry ±10 % jitter per key, so thousands of keys do not come due together.
//   A key whose object is gone from the cache is dropped (the finalizer keeps the object around
//   until the reconciler has cleaned up, so that only happens after it did).
// - With leader election on, the informer runs from the start (a standby has a warm cache) but
//   workers start only once the lease is held. Losing the lease stops everything at once and
//   `done` resolves with a non-zero code. Every reconciler gets a write guard (`mayWrite`) that
//   says no as soon as the lease was last renewed longer than the renew deadline ago, so a
//   reconcile in flight sends nothing more, even before the elector notices.
// - stop(): take no more work, wait for in-flight reconciles (bounded), stop the informer,
//   release the lease, close the HTTP servers.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, KIND, PLURAL, VERSION } from '../api/constants.js';
import type { EmrServerlessApplication } from '../api/schema.js';
import type { ReconcileResult } from '../reconcile/ports.js';
import { type RunningServer, startHealthServer, startMetricsServer } from './health.js';
import { objectKey } from './informer.js';
import { describeError } from './kube-errors.js';
import { LeaderElector } from './leader.js';
import type { OperatorMetrics, ReconcileOutcome } from './metrics.js';
import { informerFor, type ObjectCache } from './multi-namespace-informer.js';
import { updateNeedsReconcile } from './predicates.js';
import { ExponentialBackoffRateLimiter, WorkQueue } from './queue.js';

export const CONTROLLER_NAME = 'emrserverlessapplication';

/** What the manager calls; the lead's Reconciler satisfies it. Throws to ask for a retry with backoff. */
export interface ReconcilerLike {
  reconcile(obj: EmrServerlessApplication): Promise<ReconcileResult>;
}

/**
 * Builds the reconciler once, with the manager's logger (it adds `resource` per reconcile) and
 * the write guard every write must pass (false once this process may no longer write).
 */
export type ReconcilerFactory = (deps: { logger: Logger; mayWrite: () => boolean }) => ReconcilerLike;

/** Per-key backoff after a failed reconcile: 1 s, doubling, at most 5 minutes. */
export const FAILURE_BACKOFF = { baseMs: 1_000, maxMs: 5 * 60_000 };

export interface LeaderElectionSettings {
  namespace: string;
  name?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  metrics: OperatorMetrics;
  reconciler: ReconcilerFactory;
  /** Watch these namespaces; all when absent or empty. */
  namespaces?: readonly string[];
  /** Reconcile only resources whose labels match (a shard of them); all when absent. */
  labelSelector?: string;
  /** Parallel reconciles (default 4). */
  concurrency?: number;
  /** Every object is reconciled at least this often (default 10 min, ±10 % jitter). */
  resyncPeriodMs?: number;
  /** Absent: no leader election (every worker starts at once). */
  leaderElection?: LeaderElectionSettings;
  /** `host:port`, `:port`, or "0" to disable (default "0" here; the CLI defaults to :8080). */
  metricsAddr?: string;
  /** Same forms (default "0" here; the CLI defaults to :8081). */
  healthAddr?: string;
  /** How long stop() waits for in-flight reconciles (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Informer settings for tests (backoff). */
  informerBackoff?: { initialMs?: number; maxMs?: number };
  /** Backoff after failed reconciles (default FAILURE_BACKOFF). */
  failureBackoff?: { baseMs: number; maxMs: number };
}

export interface ManagerExit {
  /** 0 after stop(); 1 when the lease was lost or a component failed. */
  code: number;
  reason: string;
  /**
   * Exit the process now, without waiting for connections to close: the lease is lost and
   * another replica may already be writing (controller-runtime exits at once too).
   */
  immediate: boolean;
}

export class Manager {
  readonly informer: ObjectCache<EmrServerlessApplication>;
  readonly queue: WorkQueue<string>;
  readonly elector: LeaderElector | undefined;
  /** Resolves once the manager has stopped, with the exit code the process should use. */
  readonly done: Promise<ManagerExit>;

  private readonly log: Logger;
  private readonly reconciler: ReconcilerLike;
  private readonly concurrency: number;
  private readonly resyncPeriodMs: number;
  private workers: Promise<void>[] = [];
  private servers: RunningServer[] = [];
  private metricsServer: RunningServer | undefined;
  private healthServer: RunningServer | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private finish!: (exit: ManagerExit) => void;
  private inFlight = 0;
  private aborted = false;

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger.child({ controller: CONTROLLER_NAME });
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.resyncPeriodMs = options.resyncPeriodMs ?? 10 * 60_000;
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    options.metrics.registerController(CONTROLLER_NAME);
    const backoff = options.failureBackoff ?? FAILURE_BACKOFF;
    this.queue = new WorkQueue<string>({
      name: CONTROLLER_NAME,
      metrics: options.metrics.queueHooks(CONTROLLER_NAME),
      rateLimiter: new ExponentialBackoffRateLimiter<string>(backoff.baseMs, backoff.maxMs),
    });
    this.informer = informerFor<EmrServerlessApplication>(
      {
        kubeConfig: options.kubeConfig,
        resource: { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND },
        logger: options.logger,
        ...(options.labelSelector && { labelSelector: options.labelSelector }),
        ...(options.informerBackoff && { backoff: options.informerBackoff }),
      },
      options.namespaces ?? [],
    );
    this.informer.addEventHandler({
      onAdd: (obj) => this.queue.add(objectKey(obj)),
      onUpdate: (oldObj, newObj) => {
        if (!updateNeedsReconcile(oldObj, newObj)) return;
        const key = objectKey(newObj);
        // A new spec deserves a fresh start: the backoff earned by the old one is forgotten.
        if (oldObj.metadata.generation !== newObj.metadata.generation) this.queue.forget(key);
        this.queue.add(key);
      },
      onDelete: (obj) => {
        const key = objectKey(obj);
        options.metrics.setKeyHealth(key, undefined);
        options.metrics.setResourceStatus(key, undefined);
        this.queue.add(key);
      },
    });
    this.reconciler = options.reconciler({ logger: options.logger, mayWrite: () => this.mayWrite() });
    if (options.leaderElection) {
      const le = options.leaderElection;
      this.elector = new LeaderElector({
        kubeConfig: options.kubeConfig,
        namespace: le.namespace,
        ...(le.name && { name: le.name }),
        ...(le.identity && { identity: le.identity }),
        ...(le.leaseDurationMs && { leaseDurationMs: le.leaseDurationMs }),
        ...(le.renewDeadlineMs && { renewDeadlineMs: le.renewDeadlineMs }),
        ...(le.retryPeriodMs && { retryPeriodMs: le.retryPeriodMs }),
        logger: options.logger,
        onStartedLeading: () => this.startWorkers(),
        onLost: (reason) => this.abort(`leader election lost: ${reason}`),
        onLeadingChanged: (leading) => options.metrics.setLeader(this.elector?.name ?? '', leading),
      });
      options.metrics.setLeader(this.elector.name, false);
    }
  }

  /** Bound addresses of the HTTP servers (undefined when disabled). */
  get addresses(): { metrics?: string; health?: string } {
    return {
      ...(this.metricsServer && { metrics: this.metricsServer.address }),
      ...(this.healthServer && { health: this.healthServer.address }),
    };
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.started;
  }

  /** Whether a write may start now: not stopping, and (when elected) the lease surely held. */
  mayWrite(): boolean {
    if (this.aborted) return false;
    return this.elector ? this.elector.holdsLease() : true;
  }

  /** Number of reconciles running now. */
  get activeReconciles(): number {
    return this.inFlight;
  }

  /** Starts the servers, the informer and (after winning the lease, if elected) the workers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      this.metricsServer = await startMetricsServer(
        this.options.metricsAddr ?? '0',
        () => this.options.metrics.render(),
        this.log,
      );
      if (this.metricsServer) this.servers.push(this.metricsServer);
      this.healthServer = await startHealthServer(
        this.options.healthAddr ?? '0',
        [{ name: 'informer', check: () => this.informerProblem() }],
        this.log,
      );
      if (this.healthServer) this.servers.push(this.healthServer);
    } catch (error) {
      await Promise.all(this.servers.map((s) => s.close()));
      this.servers = [];
      throw error;
    }
    this.informer.start();
    if (this.elector) this.elector.start();
    else this.startWorkers();
  }

  /** Why /readyz fails, or undefined when ready. */
  informerProblem(): string | undefined {
    const h = this.informer.health();
    if (!h.synced) return `cache not synced yet${h.lastError ? ` (last error: ${h.lastError})` : ''}`;
    if (!h.healthy) return `list/watch failing: ${h.lastError ?? 'unknown error'}`;
    return undefined;
  }

  /** Graceful stop: no new work, in-flight reconciles finish (bounded), lease released. */
  stop(reason = 'shutdown requested'): Promise<void> {
    if (!this.stopping) this.stopping = this.shutdown(reason, 0, true);
    return this.stopping;
  }

  /** Immediate stop (lease lost): no waiting for in-flight reconciles, exit code 1. */
  private abort(reason: string): void {
    this.aborted = true;
    if (this.stopping) return;
    this.log.error({ reason }, 'stopping at once');
    this.stopping = this.shutdown(reason, 1, false);
  }

  private async shutdown(reason: string, code: number, graceful: boolean): Promise<void> {
    this.log.info({ reason }, 'stopping');
    const drained = this.queue.shutDownWithDrain();
    if (!graceful) {
      // Lease lost: nothing to hand over (the lease is not ours to release) and no time to wait
      // for an API server that may be unreachable. Stop watching and go.
      void this.informer.stop(0);
      await Promise.all(this.servers.map((s) => s.close()));
      this.servers = [];
      this.log.info({ reason, code }, 'stopped');
      this.finish({ code, reason, immediate: true });
      return;
    }
    if (graceful && this.inFlight > 0) {
      const timeoutMs = this.options.shutdownTimeoutMs ?? 30_000;
      this.log.info({ inFlight: this.inFlight, timeoutMs }, 'waiting for in-flight reconciles');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.log.warn({ inFlight: this.inFlight }, 'in-flight reconciles did not finish in time');
    }
    await this.informer.stop();
    if (this.elector) await this.elector.release();
    await Promise.all(this.servers.map((s) => s.close()));
    this.servers = [];
    this.log.info({ reason, code }, 'stopped');
    this.finish({ code, reason, immediate: false });
  }

  private startWorkers(): void {
    if (this.workers.length > 0 || this.stopping) return;
    this.log.info({ workers: this.concurrency }, 'starting workers');
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.worker());
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
      const result = await this.reconciler.reconcile(obj);
      const resync = this.jitteredResync();
      if (result.requeueAfterMs === 0) {
        // Acted and looks again at once: a success, so the backoff starts over.
        outcome = 'requeue';
        this.queue.forget(key);
        this.queue.add(key);
      } else if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        outcome = 'requeue_after';
        this.queue.forget(key);
        this.queue.addAfter(key, Math.min(result.requeueAfterMs, resync));
      } else {
        outcome = 'success';
        this.queue.forget(key);
        this.queue.addAfter(key, resync);
      }
    } catch (error) {
      outcome = 'error';
      this.log.error(
        { resource: key, err: describeError(error), retries: this.queue.numRequeues(key) },
        'reconcile failed; retrying with backoff',
      );
      this.queue.addRateLimited(key);
    }
    const seconds = (performance.now() - started) / 1000;
    this.options.metrics.reconciled(CONTROLLER_NAME, outcome, seconds);
    this.log.debug({ resource: key, outcome, seconds }, 'reconciled');
  }

  private jitteredResync(): number {
    return this.resyncPeriodMs * (0.9 + Math.random() * 0.2);
  }
}
