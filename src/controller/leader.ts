// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
//
// - acquire when the lease has no holder (released) or its holder has not renewed it for
//   leaseDuration, measured on OUR clock from when we last saw the record change (so clock skew
//   between nodes does not matter);
// - renew every retryPeriod; if no renew succeeds within renewDeadline, or another holder shows up,
//   leadership is lost: `onLost` is called and the elector stops (the process must stop working
//   at once: another replica may already be reconciling);
// - `release()` on shutdown empties holderIdentity and sets leaseDurationSeconds to 1, so a peer
//   takes over within its next retry instead of waiting out the lease.
//
// Every write carries the resourceVersion it was based on: two candidates racing for the lease
// cannot both win (the loser gets 409 and tries again later).
//
// The write guard (holdsLease) counts the renew deadline from when the successful lease write was
// SENT, on the monotonic clock: a peer sees the renewal no earlier than it was sent, so a slow
// answer cannot stretch the window, and a wall-clock step (NTP) cannot stretch or shrink it.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type KubeClient, microTime, resourcePath } from '../kube/client.js';
import { describeError, httpStatusOf } from '../kube/errors.js';

export const DEFAULT_LEASE_NAME = 'emr-serverless-operator';

/**
 * The Lease of a shard started without --leader-election-id: one per selector (given in one
 * spelling, see canonicalLabelSelector), so that two shards never share a Lease by accident (the
 * second would stand by for ever) while the replicas of one shard do. A readable part for the
 * admin, and a hash of the whole selector that keeps different selectors apart.
 */
export function leaseNameForSelector(canonicalSelector: string | undefined): string {
  if (canonicalSelector === undefined) return DEFAULT_LEASE_NAME;
  const readable = canonicalSelector
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(canonicalSelector).digest('hex').slice(0, 10);
  return `${DEFAULT_LEASE_NAME}-${readable ? `${readable}-` : ''}${hash}`;
}

/** A coordination.k8s.io/v1 Lease, the fields leader election reads and writes. */
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    /** MicroTime strings, e.g. 2026-11-30T16:00:00.123000Z */
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const LEASES = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' };

export interface LeaderElectorOptions {
  kube: KubeClient;
  namespace: string;
  name?: string;
  /** Unique per process; default hostname + random suffix. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  onStartedLeading: () => void;
  /** Leadership lost without `release()` (renew deadline passed, or another holder took over). */
  onLost: (reason: string) => void;
  /** Reports leadership changes (metric leader_election_master_status). */
  onLeadingChanged?: (leading: boolean) => void;
  /** Wall clock in ms, for the lease's renewTime and acquireTime only; default Date.now. */
  now?: () => number;
  /** Monotonic clock in ms, for every duration; default performance.now. */
  clock?: () => number;
}

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(6).toString('hex')}`;
}

/** The lease is ours; `sentAt` (monotonic) is when the write that says so was sent. */
type Held = { sentAt: number };

export class LeaderElector {
  readonly name: string;
  readonly identity: string;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly clock: () => number;
  private leading = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The lease as we last read or wrote it. */
  private lease: Lease | undefined;
  /** Identity of the record we last saw, and when (monotonic clock) it last changed. */
  private observedRecord = '';
  private observedAt = 0;
  private lastKnownHolder: string | undefined;
  /** When (monotonic clock) the write that last acquired or renewed the lease was sent. */
  private lastRenewAt = 0;

  constructor(private readonly options: LeaderElectorOptions) {
    this.name = options.name ?? DEFAULT_LEASE_NAME;
    this.identity = options.identity ?? defaultIdentity();
    this.log = options.logger.child({
      component: 'leader-election',
      lease: `${options.namespace}/${this.name}`,
    });
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.now = options.now ?? Date.now;
    this.clock = options.clock ?? (() => performance.now());
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Leading, and the lease renewed within the renew deadline: the time until which no peer can
   * have taken it over. Stricter than isLeader(), which turns false only when a renew attempt
   * gives up; writes check this one.
   */
  holdsLease(): boolean {
    return this.leading && this.clock() - this.lastRenewAt < this.renewDeadlineMs;
  }

  /** Starts campaigning in the background. */
  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.run().catch((error: unknown) => {
      this.log.error({ err: describeError(error) }, 'leader election crashed');
      if (this.leading) this.lose(`leader election crashed: ${describeError(error)}`);
    });
  }

  /** Stops campaigning and, if leading, gives the lease up so a peer takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    if (!this.leading) return;
    this.setLeading(false);
    const lease = this.lease;
    if (!lease?.spec || lease.spec.holderIdentity !== this.identity) return;
    try {
      const now = microTime(this.now());
      await this.replace({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
        },
      });
      this.log.info('lease released');
    } catch (error) {
      this.log.warn(
        { err: describeError(error) },
        'could not release the lease; peers take over when it expires',
      );
    }
  }

  private async run(): Promise<void> {
    this.log.info({ identity: this.identity }, 'attempting to acquire leader lease');
    let acquired: number | undefined;
    while (!this.stopped) {
      // Bounded, so a hung request cannot hold up release() on shutdown.
      const attempt = await withTimeout(this.tryAcquireOrRenew(), this.renewDeadlineMs).catch(
        (error: unknown) => {
          this.log.warn({ err: describeError(error) }, 'error retrieving or updating the lease');
          return 'error' as const;
        },
      );
      if (this.stopped) return;
      if (attempt !== 'error' && attempt !== 'heldByOther') {
        acquired = attempt.sentAt;
        break;
      }
      await this.sleep(this.retryPeriodMs * (1 + Math.random() * 0.2));
    }
    if (this.stopped || acquired === undefined) return;
    this.log.info({ identity: this.identity }, 'acquired leader lease');
    this.lastRenewAt = acquired;
    this.setLeading(true);
    this.options.onStartedLeading();

    while (!this.stopped) {
      await this.sleep(this.retryPeriodMs);
      if (this.stopped) return;
      const remaining = this.lastRenewAt + this.renewDeadlineMs - this.clock();
      let attempt: Held | 'heldByOther' | 'error';
      try {
        attempt = await withTimeout(this.tryAcquireOrRenew(), Math.max(remaining, 1));
      } catch (error) {
        this.log.warn({ err: describeError(error) }, 'failed to renew the lease');
        attempt = 'error';
      }
      if (this.stopped) return;
      if (attempt === 'heldByOther') {
        this.lose(`lease taken over by ${this.lastKnownHolder}`);
        return;
      }
      if (attempt !== 'error') {
        this.lastRenewAt = attempt.sentAt;
        continue;
      }
      if (this.clock() - this.lastRenewAt >= this.renewDeadlineMs) {
        this.lose(`could not renew the lease within ${this.renewDeadlineMs} ms`);
        return;
      }
    }
  }

  private lose(reason: string): void {
    this.stopped = true;
    this.setLeading(false);
    this.log.error({ reason }, 'leader lease lost');
    this.options.onLost(reason);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.options.onLeadingChanged?.(leading);
  }

  /** One round of client-go's tryAcquireOrRenew. Throws on API errors. */
  private async tryAcquireOrRenew(): Promise<Held | 'heldByOther'> {
    const namespace = this.options.namespace;
    const nowTime = microTime(this.now());
    const leaseDurationSeconds = Math.round(this.leaseDurationMs / 1000);

    let current: Lease;
    try {
      current = await this.options.kube.request<Lease>({ method: 'GET', path: this.path() });
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
      const sentAt = this.clock();
      const created = await this.options.kube.request<Lease>({
        method: 'POST',
        path: resourcePath({ ...LEASES, namespace }),
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds,
            acquireTime: nowTime,
            renewTime: nowTime,
            leaseTransitions: 0,
          },
        },
      });
      this.observe(created);
      return { sentAt };
    }

    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.lastKnownHolder = holder;
    const observedDurationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const heldByUs = holder === this.identity;
    if (holder !== '' && !heldByUs && this.observedAt + observedDurationMs > this.clock())
      return 'heldByOther';

    const sentAt = this.clock();
    const updated = await this.replace({
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds,
        renewTime: nowTime,
        acquireTime: heldByUs && spec.acquireTime ? spec.acquireTime : nowTime,
        leaseTransitions: heldByUs ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    });
    this.observe(updated);
    return { sentAt };
  }

  private path(): string {
    return resourcePath({ ...LEASES, namespace: this.options.namespace, name: this.name });
  }

  /** PUT, which the API server refuses (409) if the lease changed since `lease` was read. */
  private replace(lease: Lease): Promise<Lease> {
    return this.options.kube.request<Lease>({ method: 'PUT', path: this.path(), body: lease });
  }

  private observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([
      spec.holderIdentity,
      String(spec.renewTime),
      spec.leaseDurationSeconds,
      spec.leaseTransitions,
    ]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.clock();
    }
    this.lease = lease;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** Rejects when `promise` has not settled after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms)} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
