import { describe, expect, it } from 'vitest';
import { correlationKey, EventCorrelator, eventName, truncateUtf8 } from '../../../src/controller/events.js';

const payload = () => ({});

describe('EventCorrelator', () => {
  it('creates on the first occurrence', () => {
    const c = new EventCorrelator();
    const d = c.observe('k', 0, payload);
    expect(d).toMatchObject({ kind: 'write', isNew: true });
    expect(d.entry.count).toBe(1);
  });

  it('a repeat inside the patch interval is deferred once, then only counted', () => {
    const c = new EventCorrelator({ patchIntervalMs: 30_000 });
    const first = c.observe('k', 0, payload);
    first.entry.lastWriteAt = 0; // the recorder does this when it writes
    const second = c.observe('k', 1_000, payload);
    expect(second).toMatchObject({ kind: 'defer', delayMs: 29_000 });
    expect(second.entry.count).toBe(2);
    second.entry.flushScheduled = true; // the recorder schedules the deferred write
    const third = c.observe('k', 2_000, payload);
    expect(third.kind).toBe('none');
    expect(third.entry.count).toBe(3);
    expect(third.entry).toBe(first.entry);
  });

  it('patches at most once per interval', () => {
    const c = new EventCorrelator({ patchIntervalMs: 30_000 });
    const writes: number[] = [];
    for (let t = 0; t <= 120_000; t += 1_000) {
      const d = c.observe('k', t, payload);
      if (d.kind === 'write') {
        d.entry.lastWriteAt = t;
        writes.push(t);
      }
      if (d.kind === 'defer') d.entry.flushScheduled = true;
      // A deferred write fires when due (the recorder's timer).
      if (d.entry.flushScheduled && t >= d.entry.lastWriteAt + 30_000) {
        d.entry.flushScheduled = false;
      }
    }
    expect(writes[0]).toBe(0);
    for (let i = 1; i < writes.length; i++) {
      expect((writes[i] as number) - (writes[i - 1] as number)).toBeGreaterThanOrEqual(30_000);
    }
  });

  it('a repeat after the window (since the last occurrence) starts a new Event', () => {
    const c = new EventCorrelator({ windowMs: 600_000 });
    const first = c.observe('k', 0, payload);
    first.entry.lastWriteAt = 0;
    const inside = c.observe('k', 500_000, payload);
    expect(inside.kind).toBe('write');
    expect(inside.entry.count).toBe(2);
    // 600 s after the last occurrence: still the same series (window is inclusive)
    expect(c.observe('k', 1_100_000, payload).entry.count).toBe(3);
    const after = c.observe('k', 1_700_001, payload);
    expect(after).toMatchObject({ kind: 'write', isNew: true });
    expect(after.entry.count).toBe(1);
  });

  it('different keys are separate series', () => {
    const c = new EventCorrelator();
    c.observe('a', 0, payload);
    expect(c.observe('b', 1, payload)).toMatchObject({ kind: 'write', isNew: true });
  });

  it('keeps at most maxEntries, forgetting the least recently seen', () => {
    const c = new EventCorrelator({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) c.observe(k, 0, payload).entry.lastWriteAt = 0;
    c.observe('a', 1, payload); // a is now the most recent
    c.observe('d', 2, payload); // evicts b
    expect(c.size).toBe(3);
    expect(c.observe('a', 3, payload).entry.count).toBe(3);
    expect(c.observe('b', 4, payload)).toMatchObject({ isNew: true });
  });

  it('stays bounded under many distinct events', () => {
    const c = new EventCorrelator({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) c.observe(`k${i}`, i, payload);
    expect(c.size).toBe(100);
  });
});

describe('event helpers', () => {
  const obj = {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: { name: 'analytics', namespace: 'data', uid: 'uid-1', generation: 1 },
    spec: {},
  };

  it('correlates on object, type, reason and message (not action)', () => {
    const e = { type: 'Warning', reason: 'KeyDisabled', action: 'DescribeKey', message: 'm' } as const;
    expect(correlationKey(obj, e)).toBe(correlationKey(obj, { ...e, action: 'Other' }));
    expect(correlationKey(obj, e)).not.toBe(correlationKey(obj, { ...e, message: 'n' }));
    expect(correlationKey(obj, e)).not.toBe(correlationKey(obj, { ...e, type: 'Normal' }));
    expect(correlationKey(obj, e)).not.toBe(
      correlationKey({ ...obj, metadata: { ...obj.metadata, uid: 'uid-2' } }, e),
    );
  });

  it('names events like client-go: object name, dot, unique suffix', () => {
    const a = eventName('analytics', 1_700_000_000_000);
    const b = eventName('analytics', 1_700_000_000_000);
    expect(a).toMatch(/^analytics\.[0-9a-f]+$/);
    expect(a).not.toBe(b);
    expect(eventName('x'.repeat(253), 1).length).toBeLessThanOrEqual(253);
  });

  it('truncates notes to a byte budget without splitting characters', () => {
    expect(truncateUtf8('short', 1024)).toBe('short');
    const long = 'é'.repeat(1000); // 2000 bytes
    const cut = truncateUtf8(long, 1024);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1024);
    expect(cut.endsWith('...')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
  });
});
