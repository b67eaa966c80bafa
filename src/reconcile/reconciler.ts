// One reconcile of one resource: observe, plan, execute, repeat while the plan acts, then write
// the status, only when it differs from what the API server holds. Intents a step depends on are
// written before the step (write-ahead.ts); no write starts once the write guard says no.
import type { Logger } from 'pino';
import type { EmrServerlessApplication, Spec, Status } from '../api/schema.js';
import { KMS_KEY_ARN_PATTERN } from '../api/schema.js';
import type { AwsScope } from '../aws/access.js';
import { type AwsApplication, AwsError } from '../aws/port.js';
import { jsonEqual } from './compare.js';
import { EventBatch } from './event-batch.js';
import { execute } from './executor.js';
import { failureOf } from './failures.js';
import { actingAccount, bindingOf, boundAccountOf } from './identity.js';
import { ClaimLocks } from './ownership.js';
import {
  applicationIdOf,
  mayOwnUnrecordedApplication,
  type Observed,
  type Plan,
  type PlanOptions,
  plan,
  planFailure,
  regionOf,
} from './planner.js';
import {
  assertMayWrite,
  type EventRecorder,
  type ReconcileResult,
  type ResourceWriter,
  type WriteGuard,
} from './ports.js';
import { type Intents, intentsAfterFailure, intentsDiffer, intentsOf, withIntents } from './write-ahead.js';

export interface ReconcilerDeps {
  /** AWS as the resource's namespace reaches it (its role, or the operator's identity): AwsAccess. */
  aws: {
    scopeFor(namespace: string, region: (namespaceRegion: string | undefined) => string): Promise<AwsScope>;
  };
  writer: ResourceWriter;
  events: EventRecorder;
  logger: Logger;
  options: PlanOptions;
  now?: () => Date;
  /** Serialises ownership claims per application; one per process (default: this reconciler's own). */
  claims?: ClaimLocks;
  /** Told the managed key's health after each reconcile (metrics). */
  onKeyHealth?: (resourceKey: string, health: string | undefined) => void;
  /** Told the status each reconcile leaves (metrics: resources by Ready reason, Stalled). */
  onStatus?: (resourceKey: string, status: Status) => void;
  /** Checked before every write (AWS or Kubernetes); false once the leader lease is lost. */
  mayWrite?: WriteGuard;
}

/** Enough steps for add-finalizer+create, then an update that a read showed, then a restart. */
const MAX_STEPS = 4;

export class Reconciler {
  private readonly now: () => Date;
  private readonly claims: ClaimLocks;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.claims = deps.claims ?? new ClaimLocks();
  }

  async reconcile(original: EmrServerlessApplication): Promise<ReconcileResult> {
    const { writer } = this.deps;
    let options = this.deps.options;
    const resourceKey = `${original.metadata.namespace}/${original.metadata.name}`;
    const log = this.deps.logger.child({ resource: resourceKey, applicationId: applicationIdOf(original) });
    const events = new EventBatch();

    let resource = original;
    let carried: AwsApplication | undefined;
    let planned: Plan | undefined;
    // What the API server holds, as far as this reconcile knows.
    let persisted = original.status ?? {};
    // Set while a step executes: the intents held before it, restored if it fails.
    let intentsBeforeStep: Intents | undefined;
    try {
      const scope = await this.deps.aws.scopeFor(original.metadata.namespace, (namespaceRegion) =>
        regionOf(original, namespaceRegion ?? options.defaultRegion),
      );
      // The namespace's region is the default of its resources.
      if (scope.region) options = { ...options, defaultRegion: scope.region };
      const port = scope.port;
      for (let step = 0; step < MAX_STEPS; step++) {
        const once = await this.planOnce(resource, scope, options, carried);
        planned = once.plan;
        events.add(planned.events);
        if (planned.actions.length === 0 || step === MAX_STEPS - 1) break;
        log.info({ actions: planned.actions.map((a) => a.kind) }, 'acting');
        intentsBeforeStep = intentsOf(resource.status);
        const toPersist = planned.status;
        // Just before the step's first AWS write (after any finalizer patch, which an earlier
        // status write would make stale): its intents go to the API server.
        const beforeAwsWrite = async (): Promise<string | undefined> => {
          if (!intentsDiffer(toPersist, persisted)) return undefined;
          const resourceVersion = await this.writeStatus(resource, toPersist, log, persisted);
          persisted = toPersist;
          log.info({ intents: intentsOf(toPersist) }, 'intents written ahead');
          return resourceVersion;
        };
        // The application as this step saw it: actions that leave it valid (a finalizer, tags)
        // carry it to the next step, which then needs no second GetApplication.
        const done = await execute(
          planned.actions,
          resource,
          { port, writer, events, claims: this.claims, mayWrite: this.deps.mayWrite, beforeAwsWrite },
          once.app,
        );
        intentsBeforeStep = undefined;
        if (done.released) {
          events.flush(this.deps.events, done.resource);
          log.info('finalizer removed');
          return {};
        }
        carried = done.app;
        // The next step sees what this one learned and the intents it planned; the persisted
        // conditions stay the base for transition times.
        resource = {
          ...done.resource,
          status: withIntents(
            {
              ...persisted,
              applicationId: done.created?.applicationId ?? planned.status.applicationId,
              arn: done.created?.arn ?? planned.status.arn,
              origin: planned.status.origin,
            },
            intentsOf(planned.status),
          ),
        };
      }
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      const base =
        planned && intentsBeforeStep
          ? intentsAfterFailure(planned.status, intentsBeforeStep, err.kind !== 'transient')
          : planned?.status;
      const failed = failureOf(err);
      log.warn({ err: failed }, 'AWS call failed');
      const failure = planFailure({ resource, options, now: this.now() }, base, failed);
      events.add(failure.events);
      events.flush(this.deps.events, resource);
      await this.writeStatus(original, failure.status, log, persisted);
      this.deps.onStatus?.(resourceKey, failure.status);
      if (failure.backoff) throw err;
      return { requeueAfterMs: failure.requeueAfterMs };
    }

    const final = planned!;
    events.flush(this.deps.events, resource);
    await this.writeStatus(original, final.status, log, persisted);
    this.deps.onKeyHealth?.(resourceKey, keyHealthLabel(final.status));
    this.deps.onStatus?.(resourceKey, final.status);
    return { requeueAfterMs: final.requeueAfterMs };
  }

  private async planOnce(
    resource: EmrServerlessApplication,
    scope: AwsScope,
    options: PlanOptions,
    carried?: AwsApplication,
  ): Promise<{ plan: Plan; app: AwsApplication | undefined }> {
    const { port } = scope;
    const observed = await this.observe(resource, scope, carried);
    const app = observed.app ?? undefined;
    const input = { resource, observed, options, now: this.now() };
    const first = plan(input);
    if (first.needs !== 'activeJobRuns' || !observed.app) return { plan: first, app };
    const second = plan({
      ...input,
      observed: { ...observed, activeJobRuns: await port.countActiveJobRuns(observed.app.applicationId) },
    });
    return { plan: second, app };
  }

  private async observe(
    resource: EmrServerlessApplication,
    scope: AwsScope,
    carried?: AwsApplication,
  ): Promise<Observed> {
    const { port, keys } = scope;
    const spec = (resource.spec ?? {}) as Partial<Spec>;
    const id = applicationIdOf(resource);
    let app: Observed['app'];
    if (carried) app = carried;
    else if (id) app = (await port.getApplication(id)) ?? null;
    else if (mayOwnUnrecordedApplication(resource))
      app = (await port.findOwnedApplication(spec.name!, resource.metadata.uid)) ?? null;

    const keyArn = spec.diskEncryptionConfiguration?.encryptionKeyArn;
    const verify =
      this.deps.options.verifyKeys &&
      !resource.metadata.deletionTimestamp &&
      typeof keyArn === 'string' &&
      KMS_KEY_ARN_PATTERN.test(keyArn);
    const key = verify ? await keys.describe(keyArn) : undefined;
    const account = await actingAccount(scope, app, !!bindingOf(resource) && !!boundAccountOf(resource));
    return { app, key, ...(account !== undefined ? { account } : {}) };
  }

  private async writeStatus(
    resource: EmrServerlessApplication,
    status: Status,
    log: Logger,
    persisted: Status,
  ): Promise<string | undefined> {
    if (jsonEqual(status, persisted)) return undefined;
    assertMayWrite(this.deps.mayWrite, 'a status update');
    const resourceVersion = await this.deps.writer.applyStatus(resource, status);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    log.info({ state: status.state, ready: ready?.status, reason: ready?.reason }, 'status written');
    return resourceVersion || undefined;
  }
}

function keyHealthLabel(status: Status): string | undefined {
  const key = status.diskEncryption?.managed ? status.diskEncryption.key : undefined;
  if (!key) return undefined;
  if (key.verified) return 'Enabled';
  return key.reason === 'AccessDenied' || key.reason === 'VerificationDisabled'
    ? 'Unverified'
    : (key.reason ?? 'Unverified');
}
