// A client-side token bucket: every AWS request of a region takes one token (aws/clients.ts),
// so a burst of reconciles cannot exceed `--aws-rps` and a throttling storm is not amplified.
//
// - `rps` tokens per second accrue up to `burst`; `take()` resolves when a token is free.
// - Waiters are grouped by tenant (the namespace a call is for, tenant.ts) and the groups are
//   served round-robin (fair-queue.ts): when the budget is contended, each namespace waiting gets
//   an equal share of it, so one namespace's burst of calls cannot starve the others; a budget
//   only one namespace wants is that namespace's in full. Within a tenant, first come, first
//   served; a new caller never overtakes a queued one, even when a token happens to be free.
// - One timer at most, set for the moment the next queued caller can have its token: no polling.
// - `rps <= 0` or `Infinity` means unlimited: `take()` resolves at once.
//
// Back-off on throttling (AIMD, kept deliberately simple): `throttled()` halves the current rate
// (not below `minRateFactor` of `rps`, at most once per `throttleWindowMs` so one burst of
// throttled answers counts once) and drops any saved burst; the rate then climbs back linearly,
// reaching `rps` again `recoveryMs` after it was at its floor. The SDK's own retry backoff still
// applies on top of this.

import { FairQueue } from './fair-queue.js';

export interface TokenBucketOptions {
  /** Tokens per second; `<= 0` or `Infinity` means unlimited. */
  rps: number;
  /** Most tokens that can be saved up for a burst; default `max(1, rps)`. */
  burst?: number;
  /** Time for the rate to climb from its floor back to `rps` after throttling; default 10 s. */
  recoveryMs?: number;
  /** The lowest fraction of `rps` that throttling can push the rate to; default 0.1. */
  minRateFactor?: number;
  /** Throttled answers within this window after a cut do not cut again; default 1 s. */
  throttleWindowMs?: number;
  /** Milliseconds from a monotonic clock; default `performance.now()`. */
  now?: () => number;
}

export class TokenBucket {
  readonly rps: number;
  readonly burst: number;
  private readonly unlimited: boolean;
  private readonly recoveryMs: number;
  private readonly minRateFactor: number;
  private readonly throttleWindowMs: number;
  private readonly now: () => number;

  private tokens: number;
  private lastRefill: number;
  /** The fraction of `rps` currently allowed: 1 unless throttling was seen lately. */
  private rateFactor = 1;
  private lastCut = Number.NEGATIVE_INFINITY;
  private readonly waiters = new FairQueue<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: TokenBucketOptions) {
    this.rps = options.rps;
    this.unlimited = !(options.rps > 0) || !Number.isFinite(options.rps);
    this.burst = Math.max(1, options.burst ?? options.rps);
    this.recoveryMs = options.recoveryMs ?? 10_000;
    this.minRateFactor = options.minRateFactor ?? 0.1;
    this.throttleWindowMs = options.throttleWindowMs ?? 1_000;
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.lastRefill = this.now();
  }

  /** Resolves when the caller may send one request; `tenant` names whose turn it takes. */
  take(tenant = ''): Promise<void> {
    if (this.unlimited) return Promise.resolve();
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.waiters.push(tenant, resolve);
      this.schedule();
    });
  }

  /** The service throttled a request of this bucket: slow down for a while. */
  throttled(): void {
    if (this.unlimited) return;
    this.refill();
    const at = this.now();
    if (at - this.lastCut < this.throttleWindowMs) return;
    this.lastCut = at;
    this.rateFactor = Math.max(this.minRateFactor, this.rateFactor / 2);
    this.tokens = 0;
    // A timer set for the old rate fires early; drain() then finds no token and re-arms it.
  }

  /** Requests per second allowed right now (lower than `rps` after throttling). */
  get currentRate(): number {
    if (this.unlimited) return Number.POSITIVE_INFINITY;
    this.refill();
    return this.rps * this.rateFactor;
  }

  /** Callers waiting for a token. */
  get pending(): number {
    return this.waiters.length;
  }

  private refill(): void {
    const at = this.now();
    const elapsed = at - this.lastRefill;
    if (elapsed <= 0) return;
    this.lastRefill = at;
    // Tokens accrue at the rate in force at the start of the interval: slightly conservative.
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.rps * this.rateFactor);
    this.rateFactor = Math.min(1, this.rateFactor + (elapsed / this.recoveryMs) * (1 - this.minRateFactor));
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiters.length === 0) return;
    const missing = 1 - this.tokens;
    const waitMs = Math.max(1, Math.ceil((missing / (this.rps * this.rateFactor)) * 1000));
    this.timer = setTimeout(() => this.drain(), waitMs);
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    // The epsilon absorbs floating-point dust so a waiter is not re-armed for a 1 ms timer.
    while (this.waiters.length > 0 && this.tokens >= 1 - 1e-9) {
      this.tokens -= 1;
      this.waiters.shift()?.();
    }
    this.schedule();
  }
}
