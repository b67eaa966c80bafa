// The decision, and nothing else: (resource, what AWS has, key facts, now) -> the actions to
// take, the status to write and when to look again. No I/O; see planner.test.ts for the table.
import { FINALIZER, OWNER_UID_TAG } from '../api/constants.js';
import {
  APPLICATION_FIELD_NAMES,
  type ApplicationFieldName,
  type ApplicationFields,
  type DiskEncryptionStatus,
  type EmrServerlessApplication,
  type KeyHealth,
  Spec,
  STARTED_UPDATABLE_FIELDS,
  type Status,
} from '../api/schema.js';
import type { AwsApplication, AwsErrorKind, CreateApplicationInput, KeyFacts } from '../aws/port.js';
import { covers, encryptionIntent, sameEncryption, sameStringMap } from './compare.js';
import { conditionsFor, findCondition, type Verdict } from './conditions.js';
import type { RecordedEvent } from './ports.js';

export type Action = (
  | { kind: 'AddFinalizer' }
  | { kind: 'RemoveFinalizer' }
  | { kind: 'CreateApplication'; input: CreateApplicationInput }
  | { kind: 'UpdateApplication'; applicationId: string; changes: ApplicationFields }
  | { kind: 'TagApplication'; arn: string; tags: Record<string, string> }
  | { kind: 'UntagApplication'; arn: string; tagKeys: string[] }
  | { kind: 'StartApplication' | 'StopApplication' | 'DeleteApplication'; applicationId: string }
) & {
  /** Recorded once the action has succeeded. */
  events?: RecordedEvent[];
};

export interface PlanOptions {
  /** The operator's region, for resources that name none. */
  defaultRegion: string;
  verifyKeys: boolean;
  resyncPeriodMs: number;
}

export interface Observed {
  /** The application: undefined when there was nothing to look up, null when it was not found. */
  app: AwsApplication | null | undefined;
  /** Job runs not in a final state; only looked up when a plan asks for them (`needs`). */
  activeJobRuns?: number;
  /** DescribeKey's answer for the declared key, when one is declared and verification is on. */
  key?: KeyFacts;
}

export interface PlanInput {
  resource: EmrServerlessApplication;
  observed: Observed;
  options: PlanOptions;
  now: Date;
}

export interface Plan {
  actions: Action[];
  status: Status;
  /** Events to record now (entering a waiting or stalled state, warnings). */
  events: RecordedEvent[];
  requeueAfterMs: number;
  /** The plan cannot be made without this observation: fetch it and plan again. */
  needs?: 'activeJobRuns';
}

/** Polling bounds while AWS moves through a transitional state. */
const POLL_MIN_MS = 250;
const TRANSITION_POLL_MAX_MS = 10_000;
const WAIT_POLL_MAX_MS = 60_000;

const spec_ = (resource: EmrServerlessApplication) => (resource.spec ?? {}) as Partial<Spec>;

export function regionOf(resource: EmrServerlessApplication, defaultRegion: string): string {
  return spec_(resource).region ?? resource.status?.region ?? defaultRegion;
}

/** The application to look up: adopted, or created earlier and recorded in status. */
export function applicationIdOf(resource: EmrServerlessApplication): string | undefined {
  return spec_(resource).applicationId ?? resource.status?.applicationId;
}

/** A finalizer without an id means an earlier reconcile may have created the app and crashed. */
export function mayOwnUnrecordedApplication(resource: EmrServerlessApplication): boolean {
  return (
    applicationIdOf(resource) === undefined &&
    spec_(resource).name !== undefined &&
    (resource.metadata.finalizers ?? []).includes(FINALIZER)
  );
}

export function plan(input: PlanInput): Plan {
  if (input.resource.metadata.deletionTimestamp) return planDeletion(input);
  const parsed = Spec.safeParse(input.resource.spec);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    return new Outcome(input, undefined).stalled(
      'InvalidSpec',
      `${message}. Fix the spec; nothing was sent to AWS.`,
    );
  }
  return planApplication(input, parsed.data);
}

function planApplication(input: PlanInput, spec: Spec): Plan {
  const { resource, observed } = input;
  const app = observed.app ?? undefined;
  const out = new Outcome(input, spec);
  const region = regionOf(resource, input.options.defaultRegion);
  const key = keyCheck(spec, observed.key, input.options.verifyKeys);
  out.keyHealth = key.health;
  out.warnOnce(key.warning, (prev) => prev.diskEncryption?.key?.reason !== key.health?.reason);
  if (resource.status?.diskEncryption?.managed && spec.diskEncryptionConfiguration === undefined) {
    out.warnOnce(
      {
        reason: 'DiskEncryptionUnmanaged',
        action: 'None',
        message:
          'spec.diskEncryptionConfiguration was removed: the operator no longer manages it and AWS keeps its current key. ' +
          'Set diskEncryptionConfiguration: {} to return to the AWS-owned key.',
      },
      () => true,
    );
  }

  if (!app) {
    const id = applicationIdOf(resource);
    if (id) {
      return out.stalled(
        'ApplicationNotFound',
        spec.applicationId
          ? `Application ${id} does not exist in ${region}: fix spec.applicationId or the region.`
          : `Application ${id}, created for this resource, no longer exists in ${region}. It is not re-created silently: delete this resource and apply it again to create a new one.`,
      );
    }
    if (key.blocking) return out.stalled(key.blocking.reason, key.blocking.message);
    return out
      .act(...ensureFinalizer(resource), createAction(resource, spec, region))
      .progressing('Creating', `Creating application ${spec.name} in ${region}.`);
  }

  out.observe(app);
  if (!resource.status?.applicationId) {
    out.events.push({
      type: 'Normal',
      reason: 'Adopted',
      action: 'GetApplication',
      message: spec.applicationId
        ? `Adopted existing application ${app.applicationId} (${app.name ?? 'unnamed'}) in ${region}.`
        : `Found application ${app.applicationId} created earlier for this resource (tag ${OWNER_UID_TAG}) and took it over.`,
    });
  }
  if (app.state === 'TERMINATED') {
    return out.stalled(
      'ApplicationTerminated',
      `Application ${app.applicationId} was terminated outside the operator. It is not re-created silently: delete this resource and apply it again, or adopt another application.`,
    );
  }
  const conflict = immutableConflict(spec, app);
  if (conflict) return out.stalled('ImmutableFieldConflict', conflict);
  if (key.blocking) return out.stalled(key.blocking.reason, key.blocking.message);

  out.act(...ensureFinalizer(resource), ...tagActions(spec, app));
  const changes = fieldChanges(spec, app);
  const changed = Object.keys(changes) as ApplicationFieldName[];
  const restartPending = resource.status?.restartAfterUpdate === true;

  switch (app.state) {
    case 'CREATING':
      return out.progressing(
        'Creating',
        `Application ${app.applicationId} is CREATING.`,
        TRANSITION_POLL_MAX_MS,
      );
    case 'STARTING':
    case 'STOPPING':
      if (changed.length === 0 && !restartPending) return out.ready();
      return out.progressing(
        'WaitingForState',
        `Application ${app.applicationId} is ${app.state}; the operator waits for it to settle before it ${changed.length ? `updates ${list(changed)}` : 'starts it again'}.`,
        TRANSITION_POLL_MAX_MS,
      );
    case 'CREATED':
    case 'STOPPED':
      if (changed.length > 0) {
        return out
          .act(updateAction(app, changes))
          .progressing('Updating', `Updating ${list(changed)} of application ${app.applicationId}.`);
      }
      if (restartPending) {
        out.restartAfterUpdate = false;
        return out
          .act({
            kind: 'StartApplication',
            applicationId: app.applicationId,
            events: [
              normal(
                'Restarted',
                'StartApplication',
                `Started application ${app.applicationId} again after the update.`,
              ),
            ],
          })
          .progressing('Restarting', `Starting application ${app.applicationId} again after the update.`);
      }
      return out.ready();
    case 'STARTED': {
      if (restartPending && changed.length === 0) out.restartAfterUpdate = false;
      const now = changed.filter((f) => acceptedWhileStarted(f, spec, app));
      if (now.length > 0) {
        return out
          .act(updateAction(app, pick(changes, now)))
          .progressing('Updating', `Updating ${list(now)} of running application ${app.applicationId}.`);
      }
      if (changed.length === 0) return out.ready();
      return planStop(input, spec, app, changed, out);
    }
  }
}

/** A STARTED application with changes the service accepts only once it is stopped. */
function planStop(input: PlanInput, spec: Spec, app: AwsApplication, changed: string[], out: Outcome): Plan {
  const what = list(changed);
  if ((spec.updateStrategy ?? 'WaitForStop') === 'WaitForStop') {
    const idle =
      app.autoStopConfiguration?.enabled === false
        ? undefined
        : (app.autoStopConfiguration?.idleTimeoutMinutes ?? 15);
    return out.waiting(
      'WaitingForStop',
      `The change to ${what} needs application ${app.applicationId} STOPPED; it is STARTED. ` +
        (idle
          ? `It is applied once the application stops (autoStop stops it after ${idle} idle minutes). `
          : 'autoStop is off: stop the application, ') +
        'Set spec.updateStrategy: StopWhenIdle to let the operator stop it once no job runs.',
    );
  }
  const jobs = input.observed.activeJobRuns;
  if (jobs === undefined) return out.need('activeJobRuns');
  if (jobs > 0) {
    return out.waiting(
      'WaitingForJobRuns',
      `The change to ${what} needs application ${app.applicationId} stopped; ${jobs} job run(s) are not finished. The operator stops it once none runs (job runs are never cancelled).`,
    );
  }
  if (!input.resource.status?.restartAfterUpdate) {
    // Record the intent to restart before stopping, so a crash in between still restarts it.
    out.restartAfterUpdate = true;
    return out.progressing(
      'Stopping',
      `Stopping application ${app.applicationId} to apply ${what}; it will be started again.`,
      0,
    );
  }
  return out
    .act({
      kind: 'StopApplication',
      applicationId: app.applicationId,
      events: [
        normal(
          'Stopping',
          'StopApplication',
          `Stopping idle application ${app.applicationId} to apply ${what}; it will be started again.`,
        ),
      ],
    })
    .progressing(
      'Stopping',
      `Stopping application ${app.applicationId} to apply ${what}; it will be started again.`,
    );
}

function planDeletion(input: PlanInput): Plan {
  const { resource, observed } = input;
  const out = new Outcome(input, undefined);
  if (!(resource.metadata.finalizers ?? []).includes(FINALIZER)) return out.untouched();
  const spec = spec_(resource);
  const app = observed.app ?? undefined;
  if (app) out.observe(app);
  const policy = spec.deletionPolicy ?? (spec.applicationId ? 'Retain' : 'Delete');
  const release = (reason: string, message: string) =>
    out
      .act({ kind: 'RemoveFinalizer', events: [normal(reason, 'RemoveFinalizer', message)] })
      .progressing('Deleting', message);

  if (policy === 'Retain' || !app || app.state === 'TERMINATED') {
    if (policy === 'Retain' && app && app.state !== 'TERMINATED') {
      return release('Retained', `Application ${app.applicationId} is left in AWS (deletionPolicy: Retain).`);
    }
    return release(
      'Deleted',
      app ? `Application ${app.applicationId} is terminated.` : 'No application exists in AWS.',
    );
  }
  switch (app.state) {
    case 'CREATED':
    case 'STOPPED':
      return out
        .act({
          kind: 'DeleteApplication',
          applicationId: app.applicationId,
          events: [normal('Deleting', 'DeleteApplication', `Deleting application ${app.applicationId}.`)],
        })
        .progressing('Deleting', `Deleting application ${app.applicationId}.`);
    case 'STARTED': {
      const jobs = observed.activeJobRuns;
      if (jobs === undefined) return out.need('activeJobRuns');
      if (jobs > 0) {
        return out.waiting(
          'WaitingForJobRuns',
          `Deletion waits for ${jobs} job run(s) of application ${app.applicationId} to finish (they are never cancelled).`,
        );
      }
      return out
        .act({
          kind: 'StopApplication',
          applicationId: app.applicationId,
          events: [
            normal('Stopping', 'StopApplication', `Stopping application ${app.applicationId} to delete it.`),
          ],
        })
        .progressing('Deleting', `Stopping application ${app.applicationId} to delete it.`);
    }
    default:
      return out.progressing(
        'Deleting',
        `Application ${app.applicationId} is ${app.state}; deletion waits for it to settle.`,
        TRANSITION_POLL_MAX_MS,
      );
  }
}

// --- what to send -------------------------------------------------------------------------

function ensureFinalizer(resource: EmrServerlessApplication): Action[] {
  return (resource.metadata.finalizers ?? []).includes(FINALIZER) ? [] : [{ kind: 'AddFinalizer' }];
}

function createAction(resource: EmrServerlessApplication, spec: Spec, region: string): Action {
  const fields = pick(
    spec,
    APPLICATION_FIELD_NAMES.filter((f) => spec[f] !== undefined),
  );
  const key = encryptionIntent(spec.diskEncryptionConfiguration).keyArn;
  const encryption =
    spec.diskEncryptionConfiguration === undefined
      ? ''
      : key
        ? ` with customer-managed key ${key}`
        : ' with the AWS-owned key';
  return {
    kind: 'CreateApplication',
    input: {
      ...fields,
      name: spec.name!,
      type: spec.type!,
      releaseLabel: spec.releaseLabel!,
      tags: { ...spec.tags, [OWNER_UID_TAG]: resource.metadata.uid },
      // The uid makes a retried create after a crash answer the same application.
      clientToken: resource.metadata.uid,
    },
    events: [
      normal('Created', 'CreateApplication', `Created application ${spec.name} in ${region}${encryption}.`),
    ],
  };
}

/** The managed fields whose AWS value differs from spec, with the value to send. */
export function fieldChanges(spec: Spec, app: AwsApplication): ApplicationFields {
  const changes: Record<string, unknown> = {};
  for (const field of APPLICATION_FIELD_NAMES) {
    const desired = spec[field];
    if (desired === undefined) continue;
    const same =
      field === 'diskEncryptionConfiguration'
        ? sameEncryption(
            encryptionIntent(spec.diskEncryptionConfiguration),
            encryptionIntent(app.diskEncryptionConfiguration),
          )
        : covers(desired, app[field], field);
    if (!same) changes[field] = desired;
  }
  return changes as ApplicationFields;
}

function acceptedWhileStarted(field: ApplicationFieldName, spec: Spec, app: AwsApplication): boolean {
  if (!(STARTED_UPDATABLE_FIELDS as readonly string[]).includes(field)) return false;
  // Of the scheduler settings, only maxConcurrentRuns may change while STARTED.
  if (field === 'schedulerConfiguration') {
    return covers(
      { queueTimeoutMinutes: spec.schedulerConfiguration?.queueTimeoutMinutes },
      app.schedulerConfiguration,
    );
  }
  return true;
}

function updateAction(app: AwsApplication, changes: ApplicationFields): Action {
  const events: RecordedEvent[] = [];
  const { diskEncryptionConfiguration, ...others } = changes;
  if (diskEncryptionConfiguration !== undefined) {
    events.push(
      encryptionEvent(
        encryptionIntent(app.diskEncryptionConfiguration),
        encryptionIntent(diskEncryptionConfiguration),
      ),
    );
  }
  const otherFields = Object.keys(others);
  if (otherFields.length > 0) {
    events.push(
      normal(
        'Updated',
        'UpdateApplication',
        `Updated ${list(otherFields)} of application ${app.applicationId}.`,
      ),
    );
  }
  return { kind: 'UpdateApplication', applicationId: app.applicationId, changes, events };
}

function encryptionEvent(
  from: ReturnType<typeof encryptionIntent>,
  to: ReturnType<typeof encryptionIntent>,
): RecordedEvent {
  if (!to.keyArn) {
    return normal(
      'KeyUnset',
      'UpdateApplication',
      `Disk encryption returned to the AWS-owned key (was ${from.keyArn}).`,
    );
  }
  if (!from.keyArn)
    return normal(
      'KeyChanged',
      'UpdateApplication',
      `Disk encryption now uses customer-managed key ${to.keyArn} (was the AWS-owned key).`,
    );
  if (from.keyArn === to.keyArn)
    return normal('KeyChanged', 'UpdateApplication', `Encryption context of key ${to.keyArn} changed.`);
  return normal(
    'KeyChanged',
    'UpdateApplication',
    `Disk encryption key changed from ${from.keyArn} to ${to.keyArn}.`,
  );
}

function tagActions(spec: Spec, app: AwsApplication): Action[] {
  if (spec.tags === undefined) return [];
  const actual = Object.fromEntries(Object.entries(app.tags).filter(([k]) => k !== OWNER_UID_TAG));
  if (sameStringMap(spec.tags, actual)) return [];
  const actions: Action[] = [];
  const toSet = Object.fromEntries(Object.entries(spec.tags).filter(([k, v]) => actual[k] !== v));
  const toRemove = Object.keys(actual).filter((k) => !Object.hasOwn(spec.tags!, k));
  const events = [normal('TagsUpdated', 'TagResource', `Tags of application ${app.applicationId} updated.`)];
  if (Object.keys(toSet).length > 0)
    actions.push({ kind: 'TagApplication', arn: app.arn, tags: toSet, events });
  if (toRemove.length > 0) {
    actions.push({
      kind: 'UntagApplication',
      arn: app.arn,
      tagKeys: toRemove,
      events: actions.length ? [] : events,
    });
  }
  return actions;
}

function immutableConflict(spec: Spec, app: AwsApplication): string | undefined {
  if (spec.name !== undefined && app.name !== undefined && spec.name !== app.name) {
    return `spec.name is ${spec.name} but application ${app.applicationId} is named ${app.name}; a name cannot change. Fix spec.name.`;
  }
  if (spec.type !== undefined && spec.type.toUpperCase() !== app.type.toUpperCase()) {
    return `spec.type is ${spec.type} but application ${app.applicationId} is ${app.type}; a type cannot change. Fix spec.type.`;
  }
  return undefined;
}

// --- keys ---------------------------------------------------------------------------------

interface KeyCheck {
  health?: KeyHealth;
  blocking?: { reason: string; message: string };
  warning?: Omit<RecordedEvent, 'type'>;
}

/** Whether the declared key may be sent: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT. */
export function keyCheck(spec: Spec, facts: KeyFacts | undefined, verifyKeys: boolean): KeyCheck {
  const arn = spec.diskEncryptionConfiguration?.encryptionKeyArn;
  if (!arn) return {};
  if (!verifyKeys) return { health: { verified: false, reason: 'VerificationDisabled' } };
  if (!facts) return { health: { verified: false, reason: 'NotChecked' } };
  const fix =
    'Fix the key or point spec.diskEncryptionConfiguration.encryptionKeyArn at another key; nothing is sent to AWS until then.';
  const blocked = (reason: string, message: string, state?: string): KeyCheck => ({
    health: { verified: false, reason, ...(state ? { state } : {}) },
    blocking: { reason, message: `${message} ${fix}` },
  });
  switch (facts.kind) {
    case 'notFound':
      return blocked('KeyNotFound', `KMS key ${arn} does not exist or is not visible to the operator.`);
    case 'accessDenied':
      return {
        health: { verified: false, reason: 'AccessDenied' },
        warning: {
          reason: 'KeyUnverified',
          action: 'DescribeKey',
          message: `DescribeKey on ${arn} was denied (common for keys in other accounts), so the key is used unverified. Grant kms:DescribeKey to the operator's role in the key policy to verify it.`,
        },
      };
    case 'found':
      if (facts.keySpec !== 'SYMMETRIC_DEFAULT') {
        return blocked(
          'KeyNotSymmetric',
          `KMS key ${arn} is ${facts.keySpec}; disk encryption needs a symmetric key (SYMMETRIC_DEFAULT).`,
          facts.keyState,
        );
      }
      if (facts.keyUsage !== 'ENCRYPT_DECRYPT') {
        return blocked(
          'KeyUsageInvalid',
          `KMS key ${arn} is for ${facts.keyUsage}; disk encryption needs ENCRYPT_DECRYPT.`,
          facts.keyState,
        );
      }
      if (facts.keyState === 'PendingDeletion' || facts.keyState === 'PendingReplicaDeletion') {
        return blocked(
          'KeyPendingDeletion',
          `KMS key ${arn} is pending deletion: cancel the deletion and enable it, or workers cannot start.`,
          facts.keyState,
        );
      }
      if (facts.keyState !== 'Enabled') {
        return blocked(
          'KeyDisabled',
          `KMS key ${arn} is ${facts.keyState}, not Enabled: workers cannot start with it.`,
          facts.keyState,
        );
      }
      return { health: { verified: true, state: 'Enabled' } };
  }
}

// --- the result ---------------------------------------------------------------------------

/** Collects a plan's parts; the terminal methods compute status and requeue once. */
class Outcome {
  readonly actions: Action[] = [];
  readonly events: RecordedEvent[] = [];
  private app?: AwsApplication;
  keyHealth?: KeyHealth;
  restartAfterUpdate: boolean | undefined;

  constructor(
    private readonly input: PlanInput,
    private readonly spec: Spec | undefined,
  ) {
    this.restartAfterUpdate = input.resource.status?.restartAfterUpdate;
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

  progressing(reason: string, message: string, pollMaxMs = TRANSITION_POLL_MAX_MS): Plan {
    return this.finish(
      { phase: 'Progressing', reason, message },
      this.actions.length ? 0 : this.pollDelay(reason, pollMaxMs),
    );
  }

  /** Waiting on something outside the operator's hands: announced once, polled slowly. */
  waiting(reason: string, message: string): Plan {
    if (findCondition(this.input.resource.status?.conditions, 'Reconciling')?.reason !== reason) {
      this.events.push(normal(reason, 'Wait', message));
    }
    return this.progressing(reason, message, WAIT_POLL_MAX_MS);
  }

  stalled(reason: string, message: string): Plan {
    if (findCondition(this.input.resource.status?.conditions, 'Stalled')?.reason !== reason) {
      this.events.push({ type: 'Warning', reason, action: 'None', message });
    }
    return this.finish({ phase: 'Stalled', reason, message }, this.input.options.resyncPeriodMs);
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

  /** Poll faster at first, then back off: a quarter of the time spent waiting so far. */
  private pollDelay(reason: string, maxMs: number): number {
    if (maxMs === 0) return 0;
    const since = findCondition(this.input.resource.status?.conditions, 'Reconciling');
    const waited =
      since?.reason === reason ? this.input.now.getTime() - Date.parse(since.lastTransitionTime) : 0;
    return Math.min(Math.max(waited / 4, POLL_MIN_MS), maxMs, this.input.options.resyncPeriodMs);
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
      state: app?.state ?? previous.state,
      stateDetails: app ? app.stateDetails : previous.stateDetails,
      ...this.encryptionStatus(previous),
      restartAfterUpdate: this.restartAfterUpdate || undefined,
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

// --- small helpers ------------------------------------------------------------------------

function normal(reason: string, action: string, message: string): RecordedEvent {
  return { type: 'Normal', reason, action, message };
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

const list = (fields: readonly string[]) => fields.join(', ');

/** Status as the API server stores it: no undefined members. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, withoutUndefined(v)]),
  ) as T;
}

// --- failures -----------------------------------------------------------------------------

export interface Failure {
  kind: AwsErrorKind;
  operation: string;
  message: string;
}

export interface FailurePlan {
  status: Status;
  events: RecordedEvent[];
  /** Retry with the queue's per-key exponential backoff (the error is rethrown). */
  backoff: boolean;
  requeueAfterMs: number;
}

/** The status for an AWS call that failed, on top of the last status planned before it. */
export function planFailure(
  input: Omit<PlanInput, 'observed'>,
  planned: Status | undefined,
  failure: Failure,
): FailurePlan {
  const { resource, now, options } = input;
  const base = planned ?? resource.status ?? {};
  const said = `${failure.operation} failed: ${failure.message}`;
  const verdicts: Record<AwsErrorKind, Verdict & { backoff: boolean; requeueAfterMs?: number }> = {
    throttled: {
      phase: 'Progressing',
      reason: 'AwsThrottled',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    transient: {
      phase: 'Progressing',
      reason: 'AwsUnavailable',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    conflict: {
      phase: 'Progressing',
      reason: 'AwsConflict',
      message: `${said}. Retrying with backoff.`,
      backoff: true,
    },
    notFound: {
      phase: 'Progressing',
      reason: 'AwsConflict',
      message: `${said}. Looking again.`,
      backoff: true,
    },
    // The application changed state between the read and the write (autoStart, autoStop).
    stateRace: {
      phase: 'Progressing',
      reason: 'ApplicationStateChanged',
      message: `${said}. The application changed state; looking again.`,
      backoff: false,
      requeueAfterMs: 1_000,
    },
    invalid: {
      phase: 'Stalled',
      reason: 'AwsRejected',
      message: `${said}. Fix the spec; the operator retries after a spec change or on resync.`,
      backoff: false,
    },
    accessDenied: {
      phase: 'Stalled',
      reason: 'AccessDenied',
      message: `${said}. Grant the operator's role this permission (see docs/aws-permissions.md); re-checked on resync.`,
      backoff: false,
    },
    quota: {
      phase: 'Stalled',
      reason: 'QuotaExceeded',
      message: `${said}. Raise the service quota or remove applications; re-checked on resync.`,
      backoff: false,
    },
  };
  const verdict = verdicts[failure.kind];
  const previousStalled = findCondition(resource.status?.conditions, 'Stalled')?.reason;
  const events: RecordedEvent[] =
    verdict.phase === 'Stalled' && previousStalled !== verdict.reason
      ? [{ type: 'Warning', reason: verdict.reason, action: failure.operation, message: verdict.message }]
      : [];
  const status = withoutUndefined({
    ...base,
    observedGeneration: resource.metadata.generation,
    conditions: conditionsFor(verdict, resource.metadata.generation, resource.status?.conditions, now),
  });
  return {
    status,
    events,
    backoff: verdict.backoff,
    requeueAfterMs: verdict.requeueAfterMs ?? options.resyncPeriodMs,
  };
}
