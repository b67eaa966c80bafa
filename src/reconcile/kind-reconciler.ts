// One reconcile of one resource, of any kind: plan, carry out the plan, plan again while it
// acts, then write the status, only when it differs from what the API server holds.
//
// - Every Kubernetes write is conditional on the resourceVersion this reconcile last wrote or
//   read, so a plan made from a stale cache never replaces a newer status (a 409 re-reads and
//   re-plans).
// - Intents a step depends on are written before its first AWS write (kind.ts, IntentRules).
// - No write starts once the write guard says no (the leader lease is lost).
// - An AWS failure becomes status (failures.ts); events announcing a state are said only after
//   the status recording it is written.
import type { Logger } from 'pino';
import type { AwsScope } from '../aws/access.js';
import { AwsError } from '../aws/port.js';
import { jsonEqual } from './compare.js';
import { EventBatch } from './event-batch.js';
import { failureOf, planFailure } from './failures.js';
import type { KindAction, KindPlan, KindResource, KindStatus, ReconcileKind } from './kind.js';
import type { PlanOptions } from './options.js';
import type { PolicySource } from './policies.js';
import {
  assertMayWrite,
  type EventRecorder,
  type ReconcileResult,
  type ResourceWriter,
  type WriteGuard,
} from './ports.js';

/** What every kind's reconciler is given; a kind's own dependencies extend it. */
export interface KindReconcilerDeps<R extends KindResource<S>, S extends KindStatus> {
  /** AWS as the resource's namespace reaches it (its role, or the operator's identity): AwsAccess. */
  aws: {
    scopeFor(namespace: string, region: (namespaceRegion: string | undefined) => string): Promise<AwsScope>;
  };
  writer: ResourceWriter<R, S>;
  events: EventRecorder;
  logger: Logger;
  options: PlanOptions;
  now?: () => Date;
  /** Checked before every write (AWS or Kubernetes); false once the leader lease is lost. */
  mayWrite?: WriteGuard;
  /** The EmrServerlessPolicies governing a namespace (the policy cache); none are enforced without it. */
  policies?: PolicySource;
  /** Told which policies refuse the resource after each reconcile, none when it is allowed (metrics). */
  onPolicyRefusals?: (resourceKey: string, policies: readonly string[]) => void;
}

export class KindReconciler<
  R extends KindResource<S>,
  S extends KindStatus,
  A extends KindAction,
  P extends KindPlan<A, S>,
  C,
> {
  protected readonly now: () => Date;

  constructor(
    private readonly kind: ReconcileKind<R, S, A, P, C>,
    private readonly deps: KindReconcilerDeps<R, S>,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(original: R): Promise<ReconcileResult> {
    const { kind } = this;
    const { namespace, name } = original.metadata;
    const log = this.deps.logger.child({
      resource: `${namespace}/${name}`,
      kind: original.kind,
      ...kind.logContext?.(original),
    });
    const events = new EventBatch();
    // What the API server holds, as far as this reconcile knows, and the object as last written
    // (every later write is conditional on its resourceVersion).
    const held = { object: original, status: (original.status ?? {}) as S };
    let resource = original;
    let context: C | undefined;
    let planned: P | undefined;
    // Set while a step runs: the status before it, whose intents a failure restores.
    let beforeStep: S | undefined;
    try {
      context = await kind.begin(original, log);
      for (let step = 0; step < kind.maxSteps; step++) {
        planned = await kind.plan(resource, context, log);
        events.announce(planned.events);
        if (planned.actions.length === 0 || step === kind.maxSteps - 1) break;
        log.info({ actions: planned.actions.map((a) => a.kind) }, 'acting');
        beforeStep = (resource.status ?? {}) as S;
        const released = await this.carryOut(planned, context, held, events, log);
        beforeStep = undefined;
        if (released) {
          events.flush(this.deps.events, held.object);
          log.info('finalizer removed');
          kind.ended?.({ outcome: 'released' }, context);
          return {};
        }
        const next = kind.next(held.object, planned, context, held.status);
        if (!next) break;
        resource = next;
      }
    } catch (err) {
      events.flushActions(this.deps.events, held.object);
      if (!(err instanceof AwsError)) {
        kind.ended?.({ outcome: 'failed', resource, status: undefined }, context);
        throw err;
      }
      const base =
        planned && beforeStep && kind.intents
          ? kind.intents.afterFailure(planned.status, beforeStep, err.kind !== 'transient')
          : planned?.status;
      const failed = failureOf(err);
      log.warn({ err: failed }, 'AWS call failed');
      const failure = planFailure({ resource, options: this.deps.options, now: this.now() }, base, failed);
      events.announce(failure.events);
      await this.writeStatus(held, failure.status, log);
      events.flush(this.deps.events, held.object);
      kind.ended?.({ outcome: 'failed', resource, status: failure.status }, context);
      if (failure.backoff) throw err;
      return { requeueAfterMs: failure.requeueAfterMs, holdOff: true };
    }

    const final = planned!;
    try {
      await this.writeStatus(held, final.status, log);
    } finally {
      events.flushActions(this.deps.events, held.object);
    }
    events.flush(this.deps.events, held.object);
    kind.ended?.({ outcome: 'done', resource, plan: final }, context);
    return { requeueAfterMs: final.requeueAfterMs };
  }

  /** Carries out one plan's actions in order; answers whether the finalizer was released. */
  private async carryOut(
    planned: P,
    context: C,
    held: { object: R; status: S },
    events: EventBatch,
    log: Logger,
  ): Promise<boolean> {
    const { writer } = this.deps;
    for (const action of planned.actions) {
      // Checked before each write: once the lease is lost, the rest of the plan is not sent.
      assertMayWrite(this.deps.mayWrite, action.kind);
      switch (action.kind) {
        case 'AddFinalizer':
          held.object = await writer.addFinalizer(held.object);
          break;
        case 'RemoveFinalizer':
          await writer.removeFinalizer(held.object);
          events.acted(action.events ?? []);
          return true;
        default:
          await this.writeAhead(planned.status, held, log);
          await this.kind.act(action, held.object, context);
      }
      events.acted(action.events ?? []);
    }
    return false;
  }

  /** Writes the plan's intents before an AWS write, when the API server does not hold them yet. */
  private async writeAhead(status: S, held: { object: R; status: S }, log: Logger): Promise<void> {
    const { intents } = this.kind;
    if (!intents?.differ(status, held.status)) return;
    await this.writeStatus(held, status, log);
    log.info({ intents: intents.of(status) }, 'intents written ahead');
  }

  /** Writes `status` unless the API server holds it already, on the last written version. */
  private async writeStatus(held: { object: R; status: S }, status: S, log: Logger): Promise<void> {
    if (jsonEqual(status, held.status)) return;
    assertMayWrite(this.deps.mayWrite, 'a status update');
    const resourceVersion = await this.deps.writer.applyStatus(held.object, status);
    held.status = status;
    if (resourceVersion) {
      held.object = { ...held.object, metadata: { ...held.object.metadata, resourceVersion } };
    }
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    log.info(
      {
        state: (status as { state?: unknown }).state,
        ...this.kind.describe?.(status),
        ready: ready?.status,
        reason: ready?.reason,
      },
      'status written',
    );
  }
}
