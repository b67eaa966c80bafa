// The operator's Prometheus metrics, under controller-runtime's names so the usual dashboards and
// alerts work unchanged, plus the AWS call metrics, the managed-key health gauge and the
// resources refused by each EmrServerlessPolicy.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueMetricsHooks } from './queue.js';

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

/** What AwsClients reports after every AWS call (a structural subset of src/aws's AwsCallEvent). */
export interface AwsCall {
  /** The account the call acted in: the namespace role's, or `operator` for the operator's own identity. */
  account: string;
  region: string;
  /** The namespace the call was made for, or `_shared` (a scope's listing, shared by all; STS). */
  namespace: string;
  service: string;
  operation: string;
  /** success, or the kind of failure (throttled, transient, accessDenied, ...). */
  outcome: string;
  seconds: number;
  /** Requests sent: 1 plus retries. */
  attempts: number;
}

/** Structurally src/aws's AwsCallObserver: OperatorMetrics can be passed to AwsClients as `observer`. */
export interface AwsCallObserver {
  onCall(call: AwsCall): void;
}

export const KEY_HEALTH_VALUES = [
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'NotFound',
  'Unverified',
] as const;
export type KeyHealthValue = (typeof KEY_HEALTH_VALUES)[number];

export interface OperatorMetricsOptions {
  /** Collect Node process metrics (default true; tests creating many registries may turn it off). */
  processMetrics?: boolean;
}

export class OperatorMetrics implements AwsCallObserver {
  readonly registry = new Registry();

  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly queueDepth: Gauge<'name'>;
  private readonly queueAdds: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly queueRetries: Counter<'name'>;
  private readonly leaderStatus: Gauge<'name'>;
  private readonly awsCalls: Counter<'region' | 'service' | 'operation' | 'outcome'>;
  private readonly awsDuration: Histogram<'region' | 'service' | 'operation' | 'outcome'>;
  private readonly awsRetries: Counter<'region' | 'service' | 'operation' | 'outcome'>;
  /** One label only: a series per namespace that made calls, whatever its operations and outcomes. */
  private readonly namespaceAwsCalls: Counter<'namespace'>;
  private readonly managedKeys: Gauge<'health'>;
  /** Health per resource key, so the gauge counts resources, not reports. */
  private readonly keyHealth = new Map<string, string>();
  private readonly resources: Gauge<ResourceLabel>;
  /** Labels per resource key, so the gauge counts resources, not reconciles. */
  private readonly resourceLabels = new Map<string, ResourceLabels>();
  private readonly policyViolations: Gauge<'policy' | 'kind'>;
  private readonly undoneCorrections: Counter<'kind' | 'field'>;
  /** The policies refusing each resource, by `kind namespace/name`, so the gauge counts resources. */
  private readonly refusals = new Map<string, readonly string[]>();

  constructor(options: OperatorMetricsOptions = {}) {
    const registers = [this.registry];
    // Buckets as controller-runtime / client-go use them.
    const workBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
        1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
      ],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames: ['name'],
      registers,
    });
    this.queueAdds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: workBuckets,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: workBuckets,
      registers,
    });
    this.queueRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.leaderStatus = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      labelNames: ['name'],
      registers,
    });
    this.awsCalls = new Counter({
      name: 'emr_serverless_operator_aws_calls_total',
      help: 'AWS API calls by account, region, service, operation and outcome',
      labelNames: ['account', 'region', 'service', 'operation', 'outcome'],
      registers,
    });
    this.namespaceAwsCalls = new Counter({
      name: 'emr_serverless_operator_namespace_aws_calls_total',
      help: 'AWS API calls by the namespace they were made for (_shared: listings shared by all, STS)',
      labelNames: ['namespace'],
      registers,
    });
    this.awsDuration = new Histogram({
      name: 'emr_serverless_operator_aws_call_duration_seconds',
      help: 'Duration of AWS API calls, retries included',
      labelNames: ['account', 'region', 'service', 'operation', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.awsRetries = new Counter({
      name: 'emr_serverless_operator_aws_retries_total',
      help: 'Retries of AWS API calls (attempts beyond the first)',
      labelNames: ['account', 'region', 'service', 'operation', 'outcome'],
      registers,
    });
    this.managedKeys = new Gauge({
      name: 'emr_serverless_operator_managed_keys',
      help: 'Resources declaring a customer-managed key, by the health of that key',
      labelNames: ['health'],
      registers,
    });
    for (const health of KEY_HEALTH_VALUES) this.managedKeys.set({ health }, 0);
    this.resources = new Gauge({
      name: 'emr_serverless_operator_resources',
      help: 'Resources this replica reconciles, by their Ready condition (status and reason) and whether they are Stalled',
      labelNames: ['ready', 'reason', 'stalled'],
      registers,
    });
    this.policyViolations = new Gauge({
      name: 'emr_serverless_operator_policy_violations',
      help: 'Resources refused by an EmrServerlessPolicy (Stalled PolicyViolation, nothing sent to AWS), by policy and kind',
      labelNames: ['policy', 'kind'],
      registers,
    });
    this.undoneCorrections = new Counter({
      name: 'emr_serverless_operator_undone_corrections_total',
      help: 'Corrections of an application that something else undid (AWS differed again after it had held the update), by kind and field',
      labelNames: ['kind', 'field'],
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  reconciled(controller: string, outcome: ReconcileOutcome, seconds: number): void {
    this.reconcileTotal.inc({ controller, result: outcome });
    if (outcome === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  /** Initialises the reconcile counters at zero, as controller-runtime does, so rates exist from the start. */
  registerController(controller: string): void {
    for (const result of ['success', 'error', 'requeue', 'requeue_after'] as const) {
      this.reconcileTotal.inc({ controller, result }, 0);
    }
    this.reconcileErrors.inc({ controller }, 0);
  }

  queueHooks(name: string): QueueMetricsHooks {
    this.queueDepth.set({ name }, 0);
    this.queueAdds.inc({ name }, 0);
    this.queueRetries.inc({ name }, 0);
    return {
      depth: (depth) => this.queueDepth.set({ name }, depth),
      add: () => this.queueAdds.inc({ name }),
      queueDuration: (seconds) => this.queueDuration.observe({ name }, seconds),
      workDuration: (seconds) => this.workDuration.observe({ name }, seconds),
      retry: () => this.queueRetries.inc({ name }),
    };
  }

  setLeader(name: string, leading: boolean): void {
    this.leaderStatus.set({ name }, leading ? 1 : 0);
  }

  /** AwsCallObserver: pass this object to AwsClients. */
  onCall(call: AwsCall): void {
    const labels = {
      account: call.account,
      region: call.region,
      service: call.service,
      operation: call.operation,
      outcome: call.outcome,
    };
    this.awsCalls.inc(labels);
    this.namespaceAwsCalls.inc({ namespace: call.namespace });
    this.awsDuration.observe(labels, call.seconds);
    if (call.attempts > 1) this.awsRetries.inc(labels, call.attempts - 1);
  }

  /**
   * Records the health of a resource's managed key; `undefined` when it declares none (or is gone).
   * Reasons such as `KeyDisabled` count as `Disabled`; any other value is kept as given.
   */
  setKeyHealth(resourceKey: string, health: KeyHealthValue | string | undefined): void {
    const value = health === undefined ? undefined : normaliseKeyHealth(health);
    const previous = this.keyHealth.get(resourceKey);
    if (previous === value) return;
    if (previous !== undefined) this.managedKeys.dec({ health: previous });
    if (value === undefined) {
      this.keyHealth.delete(resourceKey);
    } else {
      this.keyHealth.set(resourceKey, value);
      this.managedKeys.inc({ health: value });
    }
  }

  /** Records the conditions a resource's last reconcile left; `undefined` when it is gone. */
  setResourceStatus(resourceKey: string, status: ResourceStatus | undefined): void {
    const labels = status === undefined ? undefined : resourceLabelsOf(status);
    const previous = this.resourceLabels.get(resourceKey);
    if (previous && labels && sameLabels(previous, labels)) return;
    if (previous) this.resources.dec(previous);
    if (labels) {
      this.resourceLabels.set(resourceKey, labels);
      this.resources.inc(labels);
    } else {
      this.resourceLabels.delete(resourceKey);
    }
  }

  /**
   * Records the policies refusing a resource of `kind` (EmrServerlessApplication or
   * EmrServerlessJobRun) after its reconcile; none when it is allowed (or gone). A policy that no
   * longer refuses anything stays at 0.
   */
  setPolicyViolations(kind: string, resourceKey: string, policies: readonly string[]): void {
    const key = `${kind} ${resourceKey}`;
    const previous = this.refusals.get(key) ?? [];
    if (sameList(previous, policies)) return;
    for (const policy of previous) this.policyViolations.dec({ policy, kind });
    for (const policy of policies) this.policyViolations.inc({ policy, kind });
    if (policies.length > 0) this.refusals.set(key, [...policies]);
    else this.refusals.delete(key);
  }

  /**
   * Counts a correction of `kind` found undone by another writer, once per field it set. The
   * labels stay few: the kinds and the application's field names.
   */
  correctionUndone(kind: string, fields: readonly string[]): void {
    for (const field of fields) this.undoneCorrections.inc({ kind, field });
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

type ResourceLabel = 'ready' | 'reason' | 'stalled';
type ResourceLabels = Record<ResourceLabel, string>;

/** The part of a resource's status the resources gauge reads. */
export interface ResourceStatus {
  conditions?: Array<{ type: string; status: string; reason?: string }>;
}

function resourceLabelsOf(status: ResourceStatus): ResourceLabels {
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const stalled = status.conditions?.find((c) => c.type === 'Stalled');
  return {
    ready: ready?.status ?? 'Unknown',
    reason: ready?.reason ?? '',
    stalled: stalled?.status === 'True' ? 'true' : 'false',
  };
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

const sameLabels = (a: ResourceLabels, b: ResourceLabels) =>
  a.ready === b.ready && a.reason === b.reason && a.stalled === b.stalled;

/** `KeyDisabled` -> `Disabled`, `Enabled` -> `Enabled`, unknown reasons unchanged. */
export function normaliseKeyHealth(health: string): string {
  const stripped = health.startsWith('Key') ? health.slice(3) : health;
  return (KEY_HEALTH_VALUES as readonly string[]).includes(stripped) ? stripped : health;
}
