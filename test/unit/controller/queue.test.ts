import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExponentialBackoffRateLimiter, WorkQueue } from '../../../src/controller/queue.js';

const newQueue = (options: ConstructorParameters<typeof WorkQueue<string>>[0] = {}) =>
  new WorkQueue<string>({ now: () => Date.now(), ...options });

/** Resolves with the promise's value, or 'pending' if it has not settled after the microtasks run. */
async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise,
    new Promise<symbol>((resolve) => setImmediate(() => resolve(marker))),
  ]);
  return result === marker ? 'pending' : (result as T);
}

describe('WorkQueue', () => {
  it('deduplicates keys that are queued', async () => {
    const q = newQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('hands a waiting worker the next add, without polling', async () => {
    const q = newQueue();
    const waiting = q.get();
    expect(await peek(waiting)).toBe('pending');
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('never hands out a key being processed; an add meanwhile re-queues it once on done', async () => {
    const q = newQueue();
    q.add('a');
    const key = await q.get();
    expect(key).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // not handed to a second worker
    const second = q.get();
    expect(await peek(second)).toBe('pending');
    q.done('a');
    expect(await second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0); // only once
    expect(await peek(q.get())).toBe('pending');
  });

  it('done without a pending add does not re-queue', async () => {
    const q = newQueue();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('reports metrics: adds, depth, queue and work duration, retries', async () => {
    const hooks = {
      add: vi.fn(),
      depth: vi.fn(),
      queueDuration: vi.fn(),
      workDuration: vi.fn(),
      retry: vi.fn(),
    };
    const q = newQueue({ metrics: hooks, rateLimiter: new ExponentialBackoffRateLimiter(1, 10) });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(hooks.add).toHaveBeenCalledTimes(2);
    expect(hooks.depth).toHaveBeenLastCalledWith(2);
    await q.get();
    expect(hooks.depth).toHaveBeenLastCalledWith(1);
    expect(hooks.queueDuration).toHaveBeenCalledTimes(1);
    q.done('a');
    expect(hooks.workDuration).toHaveBeenCalledTimes(1);
    q.addRateLimited('c');
    expect(hooks.retry).toHaveBeenCalledTimes(1);
  });

  it('hands keys out in turn by group: a group with many keys does not hold back another', async () => {
    const q = newQueue({ groupOf: (k) => k.split('/')[0]! });
    for (let i = 0; i < 5; i++) q.add(`noisy/${i}`);
    q.add('quiet/a');
    q.add('quiet/b');
    q.add('other/x');
    const order: string[] = [];
    while (q.len() > 0) order.push((await q.get())!);
    expect(order).toEqual([
      'noisy/0',
      'quiet/a',
      'other/x',
      'noisy/1',
      'quiet/b',
      'noisy/2',
      'noisy/3',
      'noisy/4',
    ]);
  });

  describe('with fake timers', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('addAfter delivers keys in time order', async () => {
      const q = newQueue();
      q.addAfter('late', 300);
      q.addAfter('early', 100);
      q.addAfter('middle', 200);
      expect(q.len()).toBe(0);
      expect(q.delayedLen()).toBe(3);
      vi.advanceTimersByTime(99);
      expect(q.len()).toBe(0);
      vi.advanceTimersByTime(1);
      expect(q.len()).toBe(1);
      vi.advanceTimersByTime(200);
      expect(q.len()).toBe(3);
      expect([await q.get(), await q.get(), await q.get()]).toEqual(['early', 'middle', 'late']);
    });

    it('addAfter: an earlier add of the same key wins, a later one is ignored', () => {
      const q = newQueue();
      q.addAfter('k', 1_000);
      q.addAfter('k', 100);
      q.addAfter('k', 5_000);
      expect(q.delayedLen()).toBe(1);
      vi.advanceTimersByTime(100);
      expect(q.len()).toBe(1);
      expect(q.delayedLen()).toBe(0);
      vi.advanceTimersByTime(10_000);
      expect(q.len()).toBe(1);
    });

    it('addAfter with no delay adds at once; a delayed add of a queued key changes nothing', () => {
      const q = newQueue();
      q.addAfter('now', 0);
      expect(q.len()).toBe(1);
      q.addAfter('now', 50);
      vi.advanceTimersByTime(50);
      expect(q.len()).toBe(1);
    });

    it('keeps one timer for many delayed keys', () => {
      const q = newQueue();
      const before = vi.getTimerCount();
      for (let i = 0; i < 5_000; i++) q.addAfter(`k${i}`, 1_000 + (i % 97) * 10);
      expect(vi.getTimerCount() - before).toBe(1);
      vi.advanceTimersByTime(2_000);
      expect(q.len()).toBe(5_000);
      expect(vi.getTimerCount() - before).toBe(0);
    });

    it('addRateLimited backs off exponentially per key until forget', () => {
      const limiter = new ExponentialBackoffRateLimiter<string>(5, 5 * 60_000);
      const q = newQueue({ rateLimiter: limiter });
      const delays: number[] = [];
      for (let i = 0; i < 20; i++) delays.push(limiter.when('k'));
      expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
      expect(Math.max(...delays)).toBe(5 * 60_000);
      expect(delays.at(-1)).toBe(5 * 60_000);
      limiter.forget('k');

      q.addRateLimited('a');
      expect(q.numRequeues('a')).toBe(1);
      vi.advanceTimersByTime(4);
      expect(q.len()).toBe(0);
      vi.advanceTimersByTime(1);
      expect(q.len()).toBe(1);
      q.addRateLimited('b');
      q.addRateLimited('b');
      q.addRateLimited('b');
      expect(q.numRequeues('b')).toBe(3);
      expect(q.numRequeues('a')).toBe(1);
      q.forget('b');
      expect(q.numRequeues('b')).toBe(0);
    });

    it('addAfterBackoff: adds at once unless the key backs off, then when the backoff ends', () => {
      const q = newQueue({ rateLimiter: new ExponentialBackoffRateLimiter<string>(1_000, 60_000) });
      q.addAfterBackoff('fresh');
      expect(q.len()).toBe(1);
      q.addRateLimited('failing'); // retry due in 1 s
      vi.advanceTimersByTime(400);
      for (let i = 0; i < 10; i++) q.addAfterBackoff('failing');
      expect(q.len()).toBe(1);
      vi.advanceTimersByTime(599);
      expect(q.len()).toBe(1);
      vi.advanceTimersByTime(1);
      expect(q.len()).toBe(2);
      q.forget('failing');
    });

    it('holdOff: addAfterBackoff waits for it too, without a failure counted; forget lifts it', () => {
      const q = newQueue({ rateLimiter: new ExponentialBackoffRateLimiter<string>(1_000, 60_000) });
      q.holdOff('refused', 10_000);
      for (let i = 0; i < 10; i++) q.addAfterBackoff('refused');
      expect(q.len()).toBe(0);
      expect(q.numRequeues('refused')).toBe(0);
      vi.advanceTimersByTime(10_000);
      expect(q.len()).toBe(1);
      // A spec change forgets it: the next edit is at once.
      q.holdOff('lifted', 10_000);
      q.forget('lifted');
      q.addAfterBackoff('lifted');
      expect(q.len()).toBe(2);
    });

    it('addAfterBackoff while processing: a failure meanwhile keeps its backoff; a success adds at once', async () => {
      const q = newQueue({ rateLimiter: new ExponentialBackoffRateLimiter<string>(1_000, 60_000) });
      q.add('k');
      expect(await q.get()).toBe('k');
      q.addAfterBackoff('k');
      q.addRateLimited('k'); // the reconcile failed
      q.done('k');
      expect(q.len()).toBe(0);
      vi.advanceTimersByTime(1_000);
      expect(q.len()).toBe(1);
      expect(await q.get()).toBe('k');
      q.addAfterBackoff('k');
      q.forget('k'); // this time it succeeded
      q.done('k');
      expect(q.len()).toBe(1);
    });

    it('backoff never exceeds the maximum, however many failures', () => {
      const limiter = new ExponentialBackoffRateLimiter<string>(5, 300_000);
      let last = 0;
      for (let i = 0; i < 2_000; i++) last = limiter.when('k');
      expect(last).toBe(300_000);
    });
  });

  describe('shutdown', () => {
    it('wakes idle workers with undefined and ignores later adds', async () => {
      const q = newQueue();
      const waiting = [q.get(), q.get()];
      q.shutDown();
      expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
      q.add('a');
      q.addAfter('b', 1);
      q.addRateLimited('c');
      expect(q.len()).toBe(0);
      expect(await q.get()).toBeUndefined();
    });

    it('still hands out keys queued before the shutdown, then undefined', async () => {
      const q = newQueue();
      q.add('a');
      q.add('b');
      q.shutDown();
      expect(await q.get()).toBe('a');
      expect(await q.get()).toBe('b');
      expect(await q.get()).toBeUndefined();
    });

    it('drops delayed keys', async () => {
      const q = newQueue();
      q.addAfter('later', 10);
      q.shutDown();
      expect(q.delayedLen()).toBe(0);
      await new Promise((r) => setTimeout(r, 20));
      expect(await q.get()).toBeUndefined();
    });

    it('shutDownWithDrain waits for every key handed out to be done', async () => {
      const q = newQueue();
      q.add('a');
      q.add('b');
      const a = await q.get();
      const b = await q.get();
      const drained = q.shutDownWithDrain();
      expect(await peek(drained)).toBe('pending');
      q.done(a as string);
      expect(await peek(drained)).toBe('pending');
      q.done(b as string);
      expect(await peek(drained)).toBeUndefined();
    });

    it('shutDownWithDrain resolves at once when nothing is processing', async () => {
      const q = newQueue();
      await q.shutDownWithDrain();
      expect(q.isShuttingDown()).toBe(true);
    });
  });
});
