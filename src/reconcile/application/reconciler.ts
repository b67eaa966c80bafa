// The application kind, as the reconcile skeleton (../kind-reconciler.ts) drives it: what it
// observes (the application, read or, under list drift detection, a view the listing shows
// unmoved; the declared key; the acting account), the pure planner (planner.ts), its actions,
// and what a reconcile leaves for the next (views.ts) and for metrics.
import type { Logger } from 'pino';
import type { EmrServerlessApplication, Spec, Status } from '../../api/schema.js';
import { KMS_KEY_ARN_PATTERN } from '../../api/schema.js';
import type { AwsScope } from '../../aws/access.js';
import type { AwsApplication } from '../../aws/port.js';
import { actingAccount, bindingOf, boundAccountOf } from '../identity.js';
import { keyPolicyToRead } from '../keys.js';
import type { Ending, ReconcileKind } from '../kind.js';
import { KindReconciler, type KindReconcilerDeps } from '../kind-reconciler.js';
import { ClaimLocks, claimApplication } from '../ownership.js';
import type { NamespacePolicies } from '../policies.js';
import {
  type Action,
  applicationIdOf,
  type Observed,
  type Plan,
  type PlanOptions,
  plan,
  regionOf,
  unrecordedSearchOf,
} from './planner.js';
import { ApplicationViews, type Sighting } from './views.js';
import { intentsAfterFailure, intentsDiffer, intentsOf, withIntents } from './write-ahead.js';

export interface ApplicationReconcilerDeps extends KindReconcilerDeps<EmrServerlessApplication, Status> {
  /** Serialises ownership claims per application; one per process (default: this reconciler's own). */
  claims?: ClaimLocks;
  /** Told the managed key's health after each reconcile (metrics). */
  onKeyHealth?: (resourceKey: string, health: string | undefined) => void;
  /** Told the status each reconcile leaves (metrics: resources by Ready reason, Stalled). */
  onStatus?: (resourceKey: string, status: Status) => void;
  /** Told the fields of a correction another writer undid, each time a plan finds one (metrics). */
  onUndone?: (resourceKey: string, fields: readonly string[]) => void;
  /**
   * `--drift-detection=list`: resyncs plan from the last view of an application that the scope's
   * ListApplications shows unmoved (drift.ts). Absent: every reconcile reads with GetApplication.
   */
  listDrift?: { fullReadPeriodMs: number };
  /** Reconciles a resource soon (a listing showed its application moved). */
  requeue?: (resourceKey: string) => void;
}

/** What one reconcile of an application knows; a step's actions keep `view` current. */
interface ApplicationContext {
  scope: AwsScope;
  /** The plan options, with the namespace's region as the default region. */
  options: PlanOptions;
  policies: NamespacePolicies | undefined;
  /** The application the current step's plan saw, and how it was obtained. */
  observed: AwsApplication | undefined;
  sighting: Sighting | undefined;
  /** The application as the step's actions left it; undefined once an action made it stale. */
  view: AwsApplication | undefined;
  /** What CreateApplication answered in this step. */
  created: { applicationId: string; arn: string } | undefined;
}

/** Enough steps for add-finalizer+create, then an update that a read showed, then a restart. */
const MAX_STEPS = 4;

export class ApplicationReconciler extends KindReconciler<
  EmrServerlessApplication,
  Status,
  Action,
  Plan,
  ApplicationContext
> {
  constructor(deps: ApplicationReconcilerDeps) {
    super(new ApplicationKind(deps), deps);
  }
}

class ApplicationKind
  implements ReconcileKind<EmrServerlessApplication, Status, Action, Plan, ApplicationContext>
{
  readonly maxSteps = MAX_STEPS;
  readonly intents = {
    of: intentsOf,
    differ: intentsDiffer,
    afterFailure: (planned: Status, before: Status, refusedOutright: boolean) =>
      intentsAfterFailure(planned, intentsOf(before), refusedOutright),
  };
  private readonly now: () => Date;
  private readonly claims: ClaimLocks;
  private readonly views: ApplicationViews;

  constructor(private readonly deps: ApplicationReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.claims = deps.claims ?? new ClaimLocks();
    this.views = new ApplicationViews(deps, this.now);
  }

  logContext(resource: EmrServerlessApplication): Record<string, unknown> {
    return { applicationId: applicationIdOf(resource) };
  }

  async begin(resource: EmrServerlessApplication): Promise<ApplicationContext> {
    let options = this.deps.options;
    const scope = await this.deps.aws.scopeFor(resource.metadata.namespace, (namespaceRegion) =>
      regionOf(resource, namespaceRegion ?? options.defaultRegion),
    );
    // The namespace's region is the default of its resources.
    if (scope.region) options = { ...options, defaultRegion: scope.region };
    // Policies never hold up a deletion, so a deleting resource does not wait for them either.
    const policies = resource.metadata.deletionTimestamp
      ? undefined
      : await this.deps.policies?.policiesFor(resource.metadata.namespace);
    return {
      scope,
      options,
      policies,
      observed: undefined,
      sighting: undefined,
      view: undefined,
      created: undefined,
    };
  }

  async plan(resource: EmrServerlessApplication, context: ApplicationContext, log: Logger): Promise<Plan> {
    const once = await this.planOnce(
      resource,
      context.scope,
      context.options,
      context.view,
      context.policies,
      log,
    );
    context.observed = once.app;
    context.sighting = once.sighting;
    context.view = once.app;
    context.created = undefined;
    if (once.plan.undone) this.deps.onUndone?.(resourceKeyOf(resource), once.plan.undone);
    return once.plan;
  }

  async act(action: Action, _resource: EmrServerlessApplication, context: ApplicationContext): Promise<void> {
    const { port } = context.scope;
    const view = context.view;
    switch (action.kind) {
      case 'CreateApplication':
        context.created = await port.createApplication(action.input);
        context.view = undefined;
        return;
      case 'UpdateApplication': {
        const updated = await port.updateApplication(action.applicationId, action.changes);
        // UpdateApplication cannot change tags, and whether its answer carries them is undocumented.
        context.view = view ? { ...updated, tags: view.tags } : updated;
        return;
      }
      case 'TagApplication':
        await port.tagApplication(action.arn, action.tags);
        if (view) context.view = { ...view, tags: { ...view.tags, ...action.tags } };
        return;
      case 'UntagApplication':
        await port.untagApplication(action.arn, action.tagKeys);
        if (view) context.view = { ...view, tags: withoutKeys(view.tags, action.tagKeys) };
        return;
      case 'ClaimApplication':
        // The application as read after the claim: the next plan binds only if it names us.
        context.view = await claimApplication(port, this.claims, action);
        return;
      case 'StartApplication':
        await port.startApplication(action.applicationId);
        context.view = undefined;
        return;
      case 'StopApplication':
        await port.stopApplication(action.applicationId);
        context.view = undefined;
        return;
      case 'DeleteApplication':
        await port.deleteApplication(action.applicationId);
        context.view = undefined;
        return;
      case 'AddFinalizer':
      case 'RemoveFinalizer':
        return;
    }
  }

  /**
   * The next step sees what this one learned (the view the actions left, so it needs no second
   * GetApplication) and the intents it planned; the persisted conditions stay the base for
   * transition times.
   */
  next(after: EmrServerlessApplication, planned: Plan, context: ApplicationContext, persisted: Status) {
    return {
      ...after,
      status: withIntents(
        {
          ...persisted,
          applicationId: context.created?.applicationId ?? planned.status.applicationId,
          arn: context.created?.arn ?? planned.status.arn,
          origin: planned.status.origin,
        },
        intentsOf(planned.status),
      ),
    };
  }

  ended(ending: Ending<EmrServerlessApplication, Plan>, context: ApplicationContext | undefined): void {
    if (ending.outcome !== 'done') {
      // Whatever a failed step did or did not change, the next look reads the application.
      if (context?.observed) this.views.forget(context.scope, context.observed.applicationId);
      if (ending.outcome === 'failed' && ending.status) {
        this.deps.onStatus?.(resourceKeyOf(ending.resource), ending.status as Status);
      }
      return;
    }
    const { resource, plan: final } = ending;
    const resourceKey = resourceKeyOf(resource);
    if (context)
      this.views.remember(context.scope, resourceKey, resource, context.observed, context.sighting);
    this.deps.onKeyHealth?.(resourceKey, keyHealthLabel(final.status));
    this.deps.onStatus?.(resourceKey, final.status);
    this.deps.onPolicyRefusals?.(resourceKey, final.refusedBy ?? []);
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
    if (first.needs !== 'activeWork' || !app) return { plan: first, app, sighting };
    const second = plan({
      resource,
      observed: {
        ...observed.observed,
        activeWork: await scope.port.countActiveWork(app.applicationId),
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
    const search = unrecordedSearchOf(resource, this.deps.options.listingLagMs);
    let app: Observed['app'];
    let sighting: Sighting | undefined;
    if (carried) {
      app = carried;
      sighting = { source: 'carried' };
    } else if (id) {
      const view = forceRead ? undefined : await this.views.unmoved(resource, id, scope, log);
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
      app = (await findUnrecorded(search, scope)) ?? null;
      sighting = { source: 'read', at };
    }

    const keyArn = spec.diskEncryptionConfiguration?.encryptionKeyArn;
    const verify =
      this.deps.options.verifyKeys &&
      !resource.metadata.deletionTimestamp &&
      typeof keyArn === 'string' &&
      KMS_KEY_ARN_PATTERN.test(keyArn);
    const key = verify ? await keys.describe(keyArn) : undefined;
    const keyPolicy =
      this.deps.options.verifyKeyPolicies && keyPolicyToRead(keyArn!, key)
        ? await keys.policy(keyArn!)
        : undefined;
    const account = await actingAccount(scope, app, !!bindingOf(resource) && !!boundAccountOf(resource));
    return {
      observed: {
        app,
        key,
        ...(keyPolicy && { keyPolicy }),
        ...(account !== undefined ? { account } : {}),
        ...(policies && { policies }),
      },
      sighting,
    };
  }
}

/** The search of unrecordedSearchOf: from the scope's shared listing where it may answer. */
async function findUnrecorded(
  search: NonNullable<ReturnType<typeof unrecordedSearchOf>>,
  scope: AwsScope,
): Promise<AwsApplication | undefined> {
  const { port } = scope;
  if (search.listedAfter === undefined) return port.findOwnedApplication(search.name, search.ownerUid);
  let listing: Awaited<ReturnType<AwsScope['applications']['takenAfter']>>;
  try {
    listing = await scope.applications.takenAfter(search.listedAfter);
  } catch {
    // A failed listing never decides alone: the search lists for itself.
    return port.findOwnedApplication(search.name, search.ownerUid);
  }
  const candidates = [...listing.applications].filter(([, a]) => a.name === search.name).map(([id]) => id);
  return port.findOwnedApplication(search.name, search.ownerUid, candidates);
}

const resourceKeyOf = (r: EmrServerlessApplication) => `${r.metadata.namespace}/${r.metadata.name}`;

function withoutKeys(tags: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !keys.includes(k)));
}

function keyHealthLabel(status: Status): string | undefined {
  const key = status.diskEncryption?.managed ? status.diskEncryption.key : undefined;
  if (!key) return undefined;
  if (key.verified) return 'Enabled';
  return key.reason === 'AccessDenied' || key.reason === 'VerificationDisabled'
    ? 'Unverified'
    : (key.reason ?? 'Unverified');
}
