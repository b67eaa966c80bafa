import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../src/aws/rate-limiter.js';

/** Takes `n` tokens and records, for each, the fake time at which it was granted. */
function takeAll(bucket: TokenBucket, n: number): number[] {
  const grantedAt: number[] = [];
  for (let i = 0; i < n; i++) {
    void bucket.take().then(() => grantedAt.push(Date.now()));
  }
  return grantedAt;
}

describe('TokenBucket', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('grants the burst at once, then one token per 1/rps seconds', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 3 });
    const grantedAt = takeAll(bucket, 8);
    await vi.advanceTimersByTimeAsync(0);
    expect(grantedAt).toEqual([0, 0, 0]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(grantedAt).toEqual([0, 0, 0, 100, 200, 300, 400, 500]);
  });

  it('defaults the burst to rps', async () => {
    const bucket = new TokenBucket({ rps: 5 });
    expect(bucket.burst).toBe(5);
    const grantedAt = takeAll(bucket, 6);
    await vi.advanceTimersByTimeAsync(0);
    expect(grantedAt).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(200);
    expect(grantedAt).toHaveLength(6);
  });

  it('saves tokens up to the burst while idle, and no more', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 2 });
    await vi.advanceTimersByTimeAsync(0);
    takeAll(bucket, 2);
    await vi.advanceTimersByTimeAsync(10_000); // idle long enough for 100 tokens, capped at 2
    const grantedAt = takeAll(bucket, 3);
    await vi.advanceTimersByTimeAsync(0);
    expect(grantedAt).toEqual([10_000, 10_000]);
    await vi.advanceTimersByTimeAsync(100);
    expect(grantedAt).toEqual([10_000, 10_000, 10_100]);
  });

  it('serves waiters first come, first served; a newcomer never overtakes', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 1 });
    const order: string[] = [];
    await bucket.take(); // the only token
    for (const who of ['a', 'b', 'c']) void bucket.take().then(() => order.push(who));
    await vi.advanceTimersByTimeAsync(150); // a token for 'a' at 100 ms, half of the next one saved
    void bucket.take().then(() => order.push('late'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(order).toEqual(['a', 'b', 'c', 'late']);
  });

  it('serves waiting namespaces in turn: a late namespace waits one turn, not behind the whole queue', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 1 });
    const order: string[] = [];
    await bucket.take('noisy'); // the only token
    for (let i = 0; i < 6; i++) void bucket.take('noisy').then(() => order.push(`noisy-${i}`));
    await vi.advanceTimersByTimeAsync(150); // noisy-0 at 100 ms
    for (let i = 0; i < 2; i++) void bucket.take('quiet').then(() => order.push(`quiet-${i}`));
    void bucket.take('other').then(() => order.push('other-0'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(order).toEqual([
      'noisy-0',
      'noisy-1',
      'quiet-0',
      'other-0',
      'noisy-2',
      'quiet-1',
      'noisy-3',
      'noisy-4',
      'noisy-5',
    ]);
  });

  it('gives the whole rate to one namespace while no other waits', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 1 });
    const grantedAt: number[] = [];
    for (let i = 0; i < 11; i++) void bucket.take('only').then(() => grantedAt.push(Date.now()));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(grantedAt).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000]);
  });

  it('keeps at most one timer however many callers wait', async () => {
    const bucket = new TokenBucket({ rps: 1, burst: 1 });
    await bucket.take();
    for (let i = 0; i < 50; i++) void bucket.take();
    expect(vi.getTimerCount()).toBe(1);
    expect(bucket.pending).toBe(50);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(vi.getTimerCount()).toBe(1);
    expect(bucket.pending).toBe(40);
  });

  it.each([0, -1, Number.POSITIVE_INFINITY, Number.NaN])('is unlimited for rps %s', async (rps) => {
    const bucket = new TokenBucket({ rps });
    const grantedAt = takeAll(bucket, 1_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(grantedAt).toHaveLength(1_000);
    expect(vi.getTimerCount()).toBe(0);
    bucket.throttled(); // a no-op: there is no rate to lower
    expect(bucket.currentRate).toBe(Number.POSITIVE_INFINITY);
  });

  it('halves the rate on throttling, drops the saved burst, and recovers over recoveryMs', async () => {
    const bucket = new TokenBucket({ rps: 20, burst: 20, recoveryMs: 10_000, minRateFactor: 0.1 });
    bucket.throttled();
    expect(bucket.currentRate).toBe(10);
    // The saved burst is gone: the next token comes after 1/10 s, not at once.
    const grantedAt = takeAll(bucket, 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(grantedAt).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(grantedAt).toEqual([100]);

    // Back to 20 rps within recoveryMs, linearly.
    await vi.advanceTimersByTimeAsync(2_500);
    expect(bucket.currentRate).toBeGreaterThan(10);
    expect(bucket.currentRate).toBeLessThan(20);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(bucket.currentRate).toBe(20);
  });

  it('cuts once per throttle window, and never below the floor', async () => {
    const bucket = new TokenBucket({ rps: 100, minRateFactor: 0.1, throttleWindowMs: 1_000 });
    for (let i = 0; i < 10; i++) bucket.throttled(); // one storm: counts once
    expect(bucket.currentRate).toBe(50);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      bucket.throttled();
    }
    // Every cut halves; recovery between cuts (0.09 per second) cannot keep up.
    expect(bucket.currentRate).toBeGreaterThanOrEqual(10);
    expect(bucket.currentRate).toBeLessThan(20);
  });

  it('re-arms its timer for the slower rate when throttled while callers wait', async () => {
    const bucket = new TokenBucket({ rps: 10, burst: 1, minRateFactor: 0.5, recoveryMs: 1_000_000 });
    await bucket.take();
    const grantedAt = takeAll(bucket, 2);
    bucket.throttled(); // now 5 rps: 200 ms per token
    await vi.advanceTimersByTimeAsync(1_000);
    expect(grantedAt[0]).toBeGreaterThanOrEqual(200);
    expect(grantedAt[1]! - grantedAt[0]!).toBeGreaterThanOrEqual(199);
  });
});
