// Which applications a resync reads (drift.ts): pure decisions, table-tested.
import { describe, expect, it } from 'vitest';
import type { ApplicationListing, ListedApplication } from '../../src/aws/application-listing.js';
import type { ApplicationState, AwsApplication } from '../../src/aws/port.js';
import {
  type DriftPolicy,
  LastSeen,
  movedReason,
  mustRead,
  readIsConfirmed,
  type SeenApplication,
  waitForListing,
} from '../../src/reconcile/application/drift.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-11-30T12:00:00Z');
const policy: DriftPolicy = { fullReadPeriodMs: 60 * MINUTE, resyncPeriodMs: 10 * MINUTE };

/** `null`: the answer had no updatedAt. */
function app(
  state: ApplicationState = 'STOPPED',
  updatedAt: number | null = T0 - 5 * MINUTE,
): AwsApplication {
  return {
    applicationId: 'app1',
    arn: 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/app1',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    state,
    tags: {},
    ...(updatedAt !== null ? { updatedAt: new Date(updatedAt) } : {}),
  };
}

function seen(more: Partial<SeenApplication> = {}): SeenApplication {
  return {
    resourceKey: 'data/analytics',
    generation: 3,
    app: app(),
    readAt: T0,
    observedAt: T0,
    confirmed: true,
    ...more,
  };
}

const settled = { key: 'data/analytics', generation: 3, deleting: false };

describe('mustRead: reasons to read that need no listing', () => {
  it.each([
    ['nothing seen yet (first look, or after a restart)', undefined, settled, T0, 'firstLook'],
    ['the spec changed since the read', seen(), { ...settled, generation: 4 }, T0, 'specChanged'],
    ['the resource is being deleted', seen(), { ...settled, deleting: true }, T0, 'deleting'],
    ['the application was CREATING', seen({ app: app('CREATING') }), settled, T0, 'settling'],
    ['the application was STARTING', seen({ app: app('STARTING') }), settled, T0, 'settling'],
    ['the application was STOPPING', seen({ app: app('STOPPING') }), settled, T0, 'settling'],
    [
      'the application was TERMINATED (never listed)',
      seen({ app: app('TERMINATED') }),
      settled,
      T0,
      'terminated',
    ],
    ['the read is not confirmed', seen({ confirmed: false }), settled, T0, 'unconfirmed'],
    [
      'the full read is due (half a resync before the period ends)',
      seen(),
      settled,
      T0 + 55 * MINUTE,
      'fullReadDue',
    ],
    ['another resource recorded the view', seen({ resourceKey: 'data/other' }), settled, T0, 'firstLook'],
    ['the full read is overdue', seen(), settled, T0 + 2 * 60 * MINUTE, 'fullReadDue'],
  ] as const)('reads when %s', (_what, view, resource, now, reason) => {
    expect(mustRead(view, resource, now, policy)).toBe(reason);
  });

  it.each([
    ['STOPPED', 'STOPPED'],
    ['CREATED', 'CREATED'],
    ['STARTED', 'STARTED'],
  ] as const)('leaves a confirmed %s application to the listing before the full read is due', (_s, state) => {
    const view = seen({ app: app(state) });
    expect(mustRead(view, settled, T0 + 54 * MINUTE, policy)).toBeUndefined();
    // The threshold is 5.5 resync periods: five resyncs of 10 minutes ±10 % come before it, the
    // sixth after it (unless all six drew nearly the shortest delay).
    expect(mustRead(view, settled, T0 + 55 * MINUTE - 1, policy)).toBeUndefined();
    expect(mustRead(view, settled, T0 + 55 * MINUTE, policy)).toBe('fullReadDue');
  });
});

describe('waitForListing: a resync waits for a fresh listing, a poll reads', () => {
  it.each([
    ['a resync, a period after the last look', T0 + 10 * MINUTE, true],
    ['half a period after the last look', T0 + 5 * MINUTE, true],
    ['a poll a minute after the last look', T0 + MINUTE, false],
    ['a requeue at once', T0, false],
  ] as const)('%s: %s', (_what, now, wait) => {
    expect(waitForListing(seen(), now, policy.resyncPeriodMs)).toBe(wait);
  });
});

describe('movedReason: what the listing says', () => {
  const listed = (state: ApplicationState, updatedAtMs: number | undefined): ListedApplication => ({
    state,
    updatedAtMs,
  });
  const at = T0 - 5 * MINUTE;

  it.each([
    ['missing from the listing', undefined, 'notListed'],
    ['in another state', listed('STARTED', at), 'moved'],
    ['updated later', listed('STOPPED', at + 1), 'moved'],
    ['updated earlier (a clock or a restore: still different)', listed('STOPPED', at - 1_000), 'moved'],
    ['listed without updatedAt', listed('STOPPED', undefined), 'moved'],
    ['unchanged', listed('STOPPED', at), undefined],
  ] as const)('%s: %s', (_what, entry, reason) => {
    expect(movedReason(seen(), entry)).toBe(reason);
  });

  it('a view without updatedAt is always moved', () => {
    expect(movedReason(seen({ app: app('STOPPED', null) }), listed('STOPPED', at))).toBe('moved');
  });
});

describe('readIsConfirmed: a read shows every change up to its start', () => {
  it.each([
    ['the read started a second or more after updatedAt', app('STOPPED', T0 - 1_000), T0, undefined, true],
    ['the read came within the second of updatedAt', app('STOPPED', T0 - 999), T0, undefined, false],
    ['updatedAt lies ahead of the local clock', app('STOPPED', T0 + 5_000), T0, undefined, false],
    ['the answer has no updatedAt', app('STOPPED', null), T0, undefined, false],
    ['two reads agree', app('STOPPED', T0 - 10), T0, seen({ app: app('STOPPED', T0 - 10) }), true],
    [
      'two reads agree on updatedAt, not on state',
      app('STARTED', T0 - 10),
      T0,
      seen({ app: app('STOPPED', T0 - 10) }),
      false,
    ],
    ['the previous read saw an older updatedAt', app('STOPPED', T0 - 10), T0, seen(), false],
  ] as const)('%s: %s', (_what, read, startedAt, previous, confirmed) => {
    expect(readIsConfirmed(read, startedAt, previous)).toBe(confirmed);
  });
});

describe('LastSeen', () => {
  const scope = {};
  const other = {};
  const listing = (takenAt: number, entries: [string, ListedApplication][]): ApplicationListing => ({
    takenAt,
    applications: new Map(entries),
  });
  const view = (id: string, resourceKey: string, more: Partial<SeenApplication> = {}) =>
    seen({ resourceKey, app: { ...app(), applicationId: id }, ...more });
  const unmoved: ListedApplication = { state: 'STOPPED', updatedAtMs: T0 - 5 * MINUTE };

  it('keeps views per scope', () => {
    const store = new LastSeen<object>();
    store.set(scope, view('a', 'ns/a'));
    expect(store.get(scope, 'a')?.resourceKey).toBe('ns/a');
    expect(store.get(other, 'a')).toBeUndefined();
    store.forget(scope, 'a');
    expect(store.get(scope, 'a')).toBeUndefined();
  });

  it('names the resources whose application a newer listing shows moved or gone', () => {
    const store = new LastSeen<object>();
    store.set(scope, view('same', 'ns/same'));
    store.set(scope, view('moved', 'ns/moved'));
    store.set(scope, view('gone', 'ns/gone'));
    store.set(
      scope,
      view('terminated', 'ns/terminated', { app: { ...app('TERMINATED'), applicationId: 'terminated' } }),
    );
    // Read after the listing started: the listing cannot know better.
    store.set(scope, view('fresh', 'ns/fresh', { observedAt: T0 + 2 * MINUTE }));
    store.set(other, view('elsewhere', 'ns/elsewhere'));
    const moved = store.movedIn(
      scope,
      listing(T0 + MINUTE, [
        ['same', unmoved],
        ['moved', { state: 'STARTED', updatedAtMs: T0 }],
      ]),
      T0 - 120 * MINUTE,
    );
    expect(moved.sort()).toEqual(['ns/gone', 'ns/moved']);
  });

  it('sweeps views nobody refreshed for the sweep period', () => {
    const store = new LastSeen<object>();
    store.set(scope, view('old', 'ns/old', { observedAt: T0 - 121 * MINUTE }));
    store.set(scope, view('kept', 'ns/kept'));
    store.movedIn(scope, listing(T0 + MINUTE, [['kept', unmoved]]), T0 - 120 * MINUTE);
    expect(store.size).toBe(1);
    expect(store.get(scope, 'old')).toBeUndefined();
  });
});
