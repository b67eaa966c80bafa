// Drift detection by listing: which applications a reconcile must read with GetApplication, and
// which it may plan from the view it read last, because the scope's ListApplications shows them
// unmoved (same state, same updatedAt). The decisions are pure (drift.test.ts); LastSeen is the
// process's memory of what it read.
//
// A view is reused only when every one of these holds; otherwise the application is read:
// - it was read in this process, for this resource and the same generation of it (a spec
//   change reads);
// - the resource is not being deleted and the application was CREATED, STARTED or STOPPED;
// - the read was confirmed: it started at least CONFIRM_AFTER_MS after the application's
//   updatedAt, or a second read saw the same updatedAt (a change within the same second as the
//   one read could otherwise hide behind an equal, coarse timestamp);
// - its last full read is younger than the full-read period (what does not move updatedAt,
//   tags for example, is found by that read);
// - a listing taken after the view shows the application with the same state and updatedAt.
// A view is never a reason to write: a plan made from one that wants to act is made again from a
// fresh read (reconciler.ts).
import type { ApplicationListing, ListedApplication } from '../../aws/application-listing.js';
import type { ApplicationState, AwsApplication } from '../../aws/port.js';

/** Why an application is read rather than planned from its last view. */
export type ReadReason =
  | 'firstLook'
  | 'specChanged'
  | 'deleting'
  | 'settling'
  | 'terminated'
  | 'unconfirmed'
  | 'fullReadDue'
  | 'polling'
  | 'notListed'
  | 'moved';

/** What the process last learnt about one application, bound to one resource. */
export interface SeenApplication {
  /** `namespace/name` of the resource bound to it. */
  resourceKey: string;
  /** The resource's metadata.generation when the application was read. */
  generation: number | undefined;
  /** The application as last read (or as the operator's own actions left it). */
  app: AwsApplication;
  /** When it was last read in full (epoch ms, the operator's clock). */
  readAt: number;
  /** Since when the view is known to hold: the read, or a later listing that showed it unmoved. */
  observedAt: number;
  /** The read is known to show every change up to `readAt` (see CONFIRM_AFTER_MS). */
  confirmed: boolean;
}

/** A read that starts this long after updatedAt cannot share its (possibly whole) second with a later change. */
export const CONFIRM_AFTER_MS = 1_000;

const SETTLED: readonly ApplicationState[] = ['CREATED', 'STARTED', 'STOPPED'];

export interface DriftPolicy {
  /** An application is read in full at least this often. */
  fullReadPeriodMs: number;
  /** The resync period: the full read happens at the last resync before the period runs out. */
  resyncPeriodMs: number;
}

/**
 * The reasons to read that need no listing; undefined when the listing decides (movedReason).
 */
export function mustRead(
  seen: SeenApplication | undefined,
  resource: { key: string; generation: number | undefined; deleting: boolean },
  now: number,
  policy: DriftPolicy,
): ReadReason | undefined {
  // A view another resource recorded (two resources naming one application) is not this one's.
  if (!seen || seen.resourceKey !== resource.key) return 'firstLook';
  if (seen.generation !== resource.generation) return 'specChanged';
  if (resource.deleting) return 'deleting';
  // Never listed (the listing has live applications only): read on every look, as before.
  if (seen.app.state === 'TERMINATED') return 'terminated';
  if (!SETTLED.includes(seen.app.state)) return 'settling';
  if (!seen.confirmed) return 'unconfirmed';
  // Half a resync period early: the next resync (±10 % jitter) would come after the period ran out.
  if (now - seen.readAt >= policy.fullReadPeriodMs - policy.resyncPeriodMs / 2) return 'fullReadDue';
  return undefined;
}

/**
 * Whether to wait for a fresh listing when none taken after the view is at hand. A look within
 * half a resync period of the last one is a poll (a state or a backoff being waited out), not a
 * resync: one GetApplication is cheaper than listing the whole scope for it.
 */
export function waitForListing(seen: SeenApplication, now: number, resyncPeriodMs: number): boolean {
  return now - seen.observedAt >= resyncPeriodMs / 2;
}

/** Whether the listing shows the application changed since it was seen; undefined when not. */
export function movedReason(
  seen: SeenApplication,
  listed: ListedApplication | undefined,
): ReadReason | undefined {
  if (!listed) return 'notListed';
  const seenAt = seen.app.updatedAt?.getTime();
  if (listed.state !== seen.app.state || listed.updatedAtMs === undefined || listed.updatedAtMs !== seenAt)
    return 'moved';
  return undefined;
}

/** Whether a fresh read may be trusted to show every change up to when it started. */
export function readIsConfirmed(
  app: AwsApplication,
  readStartedAt: number,
  previous: SeenApplication | undefined,
): boolean {
  const updatedAt = app.updatedAt?.getTime();
  if (updatedAt === undefined) return false;
  if (readStartedAt - updatedAt >= CONFIRM_AFTER_MS) return true;
  // Two reads agree: whatever the clocks say, nothing changed between them.
  return previous?.app.updatedAt?.getTime() === updatedAt && previous.app.state === app.state;
}

/**
 * The process's views of the applications it reconciles, per listing scope. Entries nobody
 * refreshed for two full-read periods (their resource is gone) are swept.
 */
export class LastSeen<Scope extends object> {
  private readonly byScope = new Map<Scope, Map<string, SeenApplication>>();

  get(scope: Scope, applicationId: string): SeenApplication | undefined {
    return this.byScope.get(scope)?.get(applicationId);
  }

  set(scope: Scope, seen: SeenApplication): void {
    let views = this.byScope.get(scope);
    if (!views) {
      views = new Map();
      this.byScope.set(scope, views);
    }
    views.set(seen.app.applicationId, seen);
  }

  forget(scope: Scope, applicationId: string): void {
    this.byScope.get(scope)?.delete(applicationId);
  }

  /**
   * The resources whose application the listing shows moved or gone since their view (they are
   * reconciled at once rather than at their next resync); drops views older than `sweepBefore`.
   */
  movedIn(scope: Scope, listing: ApplicationListing, sweepBefore: number): string[] {
    const views = this.byScope.get(scope);
    const moved: string[] = [];
    for (const [id, seen] of views ?? []) {
      if (seen.observedAt < sweepBefore) {
        views?.delete(id);
        continue;
      }
      // A view newer than the listing learns nothing from it; a TERMINATED application is never
      // listed, and its resource reads it on each look anyway.
      if (seen.observedAt >= listing.takenAt || seen.app.state === 'TERMINATED') continue;
      if (movedReason(seen, listing.applications.get(id))) moved.push(seen.resourceKey);
    }
    return moved;
  }

  /** Views held (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const views of this.byScope.values()) n += views.size;
    return n;
  }
}
