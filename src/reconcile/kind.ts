// What one kind of resource supplies to the reconcile skeleton (kind-reconciler.ts). The
// skeleton owns the step loop, the finalizer's actions, the write guard, write-ahead, the
// failure path and the status write; a kind owns what it observes, how it plans and its own
// actions. Adding a kind is the recipe in docs/development.md.
import type { Logger } from 'pino';
import type { Condition } from '../api/schema.js';
import type { KubeResource, RecordedEvent } from './ports.js';

/** An action of any kind. AddFinalizer and RemoveFinalizer are carried out by the skeleton. */
export interface KindAction {
  kind: string;
  /** Recorded once the action has succeeded. */
  events?: RecordedEvent[];
}

/** The status every kind writes: kstatus conditions for the generation they describe. */
export interface KindStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface KindResource<S extends KindStatus> extends KubeResource {
  status?: S;
}

/** One step's decision: a pure planner's answer. */
export interface KindPlan<A extends KindAction, S extends KindStatus> {
  actions: A[];
  status: S;
  /** Announced once the status is written (entering a waiting or stalled state, warnings). */
  events: RecordedEvent[];
  requeueAfterMs: number;
}

/**
 * Status fields a later step depends on and AWS cannot tell again after a crash. When a step's
 * plan changes them, the skeleton writes them to the API server before the step's first AWS
 * write (application/write-ahead.ts says which and why).
 */
export interface IntentRules<S> {
  /** The intents of a status (logged when written ahead). */
  of(status: S): object;
  /** Whether `planned` carries intents the API server does not hold yet. */
  differ(planned: S, persisted: S): boolean;
  /** The status to write after a step failed, from the intents held before it. */
  afterFailure(planned: S, before: S, refusedOutright: boolean): S;
}

/** How a reconcile ended, for the kind's memory and metrics. */
export type Ending<R, P> =
  | { outcome: 'done'; resource: R; plan: P }
  | { outcome: 'failed'; resource: R; status: unknown }
  | { outcome: 'released' };

/**
 * One kind, as the skeleton drives it. `C` is the kind's state for one reconcile: the AWS
 * scope, what it observed, what a step learnt for the next.
 */
export interface ReconcileKind<
  R extends KindResource<S>,
  S extends KindStatus,
  A extends KindAction,
  P extends KindPlan<A, S>,
  C,
> {
  /** Steps per reconcile: each plans and carries out its plan; the last one only plans. */
  readonly maxSteps: number;
  /** Sets up one reconcile (AWS scope, policies) before its first plan. */
  begin(resource: R, log: Logger): Promise<C>;
  /** Observes what the plan needs and plans one step (the planner itself is pure). */
  plan(resource: R, context: C, log: Logger): Promise<P>;
  /** Carries out one of the kind's own actions; a failure is thrown and ends the step. */
  act(action: A, resource: R, context: C): Promise<void>;
  /**
   * The resource the next step plans from (its status holding what this step learnt), given the
   * status the API server holds; undefined when the reconcile should stop here.
   */
  next(after: R, plan: P, context: C, persisted: S): R | undefined;
  /** Write-ahead intents; absent when the kind has none. */
  readonly intents?: IntentRules<S>;
  /** Told how the reconcile ended (after its status write): memory, metrics. */
  ended?(ending: Ending<R, P>, context: C | undefined): void;
  /** Fields every log line of the reconcile carries, besides the resource and its kind. */
  logContext?(resource: R): Record<string, unknown>;
  /** Fields to log with a status write, besides state and the Ready condition. */
  describe?(status: S): Record<string, unknown>;
}
