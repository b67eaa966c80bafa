// Write-ahead of intents. An intent is a status field that later steps depend on and that AWS
// cannot tell again after a crash: `restartAfterUpdate` (the operator stopped the application
// to update it and must start it again), `updateAttempts` (how often the same update was
// sent, for the NotConverging guard), `correction` (the last correction and how often another
// writer undid it, for the ExternalChangeFight count: fights.ts) and `pendingCreate` (the name,
// region and client token of a CreateApplication: where to search for what it made when its
// answer is lost, and what spec may no longer move). The reconciler writes the planned status to the API
// server before executing a step whose intents differ from the persisted ones, so a crash at
// any point (before or after any AWS call, answered or not) finds them there.
//
// When a step fails, `updateAttempts` returns to its value before the step (it counts updates
// AWS accepted, or whose answer a crash lost), and `restartAfterUpdate` is withdrawn only when
// AWS refused the call outright: a 5xx or a lost connection may hide a stop that did happen,
// and keeping the intent is always safe (an application still STARTED is simply stopped again).
// `correction` keeps its planned value: the undos it counts were seen whatever the step's fate,
// and a correction recorded as sent but not accepted is never counted as undone.
// `pendingCreate`, like `restartAfterUpdate`, is withdrawn only when AWS refused the create outright; otherwise the
// application may exist, and the next reconcile searches for it where it was sent.
import type { Status } from '../../api/schema.js';
import { jsonEqual } from '../compare.js';

export const INTENT_FIELDS = [
  'restartAfterUpdate',
  'updateAttempts',
  'correction',
  'pendingCreate',
] as const satisfies readonly (keyof Status)[];

export type Intents = Pick<Status, (typeof INTENT_FIELDS)[number]>;

export function intentsOf(status: Status | undefined): Intents {
  return Object.fromEntries(INTENT_FIELDS.map((f) => [f, status?.[f]])) as Intents;
}

/** Whether `planned` carries intents that the persisted status does not hold yet. */
export function intentsDiffer(planned: Status, persisted: Status | undefined): boolean {
  return !jsonEqual(intentsOf(planned), intentsOf(persisted));
}

/** The status to write after a failed step: see the header for what is withdrawn. */
export function intentsAfterFailure(planned: Status, before: Intents, refusedOutright: boolean): Status {
  return withIntents(planned, {
    updateAttempts: before.updateAttempts,
    restartAfterUpdate: refusedOutright ? before.restartAfterUpdate : planned.restartAfterUpdate,
    correction: planned.correction,
    pendingCreate: refusedOutright ? before.pendingCreate : planned.pendingCreate,
  });
}

/** `status` with its intents replaced by `intents` (absent ones removed). */
export function withIntents(status: Status, intents: Intents): Status {
  const out: Record<string, unknown> = { ...status };
  for (const f of INTENT_FIELDS) {
    if (intents[f] === undefined) delete out[f];
    else out[f] = intents[f];
  }
  return out as Status;
}
