// ListApplications as drift detection uses it: one listing per AWS scope (role and region: the
// applications one identity sees), shared by every resource of the scope, so N resources cost
// N / 50 list pages instead of N GetApplication calls.
//
// - One listing in flight per scope: concurrent callers wait for the same one.
// - A caller names how new a listing must be (`takenAfter`: what it saw last). The current one is
//   answered when it is newer, and younger than `maxAgeMs`; otherwise the caller waits for a
//   fresh one.
// - A listing older than `refreshAfterMs` is still answered to callers it satisfies, and a fresh
//   one is started in the background, so in a busy scope nobody waits for the pages and a change
//   shows up in a listing at most `refreshAfterMs` (plus the listing's own time) after it was made.
// - A failed listing (ListApplications denied, throttled, ...) reaches every waiter as its AwsError,
//   and later callers too, without a call, until `refreshAfterMs` has passed: they read their
//   application directly instead (a listing only ever saves calls; it never decides alone).
//
// The pages go through the scope's clients, so the rate limit, retries and call metrics cover them.
import type { ApplicationState, ApplicationSummary } from './port.js';

/** What a listing says about one application. */
export interface ListedApplication {
  /** Its name, for a search by name (an application whose create answer was lost). */
  name?: string;
  state: ApplicationState;
  /** Epoch milliseconds; undefined when the service did not answer it. */
  updatedAtMs: number | undefined;
}

export interface ApplicationListing {
  /** When the listing started (the operator's clock): every change made before then shows in it. */
  takenAt: number;
  /** Live (not TERMINATED) applications by id. */
  applications: ReadonlyMap<string, ListedApplication>;
}

export interface ApplicationListingsOptions {
  /** Lists every live application of the scope: AwsPort.listApplications. */
  list: () => Promise<ApplicationSummary[]>;
  /** Past this age a listing is refreshed in the background on its next use. */
  refreshAfterMs: number;
  /** Past this age a listing is not used at all: callers wait for a fresh one. */
  maxAgeMs: number;
  /** Milliseconds; default `Date.now`. */
  now?: () => number;
}

export class ApplicationListings {
  private current: ApplicationListing | undefined;
  private inFlight: { startedAt: number; listing: Promise<ApplicationListing> } | undefined;
  /** The last listing failed: callers are answered its error, without a call, until it is this old. */
  private failure: { at: number; error: unknown } | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ApplicationListingsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The current listing if it was taken after `takenAfter` (epoch ms) and is not too old, without
   * a call (one may start in the background).
   */
  ready(takenAfter: number): ApplicationListing | undefined {
    const current = this.current;
    if (!current || current.takenAt <= takenAfter) return undefined;
    const age = this.now() - current.takenAt;
    if (age >= this.options.maxAgeMs) return undefined;
    if (age >= this.options.refreshAfterMs && !this.inFlight) {
      // Nobody waits for this one; a failure is remembered like any other.
      this.refresh().catch(() => undefined);
    }
    return current;
  }

  /**
   * A listing taken after `takenAfter` (epoch ms), waiting for one if need be. Throws the AwsError
   * of a failed listing.
   */
  async takenAfter(takenAfter: number): Promise<ApplicationListing> {
    const ready = this.ready(takenAfter);
    if (ready) return ready;
    if (this.failure && this.now() - this.failure.at < this.options.refreshAfterMs) throw this.failure.error;
    // The listing in flight may have started too early for this caller: wait for it, then list again.
    while (this.inFlight) {
      const running = this.inFlight;
      if (running.startedAt > takenAfter) return running.listing;
      await running.listing.catch(() => undefined);
      if (this.current && this.current.takenAt > takenAfter) return this.current;
    }
    return this.refresh();
  }

  private refresh(): Promise<ApplicationListing> {
    const startedAt = this.now();
    // Made for every namespace of the scope: `list` pages with the shared port (access.ts), so
    // the pages take the shared turn and count as `_shared`, whichever namespace asked first.
    const listing = this.options
      .list()
      .then((summaries): ApplicationListing => {
        const applications = new Map<string, ListedApplication>();
        for (const s of summaries) {
          applications.set(s.applicationId, {
            ...(s.name !== undefined && { name: s.name }),
            state: s.state,
            updatedAtMs: s.updatedAt?.getTime(),
          });
        }
        const taken = { takenAt: startedAt, applications };
        this.failure = undefined;
        if (!this.current || this.current.takenAt < startedAt) this.current = taken;
        return taken;
      })
      .catch((error: unknown) => {
        this.failure = { at: this.now(), error };
        throw error;
      })
      .finally(() => {
        if (this.inFlight?.listing === listing) this.inFlight = undefined;
      });
    this.inFlight = { startedAt, listing };
    return listing;
  }
}
