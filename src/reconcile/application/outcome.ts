// The status builder: collects a plan's actions and events, then derives status, conditions
// and the requeue delay from one verdict.
import type {
  Correction,
  DiskEncryptionStatus,
  KeyHealth,
  PendingCreate,
  Spec,
  Status,
  UpdateAttempts,
} from '../../api/schema.js';
import type { AwsApplication } from '../../aws/port.js';
import { encryptionIntent } from '../compare.js';
import { conditionsFor, type Verdict } from '../conditions.js';
import { accountOfArn, boundAccountOf, originOf, regionOf } from '../identity.js';
import { OutcomeBase, POLL_MIN_MS, stalledEvents, withoutUndefined } from '../outcome-base.js';
import type { Action, Plan, PlanInput } from './types.js';

/** Polling bounds while AWS moves through a transitional state. */
export const TRANSITION_POLL_MAX_MS = 10_000;

/** An application plan's parts; the verdicts are OutcomeBase's, the status is made here. */
export class Outcome extends OutcomeBase<Status, Action, Plan> {
  declare protected readonly input: PlanInput;
  protected readonly pollMaxMs = TRANSITION_POLL_MAX_MS;
  private app?: AwsApplication;
  keyHealth?: KeyHealth;
  // Intents (see write-ahead.ts): carried over from status unless the plan changes them.
  restartAfterUpdate: boolean | undefined;
  updateAttempts: UpdateAttempts | undefined;
  correction: Correction | undefined;
  /** The fields of a correction this plan found undone by another writer (fights.ts; metrics). */
  undone: string[] | undefined;
  /** The create written ahead; dropped once an application is bound. */
  pendingCreate: PendingCreate | undefined;

  constructor(
    input: PlanInput,
    private readonly spec: Spec | undefined,
  ) {
    super(input);
    this.restartAfterUpdate = input.resource.status?.restartAfterUpdate;
    this.updateAttempts = input.resource.status?.updateAttempts;
    this.correction = input.resource.status?.correction;
    this.pendingCreate = input.resource.status?.pendingCreate;
  }

  observe(app: AwsApplication): this {
    this.app = app;
    return this;
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

  /**
   * Stalled ExternalChangeFight (fights.ts): the Warning on entering also says what AWS held
   * (`found`); looked at again after `retryInMs`, at most the resync period.
   */
  fight(message: string, retryInMs: number, found?: string): Plan {
    const reason = 'ExternalChangeFight';
    const entering = stalledEvents(this.input.resource.status?.conditions, reason, message);
    this.events.push(...entering.map((e) => (found ? { ...e, message: `${message} ${found}` } : e)));
    return this.finish(
      { phase: 'Stalled', reason, message },
      Math.max(POLL_MIN_MS, Math.min(retryInMs, this.input.options.resyncPeriodMs)),
    );
  }

  need(what: 'activeWork'): Plan {
    return { ...this.progressing('Observing', 'Looking up job runs and sessions.'), needs: what };
  }

  protected finish(verdict: Verdict, requeueAfterMs: number): Plan {
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
      correction: this.correction,
      // The binding replaces it: the application it was searched for is found.
      pendingCreate: app || previous.applicationId ? undefined : this.pendingCreate,
      deletionSearch: this.deletionSearch,
      conditions: conditionsFor(verdict, resource.metadata.generation, previous.conditions, now),
    };
    return {
      actions: this.actions,
      events: this.events,
      status: withoutUndefined(status),
      requeueAfterMs,
      ...(this.undone && { undone: this.undone }),
    };
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
