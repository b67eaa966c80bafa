import { APPLICATION_PLURAL, JOB_RUN_PLURAL } from '../../api/constants.js';
import type { EmrServerlessJobRun, JobRunStatus } from '../../api/jobrun-schema.js';
import type { EmrServerlessApplication } from '../../api/schema.js';
import type { AwsScope } from '../../aws/access.js';
import type { AwsJobRun, AwsPort } from '../../aws/port.js';
import { actingAccount } from '../identity.js';
import { keyPolicyToRead } from '../keys.js';
import type { Ending, ReconcileKind } from '../kind.js';
import { KindReconciler, type KindReconcilerDeps } from '../kind-reconciler.js';
import type { NamespacePolicies } from '../policies.js';
import type { ResourceWriter } from '../ports.js';
import {
  CREATED_AT_SLACK_MS,
  isFinal,
  type JobRunObserved,
  type JobRunPlan,
  keyToVerify,
  planJobRun,
  runLookup,
  runName,
  searchBeforeSubmission,
  targetOf,
} from './planner.js';
import type { JobRunAction, JobRunTarget } from './types.js';

/** The job run's writes to itself: finalizer, status, and deletion (ttlSecondsAfterFinished). */
export interface JobRunWriter extends ResourceWriter<EmrServerlessJobRun, JobRunStatus> {
  delete(obj: EmrServerlessJobRun): Promise<void>;
}

export interface JobRunReconcilerDeps extends KindReconcilerDeps<EmrServerlessJobRun, JobRunStatus> {
  writer: JobRunWriter;
  /** The manager's caches: the referenced application is read from there, not from the API server. */
  cache: { get<T>(plural: string, key: string): T | undefined };
}

/** What one reconcile of a job run knows. */
interface JobRunContext {
  policies: NamespacePolicies | undefined;
  /** What StartJobRun answered in this step. */
  started: { jobRunId: string; arn: string } | undefined;
}

/** Enough for add-finalizer+StartJobRun, then one look at the run it started. */
const MAX_STEPS = 2;

export class JobRunReconciler extends KindReconciler<
  EmrServerlessJobRun,
  JobRunStatus,
  JobRunAction,
  JobRunPlan,
  JobRunContext
> {
  constructor(deps: JobRunReconcilerDeps) {
    super(new JobRunKind(deps), deps);
  }
}

class JobRunKind
  implements ReconcileKind<EmrServerlessJobRun, JobRunStatus, JobRunAction, JobRunPlan, JobRunContext>
{
  readonly maxSteps = MAX_STEPS;
  private readonly now: () => Date;

  constructor(private readonly deps: JobRunReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async begin(resource: EmrServerlessJobRun): Promise<JobRunContext> {
    // Only a submission is checked against the policies: a submitted run, or a deletion, is not.
    const policies =
      resource.metadata.deletionTimestamp || resource.status?.jobRunId
        ? undefined
        : await this.deps.policies?.policiesFor(resource.metadata.namespace);
    return { policies, started: undefined };
  }

  async plan(resource: EmrServerlessJobRun, context: JobRunContext): Promise<JobRunPlan> {
    context.started = undefined;
    const input = {
      resource,
      observed: await this.observe(resource, context.policies),
      options: this.deps.options,
      now: this.now(),
    };
    const plan = planJobRun(input);
    const search = searchBeforeSubmission(resource, plan);
    if (!search) return plan;
    const run = await this.findRun(resource, search.target, search.submission);
    return run ? planJobRun({ ...input, observed: { ...input.observed, run } }) : plan;
  }

  async act(action: JobRunAction, resource: EmrServerlessJobRun, context: JobRunContext): Promise<void> {
    switch (action.kind) {
      case 'StartJobRun':
        context.started = await (await this.port(resource, action.region)).startJobRun(action.input);
        return;
      case 'CancelJobRun':
        await (await this.port(resource, action.region)).cancelJobRun(action.applicationId, action.jobRunId);
        return;
      case 'DeleteResource':
        await this.deps.writer.delete(resource);
        return;
      case 'AddFinalizer':
      case 'RemoveFinalizer':
        return;
    }
  }

  /**
   * After a StartJobRun: record where the run went, with which key, and what StartJobRun
   * answered, then look at the run once. Any other step ends the reconcile.
   */
  next(
    after: EmrServerlessJobRun,
    planned: JobRunPlan,
    context: JobRunContext,
    persisted: JobRunStatus,
  ): EmrServerlessJobRun | undefined {
    if (!context.started) return undefined;
    const { applicationId, region, account, diskEncryption } = planned.status;
    return {
      ...after,
      status: { ...persisted, applicationId, region, account, diskEncryption, ...context.started },
    };
  }

  ended(ending: Ending<EmrServerlessJobRun, JobRunPlan>): void {
    if (ending.outcome !== 'done') return;
    const { namespace, name } = ending.resource.metadata;
    this.deps.onPolicyRefusals?.(`${namespace}/${name}`, ending.plan.refusedBy ?? []);
  }

  describe(status: JobRunStatus): Record<string, unknown> {
    return { jobRunId: status.jobRunId };
  }

  private async observe(
    resource: EmrServerlessJobRun,
    policies: NamespacePolicies | undefined,
  ): Promise<JobRunObserved> {
    const ref = applicationRefOf(resource);
    const application =
      ref !== undefined
        ? this.deps.cache.get<EmrServerlessApplication>(
            APPLICATION_PLURAL,
            `${resource.metadata.namespace}/${ref}`,
          )
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
      run = await this.findRun(resource, lookup.target, lookup.submission);
    }
    const keyArn = keyToVerify(resource, this.deps.options, !!run);
    const keyScope = keyArn
      ? await this.scope(resource, 'target' in lookup ? lookup.target.region : undefined)
      : undefined;
    const key = keyArn ? await keyScope!.keys.describe(keyArn) : undefined;
    const keyPolicy =
      this.deps.options.verifyKeyPolicies && keyPolicyToRead(keyArn!, key)
        ? await keyScope!.keys.policy(keyArn!)
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
      ...(keyPolicy && { keyPolicy }),
      ...(keyScope?.roleArn && { submitterRoleArn: keyScope.roleArn }),
      ...(account !== undefined && { account }),
      ...(policies && { policies }),
    };
  }

  /** A run submitted for this resource or its declaration; not found is not "gone" (`undefined`). */
  private async findRun(
    resource: EmrServerlessJobRun,
    target: JobRunTarget,
    submission: string | undefined,
  ): Promise<AwsJobRun | undefined> {
    const created = Date.parse(resource.metadata.creationTimestamp ?? '') || this.now().getTime();
    const spec = resource.spec as { mode?: 'BATCH' | 'STREAMING' } | undefined;
    return (await this.port(resource, target.region)).findOwnedJobRun(target.applicationId, {
      name: runName(resource),
      ownerUid: resource.metadata.uid,
      ...(submission && { submission }),
      createdAfter: new Date(created - CREATED_AT_SLACK_MS),
      mode: spec?.mode ?? 'BATCH',
    });
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
