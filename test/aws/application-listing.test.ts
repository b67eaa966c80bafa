// ApplicationListings: one listing in flight per scope, never older than the caller allows,
// refreshed in the background, failures answered without a call for a while. The listing
// function is a counter here (the SDK side is tested in sdk-port.test.ts against the local
// service), and the clock is the test's.
import { describe, expect, it } from 'vitest';
import { ApplicationListings } from '../../src/aws/application-listing.js';
import { type ApplicationSummary, AwsError } from '../../src/aws/port.js';

const REFRESH_AFTER = 1_000;
const MAX_AGE = 2_000;

function harness() {
  let now = 10_000;
  let calls = 0;
  let answer: () => Promise<ApplicationSummary[]> = async () => [
    { applicationId: 'a', state: 'STOPPED', updatedAt: new Date(5_000) },
  ];
  const gates: Array<() => void> = [];
  let gated = false;
  const listings = new ApplicationListings({
    list: async () => {
      calls++;
      if (gated) await new Promise<void>((resolve) => gates.push(resolve));
      return answer();
    },
    refreshAfterMs: REFRESH_AFTER,
    maxAgeMs: MAX_AGE,
    now: () => now,
  });
  return {
    listings,
    get calls() {
      return calls;
    },
    tick: (ms: number) => {
      now += ms;
    },
    get now() {
      return now;
    },
    answer: (fn: () => Promise<ApplicationSummary[]>) => {
      answer = fn;
    },
    gate: (on: boolean) => {
      gated = on;
    },
    open: () => {
      for (const g of gates.splice(0)) g();
    },
  };
}

describe('ApplicationListings', () => {
  it('answers the state and updatedAt of each listed application, taken when the listing started', async () => {
    const h = harness();
    const listing = await h.listings.takenAfter(0);
    expect(listing.takenAt).toBe(10_000);
    expect(listing.applications.get('a')).toEqual({ state: 'STOPPED', updatedAtMs: 5_000 });
  });

  it('sends one listing for every caller that waits at the same time', async () => {
    const h = harness();
    h.gate(true);
    const waiting = Promise.all([
      h.listings.takenAfter(0),
      h.listings.takenAfter(5),
      h.listings.takenAfter(9_999),
    ]);
    await Promise.resolve();
    h.open();
    const [a, b, c] = await waiting;
    expect(h.calls).toBe(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
  });

  it('reuses a listing taken after what the caller saw, and lists again for a caller who saw later', async () => {
    const h = harness();
    const first = await h.listings.takenAfter(0);
    h.tick(100);
    expect(await h.listings.takenAfter(9_000)).toBe(first);
    expect(h.calls).toBe(1);
    // Saw the application at the listing's own time: that listing tells it nothing new.
    const second = await h.listings.takenAfter(first.takenAt);
    expect(h.calls).toBe(2);
    expect(second.takenAt).toBe(10_100);
  });

  it('does not hand a listing that started before what the caller saw: it waits for the next', async () => {
    const h = harness();
    h.gate(true);
    const early = h.listings.takenAfter(0);
    await Promise.resolve();
    h.tick(50);
    const late = h.listings.takenAfter(10_020);
    await Promise.resolve();
    h.open();
    await early;
    await new Promise((resolve) => setTimeout(resolve, 0));
    h.open();
    const listing = await late;
    expect(h.calls).toBe(2);
    expect(listing.takenAt).toBe(10_050);
  });

  it('refreshes an old listing in the background and answers the old one meanwhile', async () => {
    const h = harness();
    const first = await h.listings.takenAfter(0);
    h.tick(REFRESH_AFTER);
    h.gate(true);
    expect(await h.listings.takenAfter(0)).toBe(first);
    expect(h.calls).toBe(2);
    // Still refreshing: no second background listing.
    expect(await h.listings.takenAfter(0)).toBe(first);
    expect(h.calls).toBe(2);
    h.open();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const refreshed = await h.listings.takenAfter(0);
    expect(refreshed.takenAt).toBe(11_000);
  });

  it('never answers a listing older than maxAgeMs: the caller waits for a fresh one', async () => {
    const h = harness();
    const first = await h.listings.takenAfter(0);
    h.tick(MAX_AGE);
    const fresh = await h.listings.takenAfter(0);
    expect(fresh).not.toBe(first);
    expect(fresh.takenAt).toBe(first.takenAt + MAX_AGE);
    expect(h.calls).toBe(2);
  });

  it('answers a failure to every waiter, and to later callers without a call until refreshAfterMs', async () => {
    const h = harness();
    const denied = new AwsError('accessDenied', 'AccessDeniedException', 'no', 'ListApplications');
    h.answer(async () => {
      throw denied;
    });
    await expect(h.listings.takenAfter(0)).rejects.toBe(denied);
    h.tick(REFRESH_AFTER - 1);
    await expect(h.listings.takenAfter(0)).rejects.toBe(denied);
    expect(h.calls).toBe(1);
    h.tick(1);
    h.answer(async () => []);
    expect((await h.listings.takenAfter(0)).applications.size).toBe(0);
    expect(h.calls).toBe(2);
  });
});
