// What the process remembers of each application between reconciles, for `--drift-detection=list`
// (drift.ts decides; this keeps the memory): the last view, reused while the scope's
// ListApplications shows the application unmoved, and the resources to wake when a listing shows
// theirs moved. Without list drift detection it remembers nothing and every look reads.
import type { Logger } from 'pino';
import type { EmrServerlessApplication } from '../../api/schema.js';
import type { AwsScope } from '../../aws/access.js';
import type { ApplicationListing, ApplicationListings } from '../../aws/application-listing.js';
import { type AwsApplication, AwsError } from '../../aws/port.js';
import { failureOf } from '../failures.js';
import { applicationIdOf } from '../identity.js';
import {
  LastSeen,
  movedReason,
  mustRead,
  type ReadReason,
  readIsConfirmed,
  type SeenApplication,
  waitForListing,
} from './drift.js';

/** How a plan's application was obtained, for what the process remembers of it (drift.ts). */
export type Sighting =
  | { source: 'read'; at: number }
  | { source: 'carried' }
  | { source: 'reused'; seen: SeenApplication; listing: ApplicationListing };

export interface ViewOptions {
  options: { resyncPeriodMs: number };
  /** Absent: list drift detection is off. */
  listDrift?: { fullReadPeriodMs: number };
  /** Reconciles a resource soon (a listing showed its application moved). */
  requeue?: (resourceKey: string) => void;
}

export class ApplicationViews {
  private readonly seen = new LastSeen<ApplicationListings>();
  /** Listings already compared with every view (each once). */
  private readonly scanned = new WeakSet<ApplicationListing>();
  /** Listing failures already logged (each once, not once per resource). */
  private readonly loggedFailures = new WeakSet<object>();

  constructor(
    private readonly deps: ViewOptions,
    private readonly now: () => Date,
  ) {}

  /** The next look reads the application (a failed or released reconcile). */
  forget(scope: AwsScope, applicationId: string): void {
    this.seen.forget(scope.applications, applicationId);
  }

  /**
   * The last view of the application when the scope's listing shows it unmoved and nothing else
   * asks for a read (drift.ts); undefined when it must be read.
   */
  async unmoved(
    resource: EmrServerlessApplication,
    applicationId: string,
    scope: AwsScope,
    log: Logger,
  ): Promise<Extract<Sighting, { source: 'reused' }> | undefined> {
    const policy = this.deps.listDrift;
    if (!policy) return undefined;
    const seen = this.seen.get(scope.applications, applicationId);
    const now = this.now().getTime();
    const read = (reason: ReadReason) => {
      log.debug({ reason }, 'reading application');
      return undefined;
    };
    const resourceKey = `${resource.metadata.namespace}/${resource.metadata.name}`;
    const early = mustRead(
      seen,
      {
        key: resourceKey,
        generation: resource.metadata.generation,
        deleting: Boolean(resource.metadata.deletionTimestamp),
      },
      now,
      { fullReadPeriodMs: policy.fullReadPeriodMs, resyncPeriodMs: this.deps.options.resyncPeriodMs },
    );
    if (early || !seen) return read(early ?? 'firstLook');
    let listing = scope.applications.ready(seen.observedAt);
    try {
      if (!listing) {
        if (!waitForListing(seen, now, this.deps.options.resyncPeriodMs)) return read('polling');
        listing = await scope.applications.takenAfter(seen.observedAt);
      }
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      if (!this.loggedFailures.has(err)) {
        this.loggedFailures.add(err);
        log.warn(
          { err: failureOf(err) },
          'ListApplications failed; reading applications one by one meanwhile',
        );
      }
      return read('notListed');
    }
    this.requeueMoved(scope.applications, listing, resourceKey);
    const moved = movedReason(seen, listing.applications.get(applicationId));
    if (moved) return read(moved);
    return { source: 'reused', seen, listing };
  }

  /** Once per listing: resources whose application it shows moved are reconciled now, not at their resync. */
  private requeueMoved(listings: ApplicationListings, listing: ApplicationListing, self: string): void {
    if (this.scanned.has(listing)) return;
    this.scanned.add(listing);
    const sweepBefore = this.now().getTime() - 2 * this.deps.listDrift!.fullReadPeriodMs;
    for (const key of this.seen.movedIn(listings, listing, sweepBefore)) {
      if (key !== self) this.deps.requeue?.(key);
    }
  }

  /** What this reconcile learnt of the application, for the next one (list drift detection only). */
  remember(
    scope: AwsScope,
    resourceKey: string,
    resource: EmrServerlessApplication,
    app: AwsApplication | undefined,
    sighting: Sighting | undefined,
  ): void {
    if (!this.deps.listDrift || !sighting) return;
    const listings = scope.applications;
    if (!app) {
      const id = applicationIdOf(resource);
      if (id) this.seen.forget(listings, id);
      return;
    }
    const generation = resource.metadata.generation;
    const previous = this.seen.get(listings, app.applicationId);
    const now = this.now().getTime();
    switch (sighting.source) {
      case 'reused':
        this.seen.set(listings, { ...sighting.seen, observedAt: sighting.listing.takenAt });
        return;
      case 'read':
        this.seen.set(listings, {
          resourceKey,
          generation,
          app,
          readAt: sighting.at,
          observedAt: sighting.at,
          confirmed: readIsConfirmed(app, sighting.at, previous),
        });
        return;
      case 'carried':
        // The operator's own writes left it so: the next look reads it to confirm.
        this.seen.set(listings, {
          resourceKey,
          generation,
          app,
          readAt: now,
          observedAt: now,
          confirmed: false,
        });
        return;
    }
  }
}
