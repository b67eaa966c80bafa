// The status builder: collects a plan's actions and events, then derives status, conditions
// and the requeue delay from one verdict.
import type {
  DiskEncryptionStatus,
  KeyHealth,
  PendingCreate,
  Spec,
  Status,
  UpdateAttempts,
} from '../../api/schema.js';
import type { AwsApplication } from '../../aws/port.js';
import { encryptionIntent } from '../compare.js';
import { conditionsFor, findCondition, type Verdict } from '../conditions.js';
import { accountOfArn, boundAccountOf, originOf, regionOf } from '../identity.js';
import { normal, POLL_MIN_MS, pollDelay, stalledEvents, withoutUndefined } from '../outcome-base.js';
import type { RecordedEvent } from '../ports.js';
import type { ReasonOf } from '../reasons.js';
import type { Action, Plan, PlanInput } from './types.js';

/** Polling bounds while AWS moves through a transitional state. */
export const TRANSITION_POLL_MAX_MS = 10_000;
const WAIT_POLL_MAX_MS = 60_000;

/** Collects a plan's parts; the terminal methods compute status and requeue once. */
export class Outcome {
  readonly actions: Action[] = [];
  readonly events: RecordedEvent[] = [];
  private app?: AwsApplication;
  keyHealth?: KeyHealth;
  // Intents (see write-ahead.ts): carried over from status unless the plan changes them.
  restartAfterUpdate: boolean | undefined;
  updateAttempts: UpdateAttempts | undefined;
  /** The create written ahead; dropped once an application is bound. */
  pendingCreate: PendingCreate | undefined;
  /** A deletion's first empty search (absence.ts); set only by the plan that waits on it. */
  deletionSearch: string | undefined;

  constructor(
    private readonly input: PlanInput,
    private readonly spec: Spec | undefined,
  ) {
    this.restartAfterUpdate = input.resource.status?.restartAfterUpdate;
    this.updateAttempts = input.resource.status?.updateAttempts;
    this.pendingCreate = input.resource.status?.pendingCreate;
  }

  observe(app: AwsApplication): this {
    this.app = app;
    return this;
  }

  act(...actions: Action[]): this {
    this.actions.push(...actions);
    return this;
  }

  /** A warning recorded when `isNew(previous status)` says it is news. */
  warnOnce(event: Omit<RecordedEvent, 'type'> | undefined, isNew: (prev: Status) => boolean): void {
    if (event && isNew(this.input.resource.status ?? {})) this.events.push({ type: 'Warning', ...event });
  }

  ready(): Plan {
    const app = this.app!;
    return this.finish(
      {
        phase: 'Ready',
        reason: 'Reconciled',
        message: `Application ${app.applicationId} is ${app.state} and matches spec.`,
      },
      this.input.options.resyncPeriodMs,
    );
  }

  progressing(reason: ReasonOf<'Progressing'>, message: string, pollMaxMs = TRANSITION_POLL_MAX_MS): Plan {
    return this.finish(
      { phase: 'Progressing', reason, message },
      this.actions.length ? 0 : this.pollDelay(reason, pollMaxMs),
    );
  }

  /** Progressing, looked at again after `delayMs` (within the polling bounds and the resync period). */
  progressingFor(reason: ReasonOf<'Progressing'>, message: string, delayMs: number): Plan {
    const delay = Math.max(POLL_MIN_MS, Math.min(delayMs, this.input.options.resyncPeriodMs));
    return this.finish({ phase: 'Progressing', reason, message }, this.actions.length ? 0 : delay);
  }

  /** Waiting on something outside the operator's hands: announced once, polled slowly. */
  waiting(reason: ReasonOf<'Progressing'>, message: string): Plan {
    if (findCondition(this.input.resource.status?.conditions, 'Reconciling')?.reason !== reason) {
      this.events.push(normal(reason, 'Wait', message));
    }
    return this.progressing(reason, message, WAIT_POLL_MAX_MS);
  }

  /** Stuck until the spec changes; looked at again after `retryInMs` (default: the resync period). */
  stalled(reason: ReasonOf<'Stalled'>, message: string, retryInMs = this.input.options.resyncPeriodMs): Plan {
    this.events.push(...stalledEvents(this.input.resource.status?.conditions, reason, message));
    return this.finish(
      { phase: 'Stalled', reason, message },
      Math.max(POLL_MIN_MS, Math.min(retryInMs, this.input.options.resyncPeriodMs)),
    );
  }

  need(what: 'activeJobRuns'): Plan {
    return { ...this.progressing('Observing', 'Looking up job runs.'), needs: what };
  }

  /** Nothing to do and nothing to say: the status stays as it is. */
  untouched(): Plan {
    return {
      actions: [],
      events: [],
      status: this.input.resource.status ?? {},
      requeueAfterMs: this.input.options.resyncPeriodMs,
    };
  }

  private pollDelay(reason: ReasonOf<'Progressing'>, maxMs: number): number {
    const { resource, now, options } = this.input;
    return pollDelay(resource.status?.conditions, reason, now, Math.min(maxMs, options.resyncPeriodMs));
  }

  private finish(verdict: Verdict, requeueAfterMs: number): Plan {
    const { resource, now } = this.input;
    const previous = resource.status ?? {};
    const app = this.app;
    const status: Status = {
      observedGeneration: resource.metadata.generation,
      applicationId: app?.applicationId ?? previous.applicationId,
      arn: app?.arn ?? previous.arn,
      region: regionOf(resource, this.input.options.defaultRegion),
      account: boundAccountOf(resource) ?? this.input.observed.account ?? accountOfArn(app?.arn),
      // Recorded with the binding, so the default deletion policy never follows later spec edits.
      origin: app ? originOf(resource) : previous.origin,
      state: app?.state ?? previous.state,
      stateDetails: app ? app.stateDetails : previous.stateDetails,
      ...this.encryptionStatus(previous),
      restartAfterUpdate: this.restartAfterUpdate || undefined,
      updateAttempts: this.updateAttempts,
      // The binding replaces it: the application it was searched for is found.
      pendingCreate: app || previous.applicationId ? undefined : this.pendingCreate,
      deletionSearch: this.deletionSearch,
      conditions: conditionsFor(verdict, resource.metadata.generation, previous.conditions, now),
    };
    return { actions: this.actions, events: this.events, status: withoutUndefined(status), requeueAfterMs };
  }

  private encryptionStatus(previous: Status): Pick<Status, 'encryption' | 'diskEncryption'> {
    const managed = this.spec
      ? this.spec.diskEncryptionConfiguration !== undefined
      : (previous.diskEncryption?.managed ?? false);
    if (!this.app) {
      return previous.diskEncryption
        ? { encryption: previous.encryption, diskEncryption: { ...previous.diskEncryption, managed } }
        : {};
    }
    const intent = encryptionIntent(this.app.diskEncryptionConfiguration);
    const diskEncryption: DiskEncryptionStatus = {
      mode: intent.keyArn ? 'CustomerManaged' : 'AwsOwned',
      encryptionKeyArn: intent.keyArn,
      encryptionContext: Object.keys(intent.context).length ? intent.context : undefined,
      managed,
      key: this.keyHealth,
    };
    return { encryption: managed ? diskEncryption.mode : 'Unmanaged', diskEncryption };
  }
}
