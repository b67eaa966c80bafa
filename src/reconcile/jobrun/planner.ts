// The job run planner: (resource, its application, the run as AWS has it, key facts, now) ->
// the actions to take, the status to write and when to look again. No I/O; see
// jobrun-planner.test.ts.
//
// A job run is submitted once per declaration: the run is tagged with the digest of what was
// declared (namespace, name, spec: `submissionDigest`) and with the resource's uid (also its
// clientToken). Before submitting, the application's runs are searched for either tag, so a run
// whose answer was lost (a crash between StartJobRun and the status write) is found again, and so
// is the run of a resource deleted and declared again (a GitOps tool recreating it after
// ttlSecondsAfterFinished): one declared run, one AWS run. A changed spec, or a new
// spec.rerunToken, is another declaration.
import { createHash } from 'node:crypto';
import { JOB_RUN_PLURAL, OWNER_UID_TAG, SUBMISSION_TAG } from '../../api/constants.js';
import { type EmrServerlessJobRun, JobRunSpec } from '../../api/jobrun-schema.js';
import { nullFields, nullValueMessage } from '../../api/nulls.js';
import { type EmrServerlessApplication, KMS_KEY_ARN_PATTERN } from '../../api/schema.js';
import {
  combinedVerdict,
  type KeyPolicyVerdict,
  serviceUseVerdict,
  submitterUseVerdict,
} from '../../aws/key-policy-check.js';
import { partitionOfRegion } from '../../aws/policies.js';
import { FINAL_JOB_RUN_STATES, type JobRunState } from '../../aws/port.js';
import { LISTING_LAG_MS } from '../absence.js';
import { canonicalJson } from '../application/convergence.js';
import type { PlanOptions } from '../application/types.js';
import { findCondition } from '../conditions.js';
import { ensureFinalizer, hasFinalizer } from '../finalizers.js';
import { accountOfArn, boundAccountOf } from '../identity.js';
import { keyCheck, keyHealthChanged } from '../keys.js';
import { invalidSpecMessage, normal } from '../outcome-base.js';
import { NO_ADOPTION, ownershipTags } from '../ownership.js';
import { inheritedKeyRefusal, type PolicyRefusal, policyRefusal } from '../policies.js';
import { JobRunOutcome } from './outcome.js';
import type { JobRunPlan, JobRunPlanInput, JobRunTarget } from './types.js';

export type { JobRunAction, JobRunObserved, JobRunPlan, JobRunPlanInput, JobRunTarget } from './types.js';

const JOB_KEY_FIELD = 'spec.configurationOverrides.diskEncryptionConfiguration.encryptionKeyArn';

/** How far before the resource's creation a run it submitted may carry as createdAt (clock skew). */
export const CREATED_AT_SLACK_MS = 10 * 60_000;

export const isFinal = (state: string | undefined): boolean =>
  state !== undefined && (FINAL_JOB_RUN_STATES as readonly string[]).includes(state);

const specOf = (resource: EmrServerlessJobRun) => (resource.spec ?? {}) as Partial<JobRunSpec>;

/** The name the run carries in AWS. */
export const runName = (resource: EmrServerlessJobRun): string =>
  specOf(resource).name ?? resource.metadata.name;

/**
 * What identifies a submission: the namespace, the name and the spec, less what does not change
 * the run (ttlSecondsAfterFinished, deletionPolicy: what happens to the resource). Unchecked spec
 * fields are left out too, so only the declared run counts.
 */
export function submissionDigest(resource: EmrServerlessJobRun, spec: JobRunSpec): string {
  const { ttlSecondsAfterFinished: _ttl, deletionPolicy: _policy, ...run } = spec;
  const { namespace, name } = resource.metadata;
  return createHash('sha256').update(canonicalJson({ namespace, name, run })).digest('hex');
}

/** The application a bound EmrServerlessApplication stands for, and its region. */
export function boundTarget(app: EmrServerlessApplication | undefined): JobRunTarget | undefined {
  const id = app?.status?.applicationId;
  const region = app?.status?.region;
  return id && region ? { applicationId: id, region } : undefined;
}

/** Where the run is (or goes): as recorded in status, else the referenced application's binding. */
export function targetOf(
  resource: EmrServerlessJobRun,
  application: EmrServerlessApplication | undefined,
): JobRunTarget | undefined {
  const { applicationId, region } = resource.status ?? {};
  return applicationId && region ? { applicationId, region } : boundTarget(application);
}

/**
 * What to ask AWS about the run. `none` for a run already final (zero AWS calls on resync) or not
 * submitted yet (see `searchBeforeSubmission`); `get` for a recorded run; `find` when an earlier
 * reconcile may have submitted it without recording it (the finalizer is added before
 * StartJobRun). The search is by tag: the uid, or `submission` (the declaration's digest, when
 * the spec is valid).
 */
export function runLookup(
  resource: EmrServerlessJobRun,
  application: EmrServerlessApplication | undefined,
):
  | { kind: 'none' }
  | { kind: 'get'; target: JobRunTarget; jobRunId: string }
  | { kind: 'find'; target: JobRunTarget; submission?: string } {
  if (!hasFinalizer(resource)) return { kind: 'none' };
  const status = resource.status ?? {};
  const target = targetOf(resource, application);
  if (!target) return { kind: 'none' };
  if (status.jobRunId)
    return isFinal(status.state) ? { kind: 'none' } : { kind: 'get', target, jobRunId: status.jobRunId };
  const parsed = JobRunSpec.safeParse(resource.spec);
  return {
    kind: 'find',
    target,
    ...(parsed.success && { submission: submissionDigest(resource, parsed.data) }),
  };
}

/**
 * A plan that submits a run for a resource never looked for yet (no finalizer): first search for
 * the run of an earlier resource with the same declaration, then plan again with what was found.
 * Only then, so that a run waiting or refused before submission costs no ListJobRuns per resync.
 */
export function searchBeforeSubmission(
  resource: EmrServerlessJobRun,
  plan: JobRunPlan,
): { target: JobRunTarget; submission: string } | undefined {
  if (hasFinalizer(resource)) return undefined;
  const start = plan.actions.find((a) => a.kind === 'StartJobRun');
  const submission = start?.input.tags?.[SUBMISSION_TAG];
  return start && submission
    ? { target: { applicationId: start.input.applicationId, region: start.region }, submission }
    : undefined;
}

/** The job-level key to describe: only before submission, when one is declared and checks are on. */
export function keyToVerify(
  resource: EmrServerlessJobRun,
  options: PlanOptions,
  runFound: boolean,
): string | undefined {
  if (!options.verifyKeys || runFound || resource.metadata.deletionTimestamp || resource.status?.jobRunId)
    return undefined;
  const arn = specOf(resource).configurationOverrides?.diskEncryptionConfiguration?.encryptionKeyArn;
  return typeof arn === 'string' && KMS_KEY_ARN_PATTERN.test(arn) ? arn : undefined;
}

export function planJobRun(input: JobRunPlanInput): JobRunPlan {
  if (input.resource.metadata.deletionTimestamp) return planJobRunDeletion(input);
  // Before anything else, as for applications: a null is not an empty value (src/api/nulls.ts).
  const nulls = nullFields(input.resource, ['spec']);
  if (nulls.length > 0)
    return new JobRunOutcome(input, undefined).stalled('NullValue', nullValueMessage(nulls));
  const parsed = JobRunSpec.safeParse(input.resource.spec);
  if (!parsed.success)
    return new JobRunOutcome(input, undefined).stalled(
      'InvalidSpec',
      invalidSpecMessage(parsed.error.issues),
    );
  const spec = parsed.data;
  const { resource, observed } = input;
  const out = new JobRunOutcome(input, spec);
  const run = observed.run;
  const moved = accountConflict(input);
  if (moved) return out.stalled('AccountMappingChanged', moved);

  if (resource.status?.jobRunId) {
    if (run === null) {
      return out.stalled(
        'JobRunNotFound',
        `Job run ${resource.status.jobRunId} no longer exists in application ${resource.status.applicationId}. It is not submitted again: delete this resource and apply it again for a new run.`,
      );
    }
    if (run) out.observe(run);
    return follow(input, out);
  }
  if (run) {
    out.observe(run);
    const earlier =
      run.tags[OWNER_UID_TAG] === resource.metadata.uid
        ? `submitted earlier for this resource (tag ${OWNER_UID_TAG}); it is not submitted again.`
        : `submitted for an earlier resource with the same namespace, name and spec (tag ${SUBMISSION_TAG}); it is not submitted again. To run it again, recreate this resource with a new spec.rerunToken.`;
    out.events.push(normal('Found', 'ListJobRuns', `Found job run ${run.jobRunId}, ${earlier}`));
    // The finalizer, as for a run submitted here: deleting this resource cancels a running run.
    out.act(...ensureFinalizer(resource));
    return follow(input, out);
  }
  return planSubmission(input, spec, out);
}

/**
 * The key policy of a job-level key: EMR Serverless must be allowed to use it for the target
 * application with the job's context; and when the key is in another account than the one the
 * run is submitted from, the key policy must also let the submitter (the namespace's role, or its
 * account) use it through EMR Serverless.
 */
function jobKeyVerdict(
  policy: string,
  keyArn: string,
  encryptionContext: Record<string, string> | undefined,
  target: JobRunTarget,
  runAccount: string | undefined,
  observed: JobRunPlanInput['observed'],
): KeyPolicyVerdict {
  const partition = partitionOfRegion(target.region);
  const service = serviceUseVerdict({
    policy,
    keyArn,
    partition,
    region: target.region,
    account: runAccount,
    applicationId: target.applicationId,
    encryptionContext,
  });
  const submitter = observed.account;
  if (submitter === undefined || accountOfArn(keyArn) === submitter) return service;
  return combinedVerdict([
    service,
    submitterUseVerdict({
      policy,
      keyArn,
      partition,
      region: target.region,
      account: submitter,
      roleArn: observed.submitterRoleArn,
    }),
  ]);
}

/** Not submitted yet: check the policies, the application and the key, then StartJobRun. */
function planSubmission(input: JobRunPlanInput, spec: JobRunSpec, out: JobRunOutcome): JobRunPlan {
  const { resource, observed } = input;
  const app = observed.application;
  const ref = spec.applicationRef.name;
  const namespace = resource.metadata.namespace;
  const refusal = policyRefusal(
    JOB_RUN_PLURAL,
    spec,
    namespace,
    observed.policies,
    input.options.requireNamespacePolicy ?? false,
  );
  if (refusal) return refused(out, refusal);
  if (!app) {
    return out.waiting(
      'WaitingForApplication',
      `EmrServerlessApplication ${ref} does not exist in namespace ${namespace}: the job run is submitted once it exists and is bound to an AWS application.`,
    );
  }
  if (app.metadata.deletionTimestamp) {
    return out.stalled(
      'ApplicationDeleting',
      `EmrServerlessApplication ${ref} is being deleted: nothing is submitted. Point spec.applicationRef at another application (recreate this resource).`,
    );
  }
  const appStalled = findCondition(app.status?.conditions, 'Stalled');
  if (appStalled?.status === 'True') {
    return out.stalled(
      'ApplicationStalled',
      `EmrServerlessApplication ${ref} is Stalled (${appStalled.reason}): ${appStalled.message} The job run is submitted once it recovers; nothing was sent to AWS.`,
    );
  }
  const target = boundTarget(app);
  if (!target) {
    return out.waiting(
      'WaitingForApplication',
      `EmrServerlessApplication ${ref} is not bound to an AWS application yet: the job run is submitted once it is.`,
    );
  }
  const declared = spec.configurationOverrides?.diskEncryptionConfiguration;
  const inherited = declared === undefined ? app.status?.diskEncryption : undefined;
  // The run belongs to its application's account (else the one this reconcile acts in): recorded
  // with the submission, so a namespace acting elsewhere later is refused, not followed.
  const runAccount = resource.status?.account ?? boundAccountOf(app) ?? observed.account;
  out.submitTo(target, inherited, runAccount);
  // Without a key of its own the run uses its application's current one: the policies must allow it too.
  if (inherited) {
    const keyArn = inherited.mode === 'AwsOwned' ? undefined : inherited.encryptionKeyArn;
    const inheritedRefusal = inheritedKeyRefusal(keyArn, observed.policies);
    if (inheritedRefusal) return refused(out, inheritedRefusal);
  }
  const keyArn = declared?.encryptionKeyArn;
  const key = keyCheck(
    keyArn,
    observed.key,
    input.options.verifyKeys,
    JOB_KEY_FIELD,
    observed.keyPolicy && {
      facts: observed.keyPolicy,
      verdict: (policy) =>
        jobKeyVerdict(policy, keyArn!, declared?.encryptionContext, target, runAccount, observed),
    },
  );
  out.keyHealth = key.health;
  out.warnOnce(key.warning, (prev) => keyHealthChanged(prev.diskEncryption?.key, key.health));
  if (key.blocking) return out.stalled(key.blocking.reason, key.blocking.message);

  const name = runName(resource);
  return out
    .act(...ensureFinalizer(resource), {
      kind: 'StartJobRun',
      region: target.region,
      input: {
        applicationId: target.applicationId,
        clientToken: resource.metadata.uid,
        name,
        executionRoleArn: spec.executionRoleArn,
        jobDriver: spec.jobDriver,
        ...(spec.configurationOverrides && { configurationOverrides: spec.configurationOverrides }),
        tags: {
          ...spec.tags,
          ...ownershipTags(resource, (input.options.ownership ?? NO_ADOPTION).clusterId),
          [SUBMISSION_TAG]: submissionDigest(resource, spec),
        },
        ...(spec.executionTimeoutMinutes !== undefined && {
          executionTimeoutMinutes: spec.executionTimeoutMinutes,
        }),
        ...(spec.mode && { mode: spec.mode }),
        ...(spec.retryPolicy && { retryPolicy: spec.retryPolicy }),
      },
      events: [
        normal(
          'Submitted',
          'StartJobRun',
          `Submitted job run ${name} to application ${target.applicationId} (${declared === undefined ? "the application's key" : 'its own key'}).`,
        ),
      ],
    })
    .progressing('Submitting', `Submitting job run ${name} to application ${target.applicationId}.`);
}

/** Stalled by the policies: nothing is submitted. */
function refused(out: JobRunOutcome, refusal: PolicyRefusal): JobRunPlan {
  return { ...out.stalled(refusal.reason, refusal.message), refusedBy: refusal.policies };
}

/** A submitted run: its state as the run (or, once final, status) says. */
function follow(input: JobRunPlanInput, out: JobRunOutcome): JobRunPlan {
  const { resource, observed, now, options } = input;
  const status = resource.status ?? {};
  const run = observed.run ?? undefined;
  const id = run?.jobRunId ?? status.jobRunId;
  const appId = run?.applicationId ?? status.applicationId;
  const state = (run?.state ?? status.state) as JobRunState | undefined;
  // AWS's reason, without its final full stop (the message goes on after it).
  const details = (run ? run.stateDetails : status.stateDetails)?.trim().replace(/\.+$/, '');
  const why = details ? `: ${details}` : '';

  if (isFinal(state)) {
    const ttl = specOf(resource).ttlSecondsAfterFinished;
    const endedAt = run?.endedAt?.getTime() ?? (status.endedAt ? Date.parse(status.endedAt) : undefined);
    let requeue = options.resyncPeriodMs;
    // A run that ended before this resource existed was an earlier resource's, deleted already
    // (by this TTL, say) and declared again: deleting it again would only make a GitOps tool
    // recreate it, so it stays.
    const created = Date.parse(resource.metadata.creationTimestamp ?? '');
    const endedEarlier = endedAt !== undefined && endedAt < created;
    if (ttl !== undefined && endedAt !== undefined && !endedEarlier) {
      const left = endedAt + ttl * 1000 - now.getTime();
      if (left <= 0) {
        out.act({
          kind: 'DeleteResource',
          events: [
            normal(
              'Expired',
              'Delete',
              `Deleting this resource: job run ${id} finished ${ttl} s ago (ttlSecondsAfterFinished).`,
            ),
          ],
        });
      } else requeue = Math.min(requeue, left);
    }
    if (state === 'SUCCESS') {
      const message = `Job run ${id} on application ${appId} succeeded.`;
      out.announce(normal('Succeeded', 'GetJobRun', message), 'Ready');
      return out.ready('Succeeded', message, requeue);
    }
    if (state === 'FAILED') {
      return out.stalled(
        'JobRunFailed',
        `Job run ${id} on application ${appId} failed${why}. A job run is submitted once per declaration: fix the job (a changed spec is a new run).`,
        requeue,
      );
    }
    return out.stalled(
      'JobRunCancelled',
      `Job run ${id} on application ${appId} was cancelled${why}. A job run is submitted once per declaration: recreate this resource with a new spec.rerunToken to run it again.`,
      requeue,
    );
  }
  if (state === 'CANCELLING') {
    return out.progressing('Cancelling', `Job run ${id} on application ${appId} is CANCELLING${why}.`);
  }
  return out.progressing(
    'InProgress',
    `Job run ${id} on application ${appId} is ${state ?? 'SUBMITTED'}${why}.`,
  );
}

/**
 * The account the run is in (its ARN), or, before submission, the one recorded for it, else the
 * one its application is bound in; a namespace now acting in another account (its role changed or
 * removed) moves nothing.
 */
function recordedAccountOf(
  resource: EmrServerlessJobRun,
  application: EmrServerlessApplication | undefined,
): string | undefined {
  const status = resource.status ?? {};
  if (status.jobRunId) return accountOfArn(status.arn) ?? status.account;
  if (status.account) return status.account;
  return application?.status?.applicationId ? boundAccountOf(application) : undefined;
}

function accountConflict({ resource, observed }: JobRunPlanInput): string | undefined {
  // A final run needs nothing more from AWS: wherever the namespace acts now does not matter.
  if (isFinal(resource.status?.state)) return undefined;
  const recorded = recordedAccountOf(resource, observed.application);
  const account = observed.account;
  if (recorded === undefined || account === undefined || recorded === account) return undefined;
  const namespace = resource.metadata.namespace;
  const restore = `Restore the namespace's emrserverless.operator.dev/role-arn annotation to a role of account ${recorded}`;
  const id = resource.status?.jobRunId;
  if (!id) {
    return `EmrServerlessApplication ${specOf(resource).applicationRef?.name} is bound in AWS account ${recorded}, but namespace ${namespace} now acts in account ${account}: nothing is submitted. ${restore}.`;
  }
  return (
    `job run ${id} is in AWS account ${recorded}, but namespace ${namespace} now acts in account ${account}. ` +
    `A resource is never moved between accounts: nothing was sent to AWS` +
    (resource.metadata.deletionTimestamp
      ? ` and the finalizer stays. ${restore}, or, to leave the run alone, remove the finalizer by hand.`
      : `. ${restore}.`)
  );
}

function planJobRunDeletion(input: JobRunPlanInput): JobRunPlan {
  const { resource, observed } = input;
  const out = new JobRunOutcome(input, undefined);
  if (!hasFinalizer(resource)) return out.untouched();
  const status = resource.status ?? {};
  const run = observed.run;
  if (run) out.observe(run);
  const id = run?.jobRunId ?? status.jobRunId;
  const target = targetOf(resource, observed.application);
  const state = run?.state ?? status.state;
  const policy = specOf(resource).deletionPolicy ?? 'Cancel';
  const release = (reason: string, message: string) =>
    out
      .act({ kind: 'RemoveFinalizer', events: [normal(reason, 'RemoveFinalizer', message)] })
      .progressing('Deleting', message);

  // No id was ever recorded (a StartJobRun whose answer was lost leaves none) and the search by
  // name and owner tag found nothing: a listing that may lag says so, not AWS.
  if (!id && runLookup(resource, observed.application).kind === 'find') {
    // Searched from another account than the application's: that finds nothing, and proves nothing.
    const moved = accountConflict(input);
    if (moved) return out.stalled('AccountMappingChanged', moved);
    return out.searchedInVain(
      {
        searched: `ListJobRuns of application ${target?.applicationId} by name ${runName(resource)} and tag ${OWNER_UID_TAG}=${resource.metadata.uid} or ${SUBMISSION_TAG}`,
        none: 'No job run was submitted for this resource',
        noun: 'run',
        write: 'StartJobRun',
      },
      input.options.listingLagMs ?? LISTING_LAG_MS,
      release,
    );
  }
  if (!id || !target) return release('Deleted', 'No job run was submitted for this resource.');
  // Not found from another account is not gone: nothing is cancelled, the finalizer stays.
  const moved = accountConflict(input);
  if (moved) return out.stalled('AccountMappingChanged', moved);
  if (run === null) return release('Deleted', `Job run ${id} no longer exists in AWS.`);
  if (isFinal(state)) return release('Deleted', `Job run ${id} is ${state}.`);
  if (policy === 'Orphan') {
    return release(
      'Orphaned',
      `Job run ${id} is left ${state ?? 'running'} in AWS (deletionPolicy: Orphan).`,
    );
  }
  if (state === 'CANCELLING') {
    return out.progressing(
      'Deleting',
      `Job run ${id} is CANCELLING; the resource goes once it is CANCELLED.`,
    );
  }
  return out
    .act({
      kind: 'CancelJobRun',
      region: target.region,
      applicationId: run?.applicationId ?? target.applicationId,
      jobRunId: id,
      events: [normal('Cancelling', 'CancelJobRun', `Cancelling job run ${id} (deletionPolicy: Cancel).`)],
    })
    .progressing('Deleting', `Cancelling job run ${id} before the resource goes.`);
}
