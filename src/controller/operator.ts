// The operator assembled: the manager running one controller per kind (applications, job runs)
// over the AWS port, with key verification, namespace policies, status writes and events. `run`
// and the in-process integration tests build it here, so what is tested is what runs.

import type { Logger } from 'pino';
import { APPLICATION_KIND, JOB_RUN_KIND } from '../api/constants.js';
import { AwsAccess } from '../aws/access.js';
import type { AwsClients } from '../aws/index.js';
import type { KubeClient } from '../kube/client.js';
import { ApplicationReconciler } from '../reconcile/application/reconciler.js';
import { JobRunReconciler } from '../reconcile/jobrun/reconciler.js';
import { ClaimLocks, NO_ADOPTION, type OwnershipOptions } from '../reconcile/ownership.js';
import { KubeEventRecorder } from './events.js';
import { KubeJobRunWriter } from './jobrun-writer.js';
import { applicationController, jobRunController } from './kinds.js';
import { type LeaderElectionSettings, Manager } from './manager.js';
import type { OperatorMetrics } from './metrics.js';
import { KubeNamespacePolicies } from './namespace-policies.js';
import { KubeNamespaceRoles } from './namespace-roles.js';
import { KubeResourceWriter } from './resource-writer.js';

export interface OperatorOptions {
  kube: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  aws: AwsClients;
  /** `run --require-namespace-role`: refuse namespaces without a role annotation (default false). */
  requireNamespaceRole?: boolean;
  /** `run --require-namespace-policy`: refuse namespaces no EmrServerlessPolicy selects (default false). */
  requireNamespacePolicy?: boolean;
  /** For resources that name no region. */
  region: string;
  verifyKeys: boolean;
  /** Read and judge each verified key's key policy (default true). */
  verifyKeyPolicies?: boolean;
  resyncPeriodMs: number;
  /** Cluster identity and where adoption is allowed (default: no cluster tag, adoption nowhere). */
  ownership?: OwnershipOptions;
  /** How long a DescribeKey answer is reused (default 3 minutes; negative answers at most 30 s). */
  keyCacheTtlMs?: number;
  /** `run --listing-lag`: how long a new application or job run may be missing from its listing. */
  listingLagMs?: number;
  /** Watched namespaces; all when absent or empty. */
  namespaces?: readonly string[];
  /** Reconcile only resources whose labels match (one shard); all when absent. */
  labelSelector?: string;
  concurrency?: number;
  metricsAddr?: string;
  healthAddr?: string;
  leaderElection?: LeaderElectionSettings;
  /** Events' reportingInstance (default: the pod or host name). */
  reportingInstance?: string;
  /**
   * `list` (default): resyncs page through ListApplications and read only what moved, plus a
   * full read every `fullReadEvery` resync periods; `get`: one GetApplication per resource per resync.
   */
  driftDetection?: DriftDetection;
  /** Resync periods between full reads of an application in `list` mode (default 6). */
  fullReadEvery?: number;
}

export type DriftDetection = 'list' | 'get';
export const DEFAULT_FULL_READ_EVERY = 6;
/**
 * Parallel reconciles of the `run` command. A reconcile spends most of its time on its Kubernetes
 * writes (finalizer, status), not on AWS: a create took about 200 ms for its two AWS calls on a
 * busy API server, so a worker sent about 10 calls/s and 4 of them left up to a fifth of an
 * --aws-rps of 50 unused. Ten keep the rate limit, not the workers, the bound up to about 80/s;
 * at the default 20 the extra workers wait for tokens (docs/install.md, shards).
 */
export const DEFAULT_CONCURRENCY = 10;

export interface Operator {
  manager: Manager;
  /** Flushed on exit so aggregated event counts are not lost. */
  events: KubeEventRecorder;
}

export function createOperator(o: OperatorOptions): Operator {
  const keyCacheTtlMs = o.keyCacheTtlMs ?? 3 * 60_000;
  const namespaceRoles = new KubeNamespaceRoles(o.kube, o.logger);
  const namespacePolicies = new KubeNamespacePolicies(o.kube, o.logger, namespaceRoles);
  const access = new AwsAccess({
    clients: o.aws,
    namespaces: namespaceRoles,
    requireNamespaceRole: o.requireNamespaceRole ?? false,
    keyVerifier: { ttlMs: keyCacheTtlMs, negativeTtlMs: Math.min(keyCacheTtlMs, 30_000) },
    // Listed twice a resync period in a busy scope: a change shows within half a period.
    listing: { refreshAfterMs: o.resyncPeriodMs / 2, maxAgeMs: o.resyncPeriodMs },
  });
  const listDrift =
    (o.driftDetection ?? 'list') === 'list'
      ? { fullReadPeriodMs: (o.fullReadEvery ?? DEFAULT_FULL_READ_EVERY) * o.resyncPeriodMs }
      : undefined;
  const writer = new KubeResourceWriter(o.kube);
  const jobRunWriter = new KubeJobRunWriter(o.kube);
  const planOptions = {
    defaultRegion: o.region,
    verifyKeys: o.verifyKeys,
    verifyKeyPolicies: o.verifyKeyPolicies ?? true,
    resyncPeriodMs: o.resyncPeriodMs,
    ownership: o.ownership ?? NO_ADOPTION,
    requireNamespacePolicy: o.requireNamespacePolicy ?? false,
    ...(o.listingLagMs !== undefined && { listingLagMs: o.listingLagMs }),
  };
  const events = new KubeEventRecorder({
    kube: o.kube,
    logger: o.logger,
    ...(o.reportingInstance && { reportingInstance: o.reportingInstance }),
  });
  const manager = new Manager({
    kube: o.kube,
    logger: o.logger,
    metrics: o.metrics,
    ...(o.namespaces && { namespaces: o.namespaces }),
    ...(o.labelSelector && { labelSelector: o.labelSelector }),
    ...(o.concurrency && { concurrency: o.concurrency }),
    resyncPeriodMs: o.resyncPeriodMs,
    ...(o.metricsAddr && { metricsAddr: o.metricsAddr }),
    ...(o.healthAddr && { healthAddr: o.healthAddr }),
    ...(o.leaderElection && { leaderElection: o.leaderElection }),
    caches: [
      { name: 'namespaces', cache: namespaceRoles.informer },
      { name: 'policies', cache: namespacePolicies.informer },
    ],
    controllers: [
      applicationController(
        ({ logger, mayWrite, enqueue }) =>
          new ApplicationReconciler({
            aws: access,
            writer,
            events,
            logger,
            options: planOptions,
            claims: new ClaimLocks(),
            onKeyHealth: (resourceKey, health) => o.metrics.setKeyHealth(resourceKey, health),
            onStatus: (resourceKey, status) => o.metrics.setResourceStatus(resourceKey, status),
            onUndone: (_resourceKey, fields) => o.metrics.correctionUndone(APPLICATION_KIND, fields),
            policies: namespacePolicies,
            onPolicyRefusals: (resourceKey, policies) =>
              o.metrics.setPolicyViolations(APPLICATION_KIND, resourceKey, policies),
            mayWrite,
            ...(listDrift && { listDrift, requeue: enqueue }),
          }),
      ),
      jobRunController(
        ({ logger, cache, mayWrite }) =>
          new JobRunReconciler({
            aws: access,
            writer: jobRunWriter,
            events,
            cache,
            logger,
            options: planOptions,
            mayWrite,
            policies: namespacePolicies,
            onPolicyRefusals: (resourceKey, policies) =>
              o.metrics.setPolicyViolations(JOB_RUN_KIND, resourceKey, policies),
          }),
      ),
    ],
  });
  // The admin changed a namespace's role: its resources are checked against it now, not at resync.
  namespaceRoles.onMappingChange((namespace) => {
    o.logger.info({ namespace }, 'namespace role annotations changed; reconciling its resources');
    manager.requeueNamespace(namespace);
  });
  // A policy changed, or a namespace's labels changed which policies select it: checked now too.
  namespacePolicies.onChange((namespaces) => {
    o.logger.info(
      { namespaces: namespaces.length > 20 ? namespaces.length : namespaces },
      'namespace policies changed; reconciling the resources concerned',
    );
    manager.requeueNamespaces(namespaces);
  });
  return { manager, events };
}
