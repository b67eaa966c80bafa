// The application planner, and nothing else: (resource, what AWS has, key facts, now) -> the
// actions to take, the status to write and when to look again. No I/O; see planner.test.ts.
//
// Its parts: identity.ts (which application: the binding), claims.ts with ownership.ts (may
// this resource act on it), changes.ts (what to send), keys.ts (may this key be sent),
// outcome.ts (the status builder), failures.ts (a failed call's status), policies.ts (what the
// namespace's EmrServerlessPolicies refuse).
import { APPLICATION_PLURAL, OWNER_UID_TAG } from '../../api/constants.js';
import { nullFields, nullValueMessage } from '../../api/nulls.js';
import { type ApplicationFieldName, type ApplicationFields, Spec } from '../../api/schema.js';
import { serviceUseVerdict } from '../../aws/key-policy-check.js';
import { partitionOfRegion } from '../../aws/policies.js';
import type { ActiveWork, AwsApplication } from '../../aws/port.js';
import { confirmAbsence, LISTING_LAG_MS, seconds } from '../absence.js';
import { ensureFinalizer, hasFinalizer } from '../finalizers.js';
import {
  accountConflict,
  accountOfArn,
  applicationIdOf,
  bindingConflict,
  boundAccountOf,
  pendingCreateOf,
  regionOf,
  spec_,
} from '../identity.js';
import { keyCheck, keyHealthChanged } from '../keys.js';
import { invalidSpecMessage, normal } from '../outcome-base.js';
import { NO_ADOPTION, ownershipTags } from '../ownership.js';
import { policyRefusal } from '../policies.js';
import {
  acceptedWhileStarted,
  createAction,
  fieldChanges,
  immutableConflict,
  list,
  pick,
  tagActions,
  updateAction,
  wholeEncryptionConfig,
} from './changes.js';
import { deletionScope, planOwnership } from './claims.js';
import { type ConvergenceVerdict, convergenceGuard } from './convergence.js';
import { assessCorrection, correctionSent, type FightView, fightMessage, foundMessage } from './fights.js';
import { Outcome, TRANSITION_POLL_MAX_MS } from './outcome.js';
import type { Action, Plan, PlanInput } from './types.js';

export { planFailure } from '../failures.js';
export { applicationIdOf, regionOf, unrecordedSearchOf } from '../identity.js';
export type { Action, Observed, Plan, PlanInput, PlanOptions } from './types.js';

export function plan(input: PlanInput): Plan {
  if (input.resource.metadata.deletionTimestamp) return planDeletion(input);
  const nulls = nullFields(input.resource, ['spec']);
  if (nulls.length > 0) return new Outcome(input, undefined).stalled('NullValue', nullValueMessage(nulls));
  const parsed = Spec.safeParse(input.resource.spec);
  if (!parsed.success)
    return new Outcome(input, undefined).stalled('InvalidSpec', invalidSpecMessage(parsed.error.issues));
  return planApplication(input, parsed.data);
}

function planApplication(input: PlanInput, spec: Spec): Plan {
  const { resource, observed } = input;
  const app = observed.app ?? undefined;
  const out = new Outcome(input, spec);
  // The admin's policies first: a refused spec gets no AWS write at all, and an application
  // already on what a newer policy forbids is reported, not changed.
  const refusal = policyRefusal(
    APPLICATION_PLURAL,
    spec,
    resource.metadata.namespace,
    observed.policies,
    input.options.requireNamespacePolicy ?? false,
  );
  if (refusal) return { ...out.stalled(refusal.reason, refusal.message), refusedBy: refusal.policies };
  const region = regionOf(resource, input.options.defaultRegion);
  const moved = accountConflict(resource, observed.account);
  if (moved) return out.stalled('AccountMappingChanged', moved);
  const specConflict = bindingConflict(resource, spec);
  if (specConflict) return out.stalled('ImmutableFieldConflict', specConflict);
  const keyArn = spec.diskEncryptionConfiguration?.encryptionKeyArn;
  const key = keyCheck(
    keyArn,
    observed.key,
    input.options.verifyKeys,
    undefined,
    observed.keyPolicy && {
      facts: observed.keyPolicy,
      verdict: (policy) =>
        serviceUseVerdict({
          policy,
          keyArn: keyArn!,
          partition: partitionOfRegion(region),
          region,
          // Before a create the id is not known: a statement scoped to it is then undecided.
          account: boundAccountOf(resource) ?? observed.account ?? accountOfArn(app?.arn),
          applicationId: app?.applicationId ?? applicationIdOf(resource),
          encryptionContext: spec.diskEncryptionConfiguration?.encryptionContext,
        }),
    },
  );
  out.keyHealth = key.health;
  out.warnOnce(key.warning, (prev) => keyHealthChanged(prev.diskEncryption?.key, key.health));
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
    return planCreate(input, spec, region, out);
  }

  const ownership = planOwnership(input, app, out);
  if (!Array.isArray(ownership)) return ownership;
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

  out.act(...ensureFinalizer(resource), ...ownership, ...tagActions(spec, app));
  const changes = fieldChanges(spec, app);
  const changed = Object.keys(changes) as ApplicationFieldName[];
  // AWS matches spec: no update is outstanding.
  if (changed.length === 0) out.updateAttempts = undefined;
  // The last correction and whether something else undid it (fights.ts), for what is sent now.
  const correction = (sending: ApplicationFields): Fight => {
    const view = assessCorrection(
      resource.status?.correction,
      sending,
      input.now,
      input.options.resyncPeriodMs,
    );
    out.correction = view.record;
    if (view.undone) out.undone = view.record?.fields;
    return { ...view, input, spec, app, sending };
  };
  const held = changed.length === 0 ? correction({}) : undefined;
  // AWS matches spec: Ready, unless a fight with another writer has not been quiet long enough.
  const settled = () => (held?.fighting ? fighting(out, held) : out.ready());
  const restartPending = resource.status?.restartAfterUpdate === true;
  // The application is (being) started again: the restart intent has done its job.
  if (restartPending && changed.length === 0 && (app.state === 'STARTING' || app.state === 'STARTED'))
    out.restartAfterUpdate = false;

  switch (app.state) {
    case 'CREATING':
      return out.progressing(
        'Creating',
        `Application ${app.applicationId} is CREATING.`,
        TRANSITION_POLL_MAX_MS,
      );
    case 'STARTING':
    case 'STOPPING':
      // Not Ready at a state about to change: looked at again within seconds until it settles.
      return out.progressing(
        'WaitingForState',
        `Application ${app.applicationId} is ${app.state}; the operator looks again once it settles${changed.length ? ` and then updates ${list(changed)}` : restartPending && app.state === 'STOPPING' ? ' and then starts it again' : ''}.`,
        TRANSITION_POLL_MAX_MS,
      );
    case 'CREATED':
    case 'STOPPED': {
      // The intent stays until the application is seen STARTING: a crash after this call
      // (answered or not) still finds it and starts the application if needed.
      const restart: Action = {
        kind: 'StartApplication',
        applicationId: app.applicationId,
        events: [
          normal(
            'Restarted',
            'StartApplication',
            `Started application ${app.applicationId} again after the update.`,
          ),
        ],
      };
      if (changed.length > 0) {
        const fight = correction(changes);
        // Fighting another writer: the correction waits for the next resync period.
        if (fight.holdMs > 0) {
          if (restartPending) out.act(restart);
          return fighting(out, fight, fight.holdMs);
        }
        const verdict = convergenceGuard(input, app, changes);
        // The update does not land: an application the operator stopped for it runs again.
        if (!verdict.send) {
          if (restartPending) out.act(restart);
          return out.stalled('NotConverging', verdict.message, verdict.retryInMs);
        }
        return sendUpdate(out, fight, verdict, `application ${app.applicationId}`);
      }
      if (restartPending) {
        return out
          .act(restart)
          .progressing('Restarting', `Starting application ${app.applicationId} again after the update.`);
      }
      return settled();
    }
    case 'STARTED': {
      const now = changed.filter((f) => acceptedWhileStarted(f, spec, app));
      if (now.length > 0) {
        const fight = correction(pick(changes, now));
        if (fight.holdMs > 0) return fighting(out, fight, fight.holdMs);
        const verdict = convergenceGuard(input, app, pick(changes, now));
        if (!verdict.send) return out.stalled('NotConverging', verdict.message, verdict.retryInMs);
        return sendUpdate(out, fight, verdict, `running application ${app.applicationId}`);
      }
      if (changed.length === 0) return settled();
      return planStop(input, spec, app, changes, out, correction);
    }
  }
}

/**
 * CreateApplication, written ahead: status.pendingCreate records the name, region and client
 * token before it is sent (the reconciler writes intents ahead of the actions that need them).
 * A pending create whose search found nothing is sent again, with the same token, only once the
 * absence is confirmed (absence.ts): an answer lost in a crash may belong to an application the
 * listing does not show yet.
 */
function planCreate(input: PlanInput, spec: Spec, region: string, out: Outcome): Plan {
  const { resource, now } = input;
  const pending = pendingCreateOf(resource);
  if (pending) {
    const lagMs = input.options.listingLagMs ?? LISTING_LAG_MS;
    const absence = confirmAbsence(pending.notFoundSince, now, lagMs);
    if (!absence.confirmed) {
      out.pendingCreate = { ...pending, notFoundSince: absence.firstEmptySearch };
      return out.progressingFor(
        'Creating',
        `CreateApplication of ${pending.name} in ${pending.region} was sent without its answer arriving, and ListApplications by name ${pending.name} and tag ${OWNER_UID_TAG}=${resource.metadata.uid} found no application since ${absence.firstEmptySearch}. ` +
          `It may not be listed yet: CreateApplication is sent again (same client token) only if a search at least ${seconds(lagMs)} after that one finds none either (next in ${seconds(absence.retryInMs)}).`,
        absence.retryInMs,
      );
    }
  }
  // The recorded values stand (spec agrees with them: bindingConflict); a first create records spec's.
  const name = pending?.name ?? spec.name!;
  const clientToken = pending?.clientToken ?? resource.metadata.uid;
  out.pendingCreate = { name, region, clientToken };
  const ownerTags = ownershipTags(resource, (input.options.ownership ?? NO_ADOPTION).clusterId);
  return out
    .act(...ensureFinalizer(resource), createAction({ ...spec, name }, region, ownerTags, clientToken))
    .progressing(
      'Creating',
      pending
        ? `Creating application ${name} in ${region} again: no application made by the earlier CreateApplication was found, twice, at least ${seconds(input.options.listingLagMs ?? LISTING_LAG_MS)} apart.`
        : `Creating application ${name} in ${region}.`,
    );
}

/** A correction assessed (fights.ts) for the application as the plan sees it. */
type Fight = FightView & { input: PlanInput; spec: Spec; app: AwsApplication; sending: ApplicationFields };

/**
 * UpdateApplication, recorded (written ahead) for the NotConverging guard and as the correction
 * another writer may undo. While fighting, the plan says so rather than Updating.
 */
function sendUpdate(
  out: Outcome,
  fight: Fight,
  verdict: Extract<ConvergenceVerdict, { send: true }>,
  what: string,
): Plan {
  const { app, sending: changes } = fight;
  out.updateAttempts = verdict.attempts;
  out.correction = correctionSent(fight.record, changes, fight.input.now);
  out.act(updateAction(app, changes));
  if (fight.fighting) return fighting(out, fight, fight.input.options.resyncPeriodMs);
  if (verdict.stillStalled) return out.stalled('NotConverging', verdict.stillStalled);
  return out.progressing('Updating', `Updating ${list(Object.keys(changes))} of ${what}.`);
}

/** Stalled ExternalChangeFight; the Warning on entering says what AWS held, when the plan saw it differ. */
function fighting(out: Outcome, fight: Fight, retryInMs = fight.input.options.resyncPeriodMs): Plan {
  const record = out.correction!;
  const declared = Object.fromEntries(
    record.fields.map((f) => [
      f,
      f === 'diskEncryptionConfiguration'
        ? wholeEncryptionConfig(fight.spec.diskEncryptionConfiguration)
        : fight.spec[f as ApplicationFieldName],
    ]),
  ) as ApplicationFields;
  const message = fightMessage(record, fight.app, declared, fight.input.options.resyncPeriodMs);
  const found = Object.keys(fight.sending).length ? foundMessage(fight.app, fight.sending) : undefined;
  return out.fight(message, retryInMs, found);
}

/** A STARTED application with changes the service accepts only once it is stopped. */
function planStop(
  input: PlanInput,
  spec: Spec,
  app: AwsApplication,
  changes: ApplicationFields,
  out: Outcome,
  correction: (sending: ApplicationFields) => Fight,
): Plan {
  const what = list(Object.keys(changes));
  if ((spec.updateStrategy ?? 'WaitForStop') === 'WaitForStop') {
    // A restart intent recorded under StopWhenIdle, before the application was stopped, is
    // stale now: the operator no longer stops it.
    out.restartAfterUpdate = false;
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
  // Nor, while fighting another writer, before the next resync period.
  const fight = correction(changes);
  if (fight.holdMs > 0) return fighting(out, fight, fight.holdMs);
  // Not stopped for an update already known not to land (until the guard allows another try).
  const verdict = convergenceGuard(input, app, changes);
  if (!verdict.send) return out.stalled('NotConverging', verdict.message, verdict.retryInMs);
  const work = input.observed.activeWork;
  if (work === undefined) return out.need('activeWork');
  const busy = busyWith(work);
  if (busy) {
    return out.waiting(
      busy.reason,
      `The change to ${what} needs application ${app.applicationId} stopped; ${busy.what} not finished. The operator stops it once none is (job runs and sessions are never ended by the operator).`,
    );
  }
  // The intent to restart is written to status before StopApplication is sent (the reconciler
  // writes intents ahead of the actions that need them), so a crash in between still restarts it.
  out.restartAfterUpdate = true;
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
  if (!hasFinalizer(resource)) return out.untouched();
  // Not found from another account is not gone: the finalizer stays, nothing is deleted.
  const moved = accountConflict(resource, observed.account);
  if (moved) return out.stalled('AccountMappingChanged', moved);
  const app = observed.app ?? undefined;
  const release = (reason: string, message: string) =>
    out
      .act({ kind: 'RemoveFinalizer', events: [normal(reason, 'RemoveFinalizer', message)] })
      .progressing('Deleting', message);
  // No id was ever recorded (a CreateApplication whose answer was lost leaves none) and the
  // search by name and owner tag found nothing: a listing that may lag says so, not AWS.
  const pending = pendingCreateOf(resource);
  if (observed.app === null && applicationIdOf(resource) === undefined)
    return out.searchedInVain(
      {
        searched: `ListApplications${pending ? ` in ${pending.region}` : ''} by name ${pending?.name ?? spec_(resource).name} and tag ${OWNER_UID_TAG}=${resource.metadata.uid}`,
        none: 'No application exists in AWS for this resource',
        noun: 'application',
        write: 'CreateApplication',
      },
      input.options.listingLagMs ?? LISTING_LAG_MS,
      release,
    );
  const scope = deletionScope(input, app);
  if (!scope.act) return release('Released', scope.message);
  if (app) out.observe(app);
  // A deletionPolicy that did not render is neither Delete nor Retain: ask rather than guess.
  const nullPolicy = nullFields(resource, ['spec']).filter((n) => n.path === 'spec.deletionPolicy');
  if (nullPolicy.length > 0) {
    return out.stalled(
      'NullValue',
      nullValueMessage(
        nullPolicy,
        'The resource stays until spec.deletionPolicy is Delete or Retain (it can be set while deleting).',
      ),
    );
  }
  const policy = scope.policy;
  if (scope.warning)
    out.warnOnce({ reason: 'AdoptionNotAllowed', action: 'None', message: scope.warning }, () => true);

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
      const work = observed.activeWork;
      if (work === undefined) return out.need('activeWork');
      const busy = busyWith(work);
      if (busy) {
        return out.waiting(
          busy.reason,
          `Deletion waits for ${busy.what} of application ${app.applicationId} to end (the operator never cancels a job run nor terminates a session).`,
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

/** What keeps an application from being stopped, for the waiting reason and message; undefined when idle. */
function busyWith(
  work: ActiveWork,
): { reason: 'WaitingForJobRuns' | 'WaitingForSessions'; what: string } | undefined {
  const parts = [
    work.jobRuns > 0 ? `${work.jobRuns} job run(s)` : undefined,
    work.sessions > 0 ? `${work.sessions} interactive session(s)` : undefined,
  ].filter((p): p is string => p !== undefined);
  if (parts.length === 0) return undefined;
  return { reason: work.jobRuns > 0 ? 'WaitingForJobRuns' : 'WaitingForSessions', what: parts.join(' and ') };
}
