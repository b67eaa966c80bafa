// Fights with another writer: something outside the operator (another tool, a script, a person)
// keeps changing an application back after the operator corrected it.
//
// A correction is an UpdateApplication of one set of fields to the declared values (one digest,
// as for the NotConverging guard). It is recorded in status.correction before it is sent (an
// intent, write-ahead.ts: a restart does not forget the count), marked accepted once a look at
// AWS shows it holding, and counted as undone when a later look shows AWS differing again on the
// same fields with the same declared values after it had held. The NotConverging guard
// (convergence.ts) covers the other case, an update that never holds, and counts with
// status.updateAttempts, which restarts whenever AWS is seen matching spec: between the
// operator's update and the other writer's revert it always is, so that count never grows here.
//
// FIGHT_AFTER_UNDONE undos within FIGHT_WINDOW_RESYNCS resync periods make the resource Stalled
// ExternalChangeFight (a Warning event on entering, not per correction). While it fights, the
// correction is still sent, at most once per resync period; the fight ends, and Ready returns,
// once no correction has been undone for a whole window. A record with no fight is dropped a
// window after the correction was sent. A spec change (another correction) starts over.
import type { ApplicationFields, Correction } from '../../api/schema.js';
import type { AwsApplication } from '../../aws/port.js';
import { digestOf, show } from './convergence.js';

/** Undone corrections within the window that make a fight. */
export const FIGHT_AFTER_UNDONE = 3;
/** The window, in resync periods: undos are counted within it, and a fight ends after one without any. */
export const FIGHT_WINDOW_RESYNCS = 10;

export interface FightView {
  /** status.correction as this look leaves it (before any correction is sent). */
  record: Correction | undefined;
  /** Stalled ExternalChangeFight. */
  fighting: boolean;
  /** This look found the last correction undone. */
  undone: boolean;
  /** While fighting: how long to wait before the correction may be sent again (0: now). */
  holdMs: number;
}

/**
 * What a look at AWS says about the last correction. `changes` are the fields the plan would
 * send now (empty when AWS matches spec).
 */
export function assessCorrection(
  previous: Correction | undefined,
  changes: ApplicationFields,
  now: Date,
  resyncPeriodMs: number,
): FightView {
  const windowMs = FIGHT_WINDOW_RESYNCS * resyncPeriodMs;
  const t = now.getTime();
  const within = (time: string) => t - Date.parse(time) < windowMs;
  const lastUndo = previous?.undoneTimes.at(-1);
  const wasFighting = previous?.fightSince !== undefined && lastUndo !== undefined && within(lastUndo);
  if (Object.keys(changes).length === 0) {
    // AWS matches spec: the correction holds. Kept for a window after the last undo (or, with
    // none, after it was sent) to see whether it is undone; then forgotten.
    if (!previous) return { record: undefined, fighting: false, undone: false, holdMs: 0 };
    if (!within(lastUndo ?? previous.sentTime)) {
      return { record: undefined, fighting: false, undone: false, holdMs: 0 };
    }
    const record: Correction = { ...previous, accepted: true };
    if (!wasFighting) delete record.fightSince;
    return { record, fighting: wasFighting, undone: false, holdMs: 0 };
  }
  if (!previous || previous.digest !== digestOf(changes)) {
    // Another correction (or the first): nothing is known of it yet.
    return { record: undefined, fighting: false, undone: false, holdMs: 0 };
  }
  let record: Correction = previous;
  let undone = false;
  if (previous.accepted) {
    undone = true;
    const undoneTimes = [...previous.undoneTimes.filter(within), now.toISOString()].slice(
      -FIGHT_AFTER_UNDONE,
    );
    const fightSince = wasFighting
      ? previous.fightSince
      : undoneTimes.length >= FIGHT_AFTER_UNDONE
        ? now.toISOString()
        : undefined;
    record = { ...previous, accepted: false, undone: previous.undone + 1, undoneTimes };
    if (fightSince) record.fightSince = fightSince;
    else delete record.fightSince;
  }
  const fighting = record.fightSince !== undefined;
  const holdMs = fighting ? Math.max(0, Date.parse(record.sentTime) + resyncPeriodMs - t) : 0;
  return { record, fighting, undone, holdMs };
}

/** status.correction once `changes` are sent now. */
export function correctionSent(
  record: Correction | undefined,
  changes: ApplicationFields,
  now: Date,
): Correction {
  if (record) return { ...record, sentTime: now.toISOString(), accepted: false };
  return {
    digest: digestOf(changes),
    fields: Object.keys(changes).sort(),
    sentTime: now.toISOString(),
    accepted: false,
    undone: 0,
    undoneTimes: [],
  };
}

/**
 * The ExternalChangeFight message: which fields, their declared values, how often and since
 * when. It depends on the record's undos only, so it stays the same between them.
 */
export function fightMessage(
  record: Correction,
  app: AwsApplication,
  declared: ApplicationFields,
  resyncPeriodMs: number,
): string {
  const values = declared as Record<string, unknown>;
  const fields = record.fields.map((f) => `${f} (declared ${show(values[f])})`).join(', ');
  const resync = seconds(resyncPeriodMs);
  return (
    `Something else keeps changing application ${app.applicationId} back: the operator's correction of ${fields} ` +
    `was undone ${record.undone} times, ${FIGHT_AFTER_UNDONE} or more within ${seconds(FIGHT_WINDOW_RESYNCS * resyncPeriodMs)} since ${record.fightSince}, ` +
    `last at ${record.undoneTimes.at(-1)}. ` +
    `Find the other writer (CloudTrail records who calls UpdateApplication on the application) and stop it, or declare what it sets. ` +
    `Meanwhile the operator sends the correction at most once per resync period (${resync}); ` +
    `the resource is Ready again once no correction has been undone for ${seconds(FIGHT_WINDOW_RESYNCS * resyncPeriodMs)}.`
  );
}

/** What AWS held when the fight was found, for the Warning event. */
export function foundMessage(app: AwsApplication, changes: ApplicationFields): string {
  const seen = app as unknown as Record<string, unknown>;
  return `AWS had ${Object.keys(changes)
    .sort()
    .map((f) => `${f}: ${show(seen[f])}`)
    .join('; ')}.`;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
