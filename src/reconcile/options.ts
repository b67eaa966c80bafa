// What every kind's planner is told by the command line.
import type { OwnershipOptions } from './ownership.js';

export interface PlanOptions {
  /** The operator's region, for resources that name none. */
  defaultRegion: string;
  verifyKeys: boolean;
  /** Read each verified key's key policy and judge it (only with verifyKeys; `run` sets it, default true). */
  verifyKeyPolicies?: boolean;
  resyncPeriodMs: number;
  /** Cluster identity and where adoption is allowed; default: no cluster tag, adoption nowhere. */
  ownership?: OwnershipOptions;
  /** `run --require-namespace-policy`: refuse namespaces no EmrServerlessPolicy selects (default false). */
  requireNamespacePolicy?: boolean;
  /**
   * How long a new application or job run may be missing from its listing (default
   * LISTING_LAG_MS, absence.ts): a deletion that found nothing by searching waits this long and
   * searches again before it releases the finalizer.
   */
  listingLagMs?: number;
}
