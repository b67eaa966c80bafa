// The controller manager, as controller-runtime's: it runs one controller per kind
// (controller.ts: informer, work queue, workers, reconciler, `controller="..."` metrics label)
// and owns what they share: one lease, one health endpoint, one metrics endpoint, the caches
// each reconciler may read, and the lifecycle.
//
// - A controller's workers start only once every cache it reads has synced (controller-runtime's
//   WaitForCacheSync): its own kind's, the kinds it watches (their objects are read from the
//   cache: a job run's application) and the shared caches (namespaces, policies). Before that a
//   reconcile could take an object not listed yet for one that does not exist. /readyz says which
//   caches each controller still waits for (`caches-<controller>`).
// - With leader election on, the informers run from the start (a standby has warm caches) but
//   workers start only once the lease is held (and the caches synced). Losing the lease stops everything at once and
//   `done` resolves with a non-zero code. Every reconciler gets a write guard (`mayWrite`) that
//   says no as soon as the lease was last renewed longer than the renew deadline ago, so a
//   reconcile in flight sends nothing more, even before the elector notices.
// - stop(): take no more work, wait for in-flight reconciles (bounded), stop the informers,
//   release the lease, close the HTTP servers.

import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.js';
import {
  type CacheReader,
  Controller,
  type ControllerDefinition,
  cacheProblem,
  FAILURE_BACKOFF,
} from './controller.js';
import { type RunningServer, startHealthServer, startMetricsServer } from './health.js';
import { type KubeObject, objectKey } from './informer.js';
import { LeaderElector } from './leader.js';
import type { OperatorMetrics } from './metrics.js';
import type { ObjectCache } from './multi-namespace-informer.js';

export type {
  ControllerDefinition,
  ReconcilerDeps,
  ReconcilerFactory,
  ReconcilerLike,
} from './controller.js';
export { FAILURE_BACKOFF } from './controller.js';

export interface LeaderElectionSettings {
  namespace: string;
  name?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kube: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  /** One controller per kind; each gets its own informer, queue and workers. */
  controllers: ControllerDefinition<KubeObject>[];
  /** Watch these namespaces; all when absent or empty. */
  namespaces?: readonly string[];
  /** Reconcile only resources whose labels match (a shard of them); all when absent. */
  labelSelector?: string;
  /** Parallel reconciles per controller (default 4). */
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
  /**
   * Caches the reconcilers read besides their own kinds' (the namespaces, for their role
   * annotations): started, stopped and health-checked (`informer-<name>`) with the others.
   */
  caches?: Array<{ name: string; cache: ObjectCache<KubeObject> }>;
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
  readonly controllers: readonly Controller[];
  readonly elector: LeaderElector | undefined;
  /** Resolves once the manager has stopped, with the exit code the process should use. */
  readonly done: Promise<ManagerExit>;

  private readonly log: Logger;
  private servers: RunningServer[] = [];
  private metricsServer: RunningServer | undefined;
  private healthServer: RunningServer | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private finish!: (exit: ManagerExit) => void;
  private aborted = false;
  /** Aborted on stop: ends the waits for caches that will never sync now. */
  private readonly syncAbort = new AbortController();
  /** Per controller: resolves true once every cache it reads has synced, false if stopped first. */
  private readonly cachesSynced = new Map<string, Promise<boolean>>();
  /** The controllers whose caches have all synced. */
  private readonly syncedControllers = new Set<string>();

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger.child({ component: 'manager' });
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
    const settings = {
      kube: options.kube,
      logger: options.logger,
      metrics: options.metrics,
      concurrency: Math.max(1, options.concurrency ?? 4),
      resyncPeriodMs: options.resyncPeriodMs ?? 10 * 60_000,
      namespaces: options.namespaces ?? [],
      ...(options.labelSelector && { labelSelector: options.labelSelector }),
      ...(options.informerBackoff && { informerBackoff: options.informerBackoff }),
      failureBackoff: options.failureBackoff ?? FAILURE_BACKOFF,
    };
    this.controllers = options.controllers.map((d) => new Controller(d, settings));
    const cache = this.cacheReader();
    for (const c of this.controllers) {
      c.wire({ logger: options.logger, cache, mayWrite: () => this.mayWrite() }, (plural) =>
        this.controllerOf(plural),
      );
    }
    if (options.leaderElection) {
      const le = options.leaderElection;
      this.elector = new LeaderElector({
        kube: options.kube,
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

  /** The controller of this name. */
  controller(name: string): Controller {
    const c = this.controllers.find((x) => x.name === name);
    if (!c) throw new Error(`no controller named ${name}`);
    return c;
  }

  /** Resolves once every cache (each controller's and the shared ones) holds every object. */
  async waitForSync(): Promise<void> {
    await Promise.all([
      ...this.controllers.map((c) => c.informer.waitForSync()),
      ...this.sharedCaches.map(({ cache }) => cache.waitForSync()),
    ]);
  }

  /**
   * The caches a controller reads, by name: its own kind's, the kinds it watches, the shared
   * ones. Its workers start once they have all synced.
   */
  cachesOf(controller: Controller): Array<{ name: string; cache: ObjectCache<KubeObject> }> {
    const kinds = [controller.plural, ...controller.watchedPlurals].map((plural) => {
      const source = this.controllerOf(plural);
      if (!source) throw new Error(`${controller.name} reads ${plural}, which no controller serves`);
      return { name: plural, cache: source.informer as ObjectCache<KubeObject> };
    });
    const unique = kinds.filter((k, i) => kinds.findIndex((o) => o.name === k.name) === i);
    return [...unique, ...this.sharedCaches];
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

  /** Number of reconciles running now, over every controller. */
  get activeReconciles(): number {
    return this.controllers.reduce((n, c) => n + c.activeReconciles, 0);
  }

  /** Starts the servers, the informers and (after winning the lease, if elected) the workers. */
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
        [
          ...this.controllers.map((c) => ({
            name: `informer-${c.name}`,
            check: () => c.cacheProblem(),
          })),
          ...this.sharedCaches.map(({ name, cache }) => ({
            name: `informer-${name}`,
            check: () => cacheProblem(cache),
          })),
          // Whether each controller may start its workers: every cache it reads has synced.
          ...this.controllers.map((c) => ({
            name: `caches-${c.name}`,
            check: () => this.syncProblem(c),
          })),
        ],
        this.log,
      );
      if (this.healthServer) this.servers.push(this.healthServer);
    } catch (error) {
      await Promise.all(this.servers.map((s) => s.close()));
      this.servers = [];
      throw error;
    }
    for (const c of this.controllers) c.informer.start();
    for (const { cache } of this.sharedCaches) cache.start();
    // Waited for from the start, leader or not: a standby's caches are warm and it reports ready.
    for (const c of this.controllers) this.cachesSynced.set(c.name, this.waitForCaches(c));
    if (this.elector) this.elector.start();
    else this.startWorkers();
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
    this.syncAbort.abort(new Error(`stopping: ${reason}`));
    const drained = Promise.all(this.controllers.map((c) => c.drain()));
    if (!graceful) {
      // Lease lost: nothing to hand over (the lease is not ours to release) and no time to wait
      // for an API server that may be unreachable. Stop watching and go.
      for (const c of this.controllers) void c.informer.stop(0);
      for (const { cache } of this.sharedCaches) void cache.stop(0);
      await Promise.all(this.servers.map((s) => s.close()));
      this.servers = [];
      this.log.info({ reason, code }, 'stopped');
      this.finish({ code, reason, immediate: true });
      return;
    }
    if (this.activeReconciles > 0) {
      const timeoutMs = this.options.shutdownTimeoutMs ?? 30_000;
      this.log.info({ inFlight: this.activeReconciles, timeoutMs }, 'waiting for in-flight reconciles');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.log.warn({ inFlight: this.activeReconciles }, 'in-flight reconciles did not finish in time');
      }
    }
    await Promise.all([
      ...this.controllers.map((c) => c.informer.stop()),
      ...this.sharedCaches.map(({ cache }) => cache.stop()),
    ]);
    if (this.elector) await this.elector.release();
    await Promise.all(this.servers.map((s) => s.close()));
    this.servers = [];
    this.log.info({ reason, code }, 'stopped');
    this.finish({ code, reason, immediate: false });
  }

  /** Reconciles every resource of `namespace` again, of every kind (its AWS role changed). */
  requeueNamespace(namespace: string): void {
    this.requeueNamespaces([namespace]);
  }

  /** Reconciles every resource of these namespaces again, of every kind (a policy changed), in one pass. */
  requeueNamespaces(namespaces: Iterable<string>): void {
    const wanted = new Set(namespaces);
    if (wanted.size === 0) return;
    for (const c of this.controllers) {
      for (const namespace of wanted) {
        for (const obj of c.informer.byNamespace(namespace)) {
          const key = objectKey(obj);
          // A fresh start: backoff earned under the old mapping or policy says nothing about the new one.
          c.queue.forget(key);
          c.queue.add(key);
        }
      }
    }
  }

  private get sharedCaches(): Array<{ name: string; cache: ObjectCache<KubeObject> }> {
    return this.options.caches ?? [];
  }

  /** Starts each controller's workers once every cache it reads has synced (not if stopped first). */
  private startWorkers(): void {
    if (this.stopping) return;
    for (const c of this.controllers) {
      void this.cachesSynced.get(c.name)?.then((synced) => {
        if (synced && !this.stopping) c.startWorkers();
      });
    }
  }

  /** Resolves true once every cache `controller` reads has synced; false when stopped first. */
  private async waitForCaches(controller: Controller): Promise<boolean> {
    const caches = this.cachesOf(controller);
    const started = performance.now();
    try {
      await Promise.all(caches.map(({ cache }) => cache.waitForSync(this.syncAbort.signal)));
    } catch {
      return false;
    }
    this.syncedControllers.add(controller.name);
    this.log.info(
      {
        controller: controller.name,
        caches: caches.map(({ name }) => name),
        ms: Math.round(performance.now() - started),
      },
      'caches synced',
    );
    return true;
  }

  /** Which caches `controller` still waits for, or undefined once they have all synced. */
  private syncProblem(controller: Controller): string | undefined {
    if (this.syncedControllers.has(controller.name)) return undefined;
    const waiting = this.cachesOf(controller)
      .filter(({ cache }) => !cache.hasSynced())
      .map(({ name }) => name);
    return `waiting for caches to sync: ${waiting.length > 0 ? waiting.join(', ') : 'starting'}`;
  }

  private controllerOf(plural: string): Controller | undefined {
    return this.controllers.find((x) => x.plural === plural);
  }

  private cacheReader(): CacheReader {
    const of = (plural: string) => {
      const c = this.controllerOf(plural);
      if (!c) throw new Error(`no controller caches ${plural}`);
      return c.informer;
    };
    return {
      get: <T>(plural: string, key: string) => of(plural).get(key) as T | undefined,
      list: <T>(plural: string, namespace: string) => of(plural).byNamespace(namespace) as T[],
    };
  }
}
