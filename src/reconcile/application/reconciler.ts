// One reconcile of one resource: observe, plan, execute, repeat while the plan acts, then write
// the status, only when it differs from what the API server holds. Intents a step depends on are
// written before the step (write-ahead.ts); no write starts once the write guard says no.
import type { Logger } from 'pino';
import type { EmrServerlessApplication, Spec, Status } from '../../api/schema.js';
import { KMS_KEY_ARN_PATTERN } from '../../api/schema.js';
import type { AwsScope } from '../../aws/access.js';
import type { ApplicationListing, ApplicationListings } from '../../aws/application-listing.js';
import { type AwsApplication, AwsError } from '../../aws/port.js';
import { jsonEqual } from '../compare.js';
import { EventBatch } from '../event-batch.js';
import { failureOf } from '../failures.js';
import { actingAccount, bindingOf, boundAccountOf } from '../identity.js';
import { ClaimLocks } from '../ownership.js';
import type { NamespacePolicies, PolicySource } from '../policies.js';
import {
  assertMayWrite,
  type EventRecorder,
  type ReconcileResult,
  type ResourceWriter,
  type WriteGuard,
} from '../ports.js';
import {
  LastSeen,
  movedReason,
  mustRead,
  type ReadReason,
  readIsConfirmed,
  type SeenApplication,
  waitForListing,
} from './drift.js';
import { execute } from './executor.js';
import {
  applicationIdOf,
  type Observed,
  type Plan,
  type PlanOptions,
  plan,
  planFailure,
  regionOf,
  unrecordedSearchOf,
} from './planner.js';
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
  /** The EmrServerlessPolicies governing a namespace (the policy cache); none are enforced without it. */
  policies?: PolicySource;
  /** Told which policies refuse the resource after each reconcile, none when it is allowed (metrics). */
  onPolicyRefusals?: (resourceKey: string, policies: readonly string[]) => void;
  /** Checked before every write (AWS or Kubernetes); false once the leader lease is lost. */
  mayWrite?: WriteGuard;
  /**
   * `--drift-detection=list`: resyncs plan from the last view of an application that the scope's
   * ListApplications shows unmoved (drift.ts). Absent: every reconcile reads with GetApplication.
   */
  listDrift?: { fullReadPeriodMs: number };
  /** Reconciles a resource soon (a listing showed its application moved). */
  requeue?: (resourceKey: string) => void;
}

/** How a plan's application was obtained, for what the process remembers of it (drift.ts). */
type Sighting =
  | { source: 'read'; at: number }
  | { source: 'carried' }
  | { source: 'reused'; seen: SeenApplication; listing: ApplicationListing };

/** Enough steps for add-finalizer+create, then an update that a read showed, then a restart. */
const MAX_STEPS = 4;

export class Reconciler {
  private readonly now: () => Date;
  private readonly claims: ClaimLocks;
  private readonly seen = new LastSeen<ApplicationListings>();
  /** Listings already compared with every view (each once). */
  private readonly scanned = new WeakSet<ApplicationListing>();
  /** Listing failures already logged (each once, not once per resource). */
  private readonly loggedFailures = new WeakSet<object>();

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
    // The object as last written by this reconcile: every status write is conditional on its
    // resourceVersion, so one planned from a stale cache cannot replace a newer status.
    let latest = original;
    let carried: AwsApplication | undefined;
    let planned: Plan | undefined;
    let scope: AwsScope | undefined;
    let sighting: Sighting | undefined;
    let app: AwsApplication | undefined;
    // What the API server holds, as far as this reconcile knows.
    let persisted = original.status ?? {};
    // Set while a step executes: the intents held before it, restored if it fails.
    let intentsBeforeStep: Intents | undefined;
    try {
      scope = await this.deps.aws.scopeFor(original.metadata.namespace, (namespaceRegion) =>
        regionOf(original, namespaceRegion ?? options.defaultRegion),
      );
      // The namespace's region is the default of its resources.
      if (scope.region) options = { ...options, defaultRegion: scope.region };
      // Policies never hold up a deletion, so a deleting resource does not wait for them either.
      const policies = original.metadata.deletionTimestamp
        ? undefined
        : await this.deps.policies?.policiesFor(original.metadata.namespace);
      const port = scope.port;
      for (let step = 0; step < MAX_STEPS; step++) {
        const once = await this.planOnce(resource, scope, options, carried, policies, log);
        planned = once.plan;
        sighting = once.sighting;
        app = once.app;
        events.add(planned.events);
        if (planned.actions.length === 0 || step === MAX_STEPS - 1) break;
        log.info({ actions: planned.actions.map((a) => a.kind) }, 'acting');
        intentsBeforeStep = intentsOf(resource.status);
        const toPersist = planned.status;
        // Just before the step's first AWS write (after any finalizer patch, which an earlier
        // status write would make stale): its intents go to the API server.
        const beforeAwsWrite = async (current: EmrServerlessApplication): Promise<string | undefined> => {
          if (!intentsDiffer(toPersist, persisted)) return undefined;
          const resourceVersion = await this.writeStatus(current, toPersist, log, persisted);
          persisted = toPersist;
          log.info({ intents: intentsOf(toPersist) }, 'intents written ahead');
          return resourceVersion;
        };
        // The application as this step saw it: actions that leave it valid (a finalizer, tags)
        // carry it to the next step, which then needs no second GetApplication.
        const done = await execute(
          planned.actions,
          resource,
          {
            port,
            writer,
            events,
            claims: this.claims,
            mayWrite: this.deps.mayWrite,
            beforeAwsWrite,
            written: (current) => {
              latest = current;
            },
          },
          once.app,
        );
        intentsBeforeStep = undefined;
        if (done.released) {
          if (app) this.seen.forget(scope.applications, app.applicationId);
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
      // Whatever a failed step did or did not change, the next look reads the application.
      if (scope && app) this.seen.forget(scope.applications, app.applicationId);
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
      await this.writeStatus(latest, failure.status, log, persisted);
      this.deps.onStatus?.(resourceKey, failure.status);
      if (failure.backoff) throw err;
      return { requeueAfterMs: failure.requeueAfterMs };
    }

    const final = planned!;
    this.remember(scope!, resourceKey, resource, app, sighting);
    events.flush(this.deps.events, resource);
    await this.writeStatus(latest, final.status, log, persisted);
    this.deps.onKeyHealth?.(resourceKey, keyHealthLabel(final.status));
    this.deps.onStatus?.(resourceKey, final.status);
    this.deps.onPolicyRefusals?.(resourceKey, final.refusedBy ?? []);
    return { requeueAfterMs: final.requeueAfterMs };
  }

  private async planOnce(
    resource: EmrServerlessApplication,
    scope: AwsScope,
    options: PlanOptions,
    carried: AwsApplication | undefined,
    policies: NamespacePolicies | undefined,
    log: Logger,
  ): Promise<{ plan: Plan; app: AwsApplication | undefined; sighting: Sighting | undefined }> {
    let observed = await this.observe(resource, scope, carried, policies, log);
    let first = plan({ resource, observed: observed.observed, options, now: this.now() });
    if (observed.sighting?.source === 'reused' && (first.actions.length > 0 || first.needs)) {
      // A view is never a reason to write (nor to count job runs): act on what AWS says now.
      log.debug({ reason: 'planActs' }, 'reading application');
      observed = await this.observe(resource, scope, carried, policies, log, true);
      first = plan({ resource, observed: observed.observed, options, now: this.now() });
    }
    const app = observed.observed.app ?? undefined;
    const { sighting } = observed;
    if (first.needs !== 'activeJobRuns' || !app) return { plan: first, app, sighting };
    const second = plan({
      resource,
      observed: {
        ...observed.observed,
        activeJobRuns: await scope.port.countActiveJobRuns(app.applicationId),
      },
      options,
      now: this.now(),
    });
    return { plan: second, app, sighting };
  }

  private async observe(
    resource: EmrServerlessApplication,
    scope: AwsScope,
    carried: AwsApplication | undefined,
    policies: NamespacePolicies | undefined,
    log: Logger,
    forceRead = false,
  ): Promise<{ observed: Observed; sighting: Sighting | undefined }> {
    const { port, keys } = scope;
    const spec = (resource.spec ?? {}) as Partial<Spec>;
    const id = applicationIdOf(resource);
    const search = unrecordedSearchOf(resource);
    let app: Observed['app'];
    let sighting: Sighting | undefined;
    if (carried) {
      app = carried;
      sighting = { source: 'carried' };
    } else if (id) {
      const view = forceRead ? undefined : await this.unmovedView(resource, id, scope, log);
      if (view) {
        app = view.seen.app;
        sighting = view;
      } else {
        const at = this.now().getTime();
        app = (await port.getApplication(id)) ?? null;
        sighting = { source: 'read', at };
      }
    } else if (search) {
      const at = this.now().getTime();
      app = (await port.findOwnedApplication(search.name, search.ownerUid)) ?? null;
      sighting = { source: 'read', at };
    }

    const keyArn = spec.diskEncryptionConfiguration?.encryptionKeyArn;
    const verify =
      this.deps.options.verifyKeys &&
      !resource.metadata.deletionTimestamp &&
      typeof keyArn === 'string' &&
      KMS_KEY_ARN_PATTERN.test(keyArn);
    const key = verify ? await keys.describe(keyArn) : undefined;
    const account = await actingAccount(scope, app, !!bindingOf(resource) && !!boundAccountOf(resource));
    return {
      observed: { app, key, ...(account !== undefined ? { account } : {}), ...(policies && { policies }) },
      sighting,
    };
  }

  /**
   * The last view of the application when the scope's listing shows it unmoved and nothing else
   * asks for a read (drift.ts); undefined when it must be read.
   */
  private async unmovedView(
    resource: EmrServerlessApplication,
    applicationId: string,
    scope: AwsScope,
    log: Logger,
  ): Promise<Extract<Sighting, { source: 'reused' }> | undefined> {
    const policy = this.deps.listDrift;
    if (!policy) return undefined;
    const seen = this.seen.get(scope.applications, applicationId);
    const now = this.now().getTime();
    const read = (reason: ReadReason) => {
      log.debug({ reason }, 'reading application');
      return undefined;
    };
    const resourceKey = `${resource.metadata.namespace}/${resource.metadata.name}`;
    const early = mustRead(
      seen,
      {
        key: resourceKey,
        generation: resource.metadata.generation,
        deleting: Boolean(resource.metadata.deletionTimestamp),
      },
      now,
      { fullReadPeriodMs: policy.fullReadPeriodMs, resyncPeriodMs: this.deps.options.resyncPeriodMs },
    );
    if (early || !seen) return read(early ?? 'firstLook');
    let listing = scope.applications.ready(seen.observedAt);
    try {
      if (!listing) {
        if (!waitForListing(seen, now, this.deps.options.resyncPeriodMs)) return read('polling');
        listing = await scope.applications.takenAfter(seen.observedAt);
      }
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      if (!this.loggedFailures.has(err)) {
        this.loggedFailures.add(err);
        log.warn(
          { err: failureOf(err) },
          'ListApplications failed; reading applications one by one meanwhile',
        );
      }
      return read('notListed');
    }
    this.requeueMoved(scope.applications, listing, resourceKey);
    const moved = movedReason(seen, listing.applications.get(applicationId));
    if (moved) return read(moved);
    return { source: 'reused', seen, listing };
  }

  /** Once per listing: resources whose application it shows moved are reconciled now, not at their resync. */
  private requeueMoved(listings: ApplicationListings, listing: ApplicationListing, self: string): void {
    if (this.scanned.has(listing)) return;
    this.scanned.add(listing);
    const sweepBefore = this.now().getTime() - 2 * this.deps.listDrift!.fullReadPeriodMs;
    for (const key of this.seen.movedIn(listings, listing, sweepBefore)) {
      if (key !== self) this.deps.requeue?.(key);
    }
  }

  /** What this reconcile learnt of the application, for the next one (list drift detection only). */
  private remember(
    scope: AwsScope,
    resourceKey: string,
    resource: EmrServerlessApplication,
    app: AwsApplication | undefined,
    sighting: Sighting | undefined,
  ): void {
    if (!this.deps.listDrift || !sighting) return;
    const listings = scope.applications;
    if (!app) {
      const id = applicationIdOf(resource);
      if (id) this.seen.forget(listings, id);
      return;
    }
    const generation = resource.metadata.generation;
    const previous = this.seen.get(listings, app.applicationId);
    const now = this.now().getTime();
    switch (sighting.source) {
      case 'reused':
        this.seen.set(listings, { ...sighting.seen, observedAt: sighting.listing.takenAt });
        return;
      case 'read':
        this.seen.set(listings, {
          resourceKey,
          generation,
          app,
          readAt: sighting.at,
          observedAt: sighting.at,
          confirmed: readIsConfirmed(app, sighting.at, previous),
        });
        return;
      case 'carried':
        // The operator's own writes left it so: the next look reads it to confirm.
        this.seen.set(listings, {
          resourceKey,
          generation,
          app,
          readAt: now,
          observedAt: now,
          confirmed: false,
        });
        return;
    }
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
