// One reconcile of one job run: observe (the referenced application from the cache, the run
// from AWS only when it may have changed, the job-level key only before submission), plan,
// execute, and write the status once, only when it differs from what the API server holds.
import type { Logger } from 'pino';
import { JOB_RUN_PLURAL, PLURAL } from '../../api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../../api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../../api/schema.js';
import type { AwsScope } from '../../aws/access.js';
import { AwsError, type AwsJobRun, type AwsPort } from '../../aws/port.js';
import type { PlanOptions } from '../application/types.js';
import { jsonEqual } from '../compare.js';
import { EventBatch } from '../event-batch.js';
import { failureOf, planFailure } from '../failures.js';
import { actingAccount } from '../identity.js';
import type { NamespacePolicies, PolicySource } from '../policies.js';
import {
  assertMayWrite,
  type EventRecorder,
  type ReconcileResult,
  type ResourceWriter,
  type WriteGuard,
} from '../ports.js';
import {
  CREATED_AT_SLACK_MS,
  isFinal,
  type JobRunObserved,
  type JobRunPlan,
  keyToVerify,
  planJobRun,
  runLookup,
  runName,
  targetOf,
} from './planner.js';
import type { JobRunAction } from './types.js';

/** The job run's writes to itself: finalizer, status, and deletion (ttlSecondsAfterFinished). */
export interface JobRunWriter extends ResourceWriter<EmrServerlessJobRun, JobRunStatus> {
  delete(obj: EmrServerlessJobRun): Promise<void>;
}

export interface JobRunReconcilerDeps {
  /** AWS as the run's namespace reaches it (its role, or the operator's identity): AwsAccess. */
  aws: {
    scopeFor(namespace: string, region: (namespaceRegion: string | undefined) => string): Promise<AwsScope>;
  };
  writer: JobRunWriter;
  events: EventRecorder;
  /** The manager's caches: the referenced application is read from there, not from the API server. */
  cache: { get<T>(plural: string, key: string): T | undefined };
  logger: Logger;
  options: PlanOptions;
  now?: () => Date;
  /** False once this process may no longer write (leader lease lost): checked before each write. */
  mayWrite?: WriteGuard;
  /** The EmrServerlessPolicies governing a namespace (the policy cache); none are enforced without it. */
  policies?: PolicySource;
  /** Told which policies refuse the run after each reconcile, none when it is allowed (metrics). */
  onPolicyRefusals?: (resourceKey: string, policies: readonly string[]) => void;
}

/** Enough for add-finalizer+StartJobRun, then one look at the run it started. */
const MAX_STEPS = 2;

export class JobRunReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: JobRunReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(original: EmrServerlessJobRun): Promise<ReconcileResult> {
    const { namespace, name } = original.metadata;
    const log = this.deps.logger.child({ resource: `${namespace}/${name}`, kind: original.kind });
    const events = new EventBatch();
    let resource = original;
    // The object as last written: status writes are conditional on its resourceVersion.
    let latest = original;
    let planned: JobRunPlan | undefined;
    try {
      // Only a submission is checked against the policies: a submitted run, or a deletion, is not.
      const policies =
        original.metadata.deletionTimestamp || original.status?.jobRunId
          ? undefined
          : await this.deps.policies?.policiesFor(namespace);
      for (let step = 0; step < MAX_STEPS; step++) {
        planned = planJobRun({
          resource,
          observed: await this.observe(resource, policies),
          options: this.deps.options,
          now: this.now(),
        });
        events.add(planned.events);
        if (planned.actions.length === 0 || step === MAX_STEPS - 1) break;
        log.info({ actions: planned.actions.map((a) => a.kind) }, 'acting');
        const done = await this.execute(planned.actions, resource, events, (current) => {
          latest = current;
        });
        if (done.released) {
          events.flush(this.deps.events, done.resource);
          log.info('finalizer removed');
          return {};
        }
        if (!done.started) break;
        // Record where the run went, with which key, and what StartJobRun answered, then look at
        // the run once; the persisted conditions stay the base for transition times.
        const { applicationId, region, account, diskEncryption } = planned.status;
        resource = {
          ...done.resource,
          status: { ...resource.status, applicationId, region, account, diskEncryption, ...done.started },
        };
      }
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      const failed = failureOf(err);
      log.warn({ err: failed }, 'AWS call failed');
      const failure = planFailure(
        { resource, options: this.deps.options, now: this.now() },
        planned?.status,
        failed,
      );
      events.add(failure.events);
      events.flush(this.deps.events, resource);
      await this.writeStatus(latest, original.status, failure.status, log);
      if (failure.backoff) throw err;
      return { requeueAfterMs: failure.requeueAfterMs };
    }
    const final = planned!;
    events.flush(this.deps.events, resource);
    await this.writeStatus(latest, original.status, final.status, log);
    this.deps.onPolicyRefusals?.(`${namespace}/${name}`, final.refusedBy ?? []);
    return { requeueAfterMs: final.requeueAfterMs };
  }

  private async observe(
    resource: EmrServerlessJobRun,
    policies: NamespacePolicies | undefined,
  ): Promise<JobRunObserved> {
    const ref = applicationRefOf(resource);
    const application =
      ref !== undefined
        ? this.deps.cache.get<EmrServerlessApplication>(PLURAL, `${resource.metadata.namespace}/${ref}`)
        : undefined;
    const lookup = runLookup(resource, application);
    let run: AwsJobRun | null | undefined;
    let account: string | undefined;
    if (lookup.kind === 'get') {
      const scope = await this.scope(resource, lookup.target.region);
      run = (await scope.port.getJobRun(lookup.target.applicationId, lookup.jobRunId)) ?? null;
      // As for applications: a run the operator's own identity does not find may be in another account.
      account = await actingAccount(scope, run, true);
    } else if (lookup.kind === 'find') {
      const created = Date.parse(resource.metadata.creationTimestamp ?? '') || this.now().getTime();
      const spec = resource.spec as { mode?: 'BATCH' | 'STREAMING' } | undefined;
      // Not found here is not "gone": it was never submitted, so `undefined`, not null.
      run = await (await this.port(resource, lookup.target.region)).findOwnedJobRun(
        lookup.target.applicationId,
        {
          name: runName(resource),
          ownerUid: resource.metadata.uid,
          createdAfter: new Date(created - CREATED_AT_SLACK_MS),
          mode: spec?.mode ?? 'BATCH',
        },
      );
    }
    const keyArn = keyToVerify(resource, this.deps.options, !!run);
    const key = keyArn
      ? await (
          await this.scope(resource, 'target' in lookup ? lookup.target.region : undefined)
        ).keys.describe(keyArn)
      : undefined;
    // Before submission, the account the namespace acts in is compared with the one the run
    // belongs to (its application's): under the operator's own identity too, whose account STS
    // names (once per process), so a namespace whose role was removed submits nothing elsewhere.
    const target = targetOf(resource, application);
    if (account === undefined && target && !isFinal(resource.status?.state)) {
      const scope = await this.scope(resource, target.region);
      const submitting = !resource.status?.jobRunId && !resource.metadata.deletionTimestamp;
      account = submitting ? await scope.actingAccount() : scope.account;
    }
    return {
      ...(application && { application }),
      ...(run !== undefined && { run }),
      ...(key && { key }),
      ...(account !== undefined && { account }),
      ...(policies && { policies }),
    };
  }

  /** The run acts in its namespace's account, in the application's region (else the namespace's). */
  private scope(resource: EmrServerlessJobRun, region: string | undefined): Promise<AwsScope> {
    return this.deps.aws.scopeFor(
      resource.metadata.namespace,
      (namespaceRegion) => region ?? namespaceRegion ?? this.deps.options.defaultRegion,
    );
  }

  private async port(resource: EmrServerlessJobRun, region: string): Promise<AwsPort> {
    return (await this.scope(resource, region)).port;
  }

  /** Carries out the actions in order; a failure stops the sequence and is thrown. */
  private async execute(
    actions: readonly JobRunAction[],
    resource: EmrServerlessJobRun,
    events: EventBatch,
    written: (current: EmrServerlessJobRun) => void,
  ): Promise<{
    resource: EmrServerlessJobRun;
    released: boolean;
    started?: { jobRunId: string; arn: string };
  }> {
    const { writer } = this.deps;
    let current = resource;
    let started: { jobRunId: string; arn: string } | undefined;
    let released = false;
    for (const action of actions) {
      assertMayWrite(this.deps.mayWrite, action.kind);
      switch (action.kind) {
        case 'AddFinalizer':
          current = await writer.addFinalizer(current);
          written(current);
          break;
        case 'RemoveFinalizer':
          await writer.removeFinalizer(current);
          released = true;
          break;
        case 'StartJobRun':
          started = await (await this.port(resource, action.region)).startJobRun(action.input);
          break;
        case 'CancelJobRun':
          await (await this.port(resource, action.region)).cancelJobRun(
            action.applicationId,
            action.jobRunId,
          );
          break;
        case 'DeleteResource':
          await writer.delete(current);
          break;
      }
      events.add(action.events ?? []);
    }
    return { resource: current, released, ...(started && { started }) };
  }

  /** Writes `status` unless it equals what was read, on the resource's last written version. */
  private async writeStatus(
    resource: EmrServerlessJobRun,
    read: JobRunStatus | undefined,
    status: JobRunStatus,
    log: Logger,
  ): Promise<void> {
    if (jsonEqual(status, read ?? {})) return;
    assertMayWrite(this.deps.mayWrite, 'a status update');
    await this.deps.writer.applyStatus(resource, status);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    log.info(
      { state: status.state, jobRunId: status.jobRunId, ready: ready?.status, reason: ready?.reason },
      'status written',
    );
  }
}

/** Job runs of `namespace` that reference the application `name` and are not submitted yet. */
export function unsubmittedJobRunsOf(
  cache: { list<T>(plural: string, namespace: string): T[] },
  namespace: string,
  name: string,
): string[] {
  return cache
    .list<EmrServerlessJobRun>(JOB_RUN_PLURAL, namespace)
    .filter((r) => applicationRefOf(r) === name && !r.status?.jobRunId)
    .map((r) => `${namespace}/${r.metadata.name}`);
}

/** The application name spec.applicationRef gives, read before the spec is validated. */
function applicationRefOf(resource: EmrServerlessJobRun): string | undefined {
  const ref = (resource.spec as { applicationRef?: { name?: unknown } } | undefined)?.applicationRef?.name;
  return typeof ref === 'string' ? ref : undefined;
}
