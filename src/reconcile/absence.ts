// When "not found" may be believed. A read by id (GetApplication, GetJobRun) is strongly
// consistent: its "not found" is certain. A search (ListApplications or ListJobRuns by name, then
// the owner tag) is how a resource finds what it created when the create's answer was lost and
// no id was ever recorded; a list answer may not show an item created moments ago, so one empty
// search proves nothing. Two empty searches at least the listing lag apart do: the lost create
// took effect before the first search, so the second one lists it if it exists.
// Pure: the time of the first empty search lives in status (it survives a restart, so a restart
// in between never shortens the wait).

/**
 * How long a new application or job run may be missing from ListApplications and ListJobRuns.
 * AWS documents no consistency for either list (its reads by id are strongly consistent): 10 s is
 * an assumption, several times the lag seen in eventually consistent AWS listings, and costs a
 * deletion that searched in vain 10 s. `run --listing-lag` changes it.
 */
export const LISTING_LAG_MS = 10_000;

export type Absence =
  | { confirmed: true }
  /** Not yet: record `firstEmptySearch` and search again after `retryInMs`. */
  | { confirmed: false; firstEmptySearch: string; retryInMs: number };

/**
 * A search found nothing at `now`. `firstEmptySearch` is when an earlier search found nothing
 * (status), if one did; the absence is confirmed once `lagMs` has passed since then.
 */
export function confirmAbsence(firstEmptySearch: string | undefined, now: Date, lagMs: number): Absence {
  if (lagMs <= 0) return { confirmed: true };
  const first = firstEmptySearch === undefined ? Number.NaN : Date.parse(firstEmptySearch);
  // None yet, unreadable, or in the future (another replica's clock): this search is the first.
  if (Number.isNaN(first) || first > now.getTime()) {
    return { confirmed: false, firstEmptySearch: now.toISOString(), retryInMs: lagMs };
  }
  const waited = now.getTime() - first;
  if (waited >= lagMs) return { confirmed: true };
  return { confirmed: false, firstEmptySearch: firstEmptySearch!, retryInMs: lagMs - waited };
}

/** "10 s", "1.5 s": a lag for messages. */
export const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
