// What every kind's status builder shares: the verdicts (Ready, Progressing, waiting, Stalled)
// with their events and requeue delays, the polling curve, status as stored. A kind's builder
// extends OutcomeBase with what it observed and how its status is made (`finish`).
import type { Condition } from '../api/schema.js';
import { confirmAbsence, seconds } from './absence.js';
import { findCondition, type Verdict } from './conditions.js';
import type { KindAction, KindPlan, KindStatus } from './kind.js';
import type { RecordedEvent } from './ports.js';
import type { ReasonOf } from './reasons.js';

/** The shortest poll or stalled requeue, for every kind. */
export const POLL_MIN_MS = 250;
/** Slowest poll while waiting for something outside the operator's hands. */
export const WAIT_POLL_MAX_MS = 60_000;

/** A search by name and owner tag that found nothing, as messages tell it. */
export interface EmptySearch {
  /** The search, e.g. "ListApplications by name x and tag …". */
  searched: string;
  /** What its confirmed absence means, e.g. "No application exists in AWS for this resource". */
  none: string;
  /** What it looked for, e.g. "application". */
  noun: string;
  /** The create whose lost answer it looked for, e.g. "CreateApplication". */
  write: string;
}

export interface OutcomeInput<S extends KindStatus> {
  resource: { metadata: { generation: number }; status?: S };
  options: { resyncPeriodMs: number };
  now: Date;
}

/** Collects a plan's actions and events; the terminal methods compute status and requeue once. */
export abstract class OutcomeBase<S extends KindStatus, A extends KindAction, P extends KindPlan<A, S>> {
  readonly actions: A[] = [];
  readonly events: RecordedEvent[] = [];
  /** A deletion's first empty search (absence.ts); set only by the plan that waits on it. */
  deletionSearch: string | undefined;
  /** The slowest poll while Progressing, when the caller names none. */
  protected abstract readonly pollMaxMs: number;

  constructor(protected readonly input: OutcomeInput<S>) {}

  act(...actions: A[]): this {
    this.actions.push(...actions);
    return this;
  }

  /** A warning recorded when `isNew(previous status)` says it is news. */
  warnOnce(event: Omit<RecordedEvent, 'type'> | undefined, isNew: (prev: S) => boolean): void {
    if (event && isNew(this.input.resource.status ?? ({} as S)))
      this.events.push({ type: 'Warning', ...event });
  }

  /** Progressing: at once after acting, else polled on the curve of pollDelay. */
  progressing(reason: ReasonOf<'Progressing'>, message: string, pollMaxMs = this.pollMaxMs): P {
    const { resource, now, options } = this.input;
    const delay = this.actions.length
      ? 0
      : pollDelay(resource.status?.conditions, reason, now, Math.min(pollMaxMs, options.resyncPeriodMs));
    return this.finish({ phase: 'Progressing', reason, message }, delay);
  }

  /** Progressing, looked at again after `delayMs` (within the polling bounds and the resync period). */
  progressingFor(reason: ReasonOf<'Progressing'>, message: string, delayMs: number): P {
    const delay = Math.max(POLL_MIN_MS, Math.min(delayMs, this.input.options.resyncPeriodMs));
    return this.finish({ phase: 'Progressing', reason, message }, this.actions.length ? 0 : delay);
  }

  /** Waiting on something outside the operator's hands: announced once, polled slowly. */
  waiting(reason: ReasonOf<'Progressing'>, message: string): P {
    if (findCondition(this.input.resource.status?.conditions, 'Reconciling')?.reason !== reason) {
      this.events.push(normal(reason, 'Wait', message));
    }
    return this.progressing(reason, message, WAIT_POLL_MAX_MS);
  }

  /**
   * Stuck until the spec (or something outside) changes: a Warning on entering, looked at again
   * after `retryInMs` (default: the resync period; never sooner than POLL_MIN_MS).
   */
  stalled(reason: ReasonOf<'Stalled'>, message: string, retryInMs = this.input.options.resyncPeriodMs): P {
    this.events.push(...stalledEvents(this.input.resource.status?.conditions, reason, message));
    return this.finish(
      { phase: 'Stalled', reason, message },
      Math.max(POLL_MIN_MS, Math.min(retryInMs, this.input.options.resyncPeriodMs)),
    );
  }

  /**
   * A deletion whose search for what it may have created (no id recorded) found nothing: the
   * finalizer goes only once a second search, at least the listing lag after the first, finds
   * nothing either (absence.ts); until then the first one's time is kept in status.deletionSearch.
   */
  searchedInVain(search: EmptySearch, lagMs: number, release: (reason: string, message: string) => P): P {
    const { resource, now } = this.input;
    const first = (resource.status as { deletionSearch?: string } | undefined)?.deletionSearch;
    const absence = confirmAbsence(first, now, lagMs);
    if (absence.confirmed) {
      return release(
        'Deleted',
        `${search.none}: ${search.searched} found none, twice, at least ${seconds(lagMs)} apart.`,
      );
    }
    this.deletionSearch = absence.firstEmptySearch;
    return this.progressingFor(
      'Deleting',
      `${search.searched} found no ${search.noun} since ${absence.firstEmptySearch}. A ${search.write} whose answer was lost may not be listed yet: the finalizer stays until a search at least ${seconds(lagMs)} after that one finds none either (next in ${seconds(absence.retryInMs)}).`,
      absence.retryInMs,
    );
  }

  /** Nothing to do and nothing to say: the status stays as it is. */
  untouched(): P {
    return {
      actions: [],
      events: [],
      status: this.input.resource.status ?? {},
      requeueAfterMs: this.input.options.resyncPeriodMs,
    } as unknown as P;
  }

  /** The plan for `verdict`: the kind's status, with conditions from the verdict. */
  protected abstract finish(verdict: Verdict, requeueAfterMs: number): P;
}

/** The Warning said when a resource enters a Stalled reason; nothing while it stays in it. */
export function stalledEvents(
  previous: Condition[] | undefined,
  reason: string,
  message: string,
): RecordedEvent[] {
  return findCondition(previous, 'Stalled')?.reason === reason
    ? []
    : [{ type: 'Warning', reason, action: 'None', message }];
}

/**
 * Poll faster at first, then back off: a quarter of the time spent in `reason` (the Reconciling
 * condition's) so far, at least POLL_MIN_MS, at most `maxMs` (0: at once).
 */
export function pollDelay(
  previous: Condition[] | undefined,
  reason: string,
  now: Date,
  maxMs: number,
): number {
  if (maxMs === 0) return 0;
  const since = findCondition(previous, 'Reconciling');
  const waited = since?.reason === reason ? now.getTime() - Date.parse(since.lastTransitionTime) : 0;
  return Math.min(Math.max(waited / 4, POLL_MIN_MS), maxMs);
}

export function normal(reason: string, action: string, message: string): RecordedEvent {
  return { type: 'Normal', reason, action, message };
}

/** The InvalidSpec message for a spec its schema rejects (any kind). */
export function invalidSpecMessage(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  const problems = issues.map((i) => `spec.${i.path.map(String).join('.')}: ${i.message}`).join('; ');
  return `${problems}. Fix the spec; nothing was sent to AWS.`;
}

/** Status as the API server stores it: no undefined members. */
export function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, withoutUndefined(v)]),
  ) as T;
}
