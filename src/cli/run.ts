// `emr-serverless-operator run`: the controller.
//
// Flags win over environment variables, which win over defaults. Only the variables the contract
// names are read (KUBECONFIG, AWS_REGION / AWS_DEFAULT_REGION); everything else is a flag. The AWS
// SDK itself still reads its usual variables (credentials, AWS_ENDPOINT_URL, ...).
//
// Exit codes: 0 after SIGTERM/SIGINT (graceful stop), 1 when the leader lease is lost or startup
// fails, 2 for bad flags.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { AwsClients, DEFAULT_AWS_RPS } from '../aws/index.js';
import { readClusterUid } from '../controller/cluster-identity.js';
import { formatDuration, parseDuration } from '../controller/duration.js';
import { DEFAULT_LEASE_NAME, defaultIdentity, leaseNameForSelector } from '../controller/leader.js';
import { OperatorMetrics } from '../controller/metrics.js';
import {
  createOperator,
  DEFAULT_CONCURRENCY,
  DEFAULT_FULL_READ_EVERY,
  type DriftDetection,
} from '../controller/operator.js';
import { connectKube, type KubeClient } from '../kube/client.js';
import { LISTING_LAG_MS } from '../reconcile/absence.js';
import { canonicalLabelSelector, DNS_SUBDOMAIN, labelSelectorProblem } from './label-selector.js';

export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export interface RunConfig {
  kubeconfig: string | undefined;
  region: string;
  awsEndpoint: string | undefined;
  /** Watched namespaces; empty = all. */
  namespaces: string[];
  /** Only resources whose labels match (this replica set's shard); undefined = all. */
  watchLabelSelector: string | undefined;
  concurrency: number;
  resyncPeriodMs: number;
  /** How a resync finds drift: ListApplications then reads of what moved, or GetApplication each. */
  driftDetection: DriftDetection;
  /** `list` mode: resync periods between full reads (GetApplication) of each application. */
  fullReadEvery: number;
  awsRps: number;
  verifyKeys: boolean;
  /** Read each verified key's key policy: may EMR Serverless use the key (GetKeyPolicy). */
  verifyKeyPolicies: boolean;
  keyCacheTtlMs: number;
  /** How long a new application or job run may be missing from its listing (absence.ts). */
  listingLagMs: number;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  /** The cluster tag's value; undefined: the kube-system namespace's uid. */
  clusterId: string | undefined;
  /** Namespaces where resources may adopt existing applications; `*` for all. */
  adoptNamespaces: string[];
  leaderElectionId: string;
  /** Refuse namespaces without the role annotation (Stalled NoAccountMapping). */
  requireNamespaceRole: boolean;
  /** Refuse namespaces no EmrServerlessPolicy selects (Stalled NoNamespacePolicy). */
  requireNamespacePolicy: boolean;
  metricsAddr: string;
  healthAddr: string;
  logLevel: LogLevel;
}

export const RUN_USAGE = `Usage: emr-serverless-operator run [flags]

Runs the controller: watches EmrServerlessApplication resources and keeps the EMR Serverless
applications (and their disk encryption keys) equal to what they declare.

Flags (environment variable, default):
  --kubeconfig PATH             kubeconfig to use (KUBECONFIG; else in-cluster service account,
                                else ~/.kube/config)
  --region REGION               the operator's AWS region, for resources that name none
                                (AWS_REGION, then AWS_DEFAULT_REGION; required)
  --aws-endpoint URL            one endpoint for EMR Serverless and KMS, e.g. the local service
                                started by 'emr-serverless-operator emulator' (default: AWS);
                                with no AWS credentials configured, requests to it are signed
                                with placeholders (logged as a warning)
  --namespace NS[,NS...]        watch only these namespaces; repeat the flag or separate with
                                commas (default: all namespaces)
  --watch-label-selector SELECTOR
                                reconcile only resources whose labels match, e.g. shard=a or
                                'shard notin (a,b)': one shard of them, for running several
                                operators side by side (each gets its own Lease, see
                                --leader-election-id; the selectors must not overlap)
                                (default: all resources)
  --concurrency N               resources reconciled in parallel (default ${DEFAULT_CONCURRENCY})
  --resync-period DURATION      reconcile every resource at least this often, e.g. 30s, 10m, 1h
                                (default 10m, with ±10% jitter)
  --drift-detection MODE        how a resync looks for changes made outside the operator: list
                                (page through ListApplications, 50 applications a call, and read
                                only those whose state or updatedAt moved) or get (GetApplication
                                of every resource, for roles that may not list) (default list)
  --full-read-every N           list mode: read every application in full at least every N resync
                                periods, for changes that do not move updatedAt, such as tags
                                (default ${DEFAULT_FULL_READ_EVERY})
  --aws-rps N                   client-side AWS request rate limit per region, EMR Serverless and
                                KMS together; 0 = unlimited (default ${DEFAULT_AWS_RPS})
  --verify-keys[=BOOL]          check keys with KMS DescribeKey before sending them (default true;
                                --verify-keys=false turns it off)
  --verify-key-policies[=BOOL]  also read each verified key's key policy (KMS GetKeyPolicy) and
                                refuse a key whose policy does not let EMR Serverless use it
                                (default true; only with --verify-keys; cached like DescribeKey)
  --key-cache-ttl DURATION      how long a DescribeKey answer is reused; a disabled key is noticed
                                within this plus one resync (default 3m; negative answers 30s)
  --listing-lag DURATION        how long a new application or job run may be missing from
                                ListApplications or ListJobRuns: a deletion or a create that
                                searched for one whose create answer was lost, and found
                                nothing, searches again this much later before it releases the
                                finalizer or creates again (default 10s, an assumption: AWS
                                documents no consistency for its lists)
  --adopt-namespaces NS[,NS...]
                                namespaces whose resources may adopt existing applications
                                (spec.applicationId); * for all (default: none, adoption refused)
  --require-namespace-role[=BOOL]
                                refuse resources in namespaces without the annotation
                                emrserverless.operator.dev/role-arn (Stalled NoAccountMapping)
                                instead of using the operator's own AWS identity for them
                                (default false)
  --require-namespace-policy[=BOOL]
                                refuse resources in namespaces that no EmrServerlessPolicy selects
                                (Stalled NoNamespacePolicy; a cluster admin creates a policy that
                                selects the namespace) (default false: such namespaces are allowed)
  --cluster-id ID               this cluster's identity in the ownership tag
                                emrserverless.operator.dev/cluster (default: the uid of the
                                kube-system namespace)
  --leader-elect[=BOOL]         elect a leader through a Lease, for several replicas (default false;
                                the manifests set it)
  --leader-election-namespace NS
                                namespace of the '${DEFAULT_LEASE_NAME}' Lease (default: the pod's
                                namespace, else 'default')
  --leader-election-id NAME     name of the Lease; one per shard (default '${DEFAULT_LEASE_NAME}',
                                or with --watch-label-selector '${DEFAULT_LEASE_NAME}-' and the
                                selector with a hash of it, one Lease per selector)
  --metrics-addr ADDR           /metrics on host:port or :port; 0 disables (default :8080)
  --health-addr ADDR            /healthz and /readyz on host:port or :port; 0 disables (default :8081)
  --log-level LEVEL             trace, debug, info, warn, error (default info)
  -h, --help                    show this help

Exit status: 0 after SIGTERM or SIGINT, 1 when the leader lease is lost or startup fails,
2 for invalid flags.`;

const BOOLEAN_FLAGS = [
  'verify-keys',
  'verify-key-policies',
  'leader-elect',
  'require-namespace-role',
  'require-namespace-policy',
];

/** Thrown for invalid flags; the message is meant for the user. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function parseBool(flag: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 't'].includes(v)) return true;
  if (['false', '0', 'no', 'f'].includes(v)) return false;
  throw new UsageError(`--${flag} takes true or false, not "${value}"`);
}

function parsePositiveInt(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${flag} takes a whole number, not "${value}"`);
  const n = Number(value);
  if (n < min) throw new UsageError(`--${flag} must be at least ${min}`);
  return n;
}

export interface ParseContext {
  env?: NodeJS.ProcessEnv;
  /** Reads the service account's namespace file; undefined when absent. */
  podNamespace?: () => string | undefined;
}

function readPodNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Parses the flags of `run`; `'help'` when help was asked for. Throws UsageError. */
export function parseRunArgs(args: string[], context: ParseContext = {}): RunConfig | 'help' {
  const env = context.env ?? process.env;
  // Go-style booleans: `--flag` means true, `--flag=false` false (parseArgs has no such type).
  const normalised = args.map((arg) => {
    const name = arg.replace(/^--/, '');
    if (BOOLEAN_FLAGS.includes(name)) return `--${name}=true`;
    const negated = name.startsWith('no-') ? name.slice(3) : undefined;
    if (negated && BOOLEAN_FLAGS.includes(negated)) return `--${negated}=false`;
    return arg;
  });
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: normalised,
      allowPositionals: false,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        region: { type: 'string' },
        'aws-endpoint': { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'watch-label-selector': { type: 'string' },
        concurrency: { type: 'string' },
        'resync-period': { type: 'string' },
        'drift-detection': { type: 'string' },
        'full-read-every': { type: 'string' },
        'aws-rps': { type: 'string' },
        'verify-keys': { type: 'string' },
        'verify-key-policies': { type: 'string' },
        'key-cache-ttl': { type: 'string' },
        'listing-lag': { type: 'string' },
        'leader-elect': { type: 'string' },
        'adopt-namespaces': { type: 'string' },
        'require-namespace-role': { type: 'string' },
        'require-namespace-policy': { type: 'string' },
        'cluster-id': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'health-addr': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const str = (name: string) => values[name] as string | undefined;

  const region = str('region') || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('the AWS region is required: pass --region or set AWS_REGION');

  let resyncPeriodMs = 10 * 60_000;
  const resync = str('resync-period');
  if (resync !== undefined) {
    try {
      resyncPeriodMs = parseDuration(resync);
    } catch (error) {
      throw new UsageError(`--resync-period: ${(error as Error).message}`);
    }
    if (resyncPeriodMs < 1000) throw new UsageError('--resync-period must be at least 1s');
  }

  const driftDetection = str('drift-detection') ?? 'list';
  if (driftDetection !== 'list' && driftDetection !== 'get') {
    throw new UsageError(`--drift-detection takes list or get, not "${driftDetection}"`);
  }

  let keyCacheTtlMs = 3 * 60_000;
  const keyCacheTtl = str('key-cache-ttl');
  if (keyCacheTtl !== undefined) {
    try {
      keyCacheTtlMs = parseDuration(keyCacheTtl);
    } catch (error) {
      throw new UsageError(`--key-cache-ttl: ${(error as Error).message}`);
    }
  }

  let listingLagMs = LISTING_LAG_MS;
  const listingLag = str('listing-lag');
  if (listingLag !== undefined) {
    try {
      listingLagMs = parseDuration(listingLag);
    } catch (error) {
      throw new UsageError(`--listing-lag: ${(error as Error).message}`);
    }
    if (listingLagMs < 0) throw new UsageError('--listing-lag must not be negative');
  }

  const awsRpsText = str('aws-rps');
  let awsRps = DEFAULT_AWS_RPS;
  if (awsRpsText !== undefined) {
    awsRps = Number(awsRpsText);
    if (awsRpsText.trim() === '' || !Number.isFinite(awsRps) || awsRps < 0) {
      throw new UsageError(
        `--aws-rps takes a number of requests per second (0 = unlimited), not "${awsRpsText}"`,
      );
    }
  }

  const logLevel = (str('log-level') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level takes one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  }
  const namespaces = parseNamespaces((values.namespace as string[] | undefined) ?? []);

  const watchLabelSelector = str('watch-label-selector');
  if (watchLabelSelector !== undefined && watchLabelSelector.trim() === '') {
    throw new UsageError('--watch-label-selector needs a selector (omit it to reconcile every resource)');
  }
  const selectorProblem = watchLabelSelector && labelSelectorProblem(watchLabelSelector);
  if (selectorProblem)
    throw new UsageError(`--watch-label-selector is not a label selector: ${selectorProblem}`);

  // Without an explicit name, each selector gets its own Lease: shards cannot share one by accident.
  const leaderElectionId =
    str('leader-election-id') ??
    leaseNameForSelector(watchLabelSelector && canonicalLabelSelector(watchLabelSelector));
  if (!DNS_SUBDOMAIN.test(leaderElectionId) || leaderElectionId.length > 253) {
    throw new UsageError(`--leader-election-id must be a DNS subdomain name, not "${leaderElectionId}"`);
  }

  const clusterId = str('cluster-id');
  if (clusterId !== undefined && !/^[\w .:/=+@-]{1,256}$/.test(clusterId)) {
    throw new UsageError(
      `--cluster-id takes 1 to 256 letters, digits, spaces and _ . : / = + - @ (an AWS tag value), not "${clusterId}"`,
    );
  }
  const adoptNamespaces = (str('adopt-namespaces') ?? '')
    .split(',')
    .map((ns) => ns.trim())
    .filter(Boolean);

  const awsEndpoint = str('aws-endpoint');
  if (awsEndpoint !== undefined) {
    try {
      new URL(awsEndpoint);
    } catch {
      throw new UsageError(`--aws-endpoint takes a URL such as http://127.0.0.1:4566, not "${awsEndpoint}"`);
    }
  }

  return {
    kubeconfig: str('kubeconfig') || undefined,
    region,
    awsEndpoint,
    namespaces,
    watchLabelSelector: watchLabelSelector?.trim(),
    concurrency:
      str('concurrency') === undefined
        ? DEFAULT_CONCURRENCY
        : parsePositiveInt('concurrency', str('concurrency') as string, 1),
    resyncPeriodMs,
    driftDetection,
    fullReadEvery:
      str('full-read-every') === undefined
        ? DEFAULT_FULL_READ_EVERY
        : parsePositiveInt('full-read-every', str('full-read-every') as string, 1),
    awsRps,
    verifyKeys:
      str('verify-keys') === undefined ? true : parseBool('verify-keys', str('verify-keys') as string),
    verifyKeyPolicies:
      str('verify-key-policies') === undefined
        ? true
        : parseBool('verify-key-policies', str('verify-key-policies') as string),
    keyCacheTtlMs,
    listingLagMs,
    leaderElect:
      str('leader-elect') === undefined ? false : parseBool('leader-elect', str('leader-elect') as string),
    leaderElectionNamespace:
      str('leader-election-namespace') || (context.podNamespace ?? readPodNamespace)() || 'default',
    clusterId,
    adoptNamespaces,
    leaderElectionId,
    requireNamespaceRole:
      str('require-namespace-role') === undefined
        ? false
        : parseBool('require-namespace-role', str('require-namespace-role') as string),
    requireNamespacePolicy:
      str('require-namespace-policy') === undefined
        ? false
        : parseBool('require-namespace-policy', str('require-namespace-policy') as string),
    metricsAddr: str('metrics-addr') ?? ':8080',
    healthAddr: str('health-addr') ?? ':8081',
    logLevel: logLevel as LogLevel,
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `--namespace a,b --namespace c` -> [a, b, c], each a valid namespace name, without repeats. */
function parseNamespaces(values: string[]): string[] {
  const namespaces = values.flatMap((value) => value.split(',')).map((ns) => ns.trim());
  if (namespaces.some((ns) => ns === '')) {
    throw new UsageError('--namespace needs a value (omit it to watch all namespaces)');
  }
  const invalid = namespaces.find((ns) => !DNS_LABEL.test(ns));
  if (invalid !== undefined) throw new UsageError(`--namespace: "${invalid}" is not a valid namespace name`);
  return [...new Set(namespaces)];
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * After the manager has stopped, exit the process if something still holds the event loop
   * open after this long (default 10 s; 0 = never). The CLI must not hang after a SIGTERM.
   */
  forceExitAfterMs?: number;
}

export async function runCommand(args: string[], options: RunOptions = {}): Promise<number> {
  let config: RunConfig | 'help';
  try {
    config = parseRunArgs(args, { ...(options.env && { env: options.env }) });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${RUN_USAGE}`);
    return 2;
  }
  if (config === 'help') {
    console.log(RUN_USAGE);
    return 0;
  }

  const logger = pino({ level: config.logLevel, timestamp: pino.stdTimeFunctions.isoTime });
  const { code, immediate } = await runController(config, logger, options.env ?? process.env);
  const forceExitAfterMs = immediate ? 0 : (options.forceExitAfterMs ?? 10_000);
  if (immediate || forceExitAfterMs > 0) {
    setTimeout(() => {
      if (!immediate) logger.warn('exiting: something kept the process alive after shutdown');
      process.exit(code);
    }, forceExitAfterMs).unref();
  }
  return code;
}

async function runController(
  config: RunConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; immediate: boolean }> {
  let kube: KubeClient;
  try {
    kube = await connectKube({ ...(config.kubeconfig && { path: config.kubeconfig }), env });
    logger.info({ kubeconfig: kube.source, server: kube.server }, 'loaded Kubernetes configuration');
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, 'cannot load the Kubernetes configuration');
    return { code: 1, immediate: false };
  }

  const metrics = new OperatorMetrics();
  const aws = new AwsClients({
    ...(config.awsEndpoint && { endpoint: config.awsEndpoint }),
    rps: config.awsRps,
    observer: metrics,
    // AssumeRole goes to the regional STS endpoint of the operator's region.
    stsRegion: config.region,
  });
  if (aws.placeholderCredentials) {
    logger.warn(
      { awsEndpoint: config.awsEndpoint },
      'no AWS credentials configured: requests to --aws-endpoint are signed with placeholder credentials, which only the local service accepts',
    );
  }
  const identity = defaultIdentity();
  logger.info(
    {
      region: config.region,
      awsEndpoint: config.awsEndpoint,
      namespaces: config.namespaces.length > 0 ? config.namespaces : '(all)',
      watchLabelSelector: config.watchLabelSelector ?? '(all)',
      concurrency: config.concurrency,
      resyncPeriod: formatDuration(config.resyncPeriodMs),
      driftDetection: config.driftDetection,
      ...(config.driftDetection === 'list' && { fullReadEvery: config.fullReadEvery }),
      awsRps: config.awsRps,
      verifyKeys: config.verifyKeys,
      verifyKeyPolicies: config.verifyKeys && config.verifyKeyPolicies,
      listingLag: formatDuration(config.listingLagMs),
      requireNamespacePolicy: config.requireNamespacePolicy,
      leaderElect: config.leaderElect,
      clusterId: config.clusterId ?? '(the kube-system namespace uid)',
      adoptNamespaces: config.adoptNamespaces.length ? config.adoptNamespaces : '(none)',
      ...(config.leaderElect && {
        leaderElectionNamespace: config.leaderElectionNamespace,
        leaderElectionId: config.leaderElectionId,
        identity,
      }),
    },
    'starting emr-serverless-operator',
  );
  // The cluster identity of the ownership tags, read once (it never changes for a cluster).
  let clusterId = config.clusterId;
  if (clusterId === undefined) {
    try {
      clusterId = await readClusterUid(kube);
    } catch (error) {
      logger.fatal(
        { err: (error as Error).message },
        'cannot read the kube-system namespace for the cluster identity: grant get on it, or pass --cluster-id',
      );
      aws.close();
      return { code: 1, immediate: false };
    }
    logger.info({ clusterId }, 'cluster identity: the uid of the kube-system namespace');
  }
  const { manager, events } = createOperator({
    kube,
    logger,
    metrics,
    aws,
    region: config.region,
    verifyKeys: config.verifyKeys,
    verifyKeyPolicies: config.verifyKeyPolicies,
    resyncPeriodMs: config.resyncPeriodMs,
    driftDetection: config.driftDetection,
    fullReadEvery: config.fullReadEvery,
    keyCacheTtlMs: config.keyCacheTtlMs,
    listingLagMs: config.listingLagMs,
    ownership: { clusterId, adoptionNamespaces: config.adoptNamespaces },
    namespaces: config.namespaces,
    ...(config.watchLabelSelector && { labelSelector: config.watchLabelSelector }),
    requireNamespaceRole: config.requireNamespaceRole,
    requireNamespacePolicy: config.requireNamespacePolicy,
    concurrency: config.concurrency,
    metricsAddr: config.metricsAddr,
    healthAddr: config.healthAddr,
    ...(config.leaderElect && {
      leaderElection: {
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity,
      },
    }),
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received; shutting down');
    void manager.stop(`${signal} received`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    try {
      await manager.start();
    } catch (error) {
      logger.fatal({ err: (error as Error).message }, 'startup failed');
      await manager.stop('startup failed');
      return { code: 1, immediate: false };
    }
    const exit = await manager.done;
    // Events are best effort: a lost lease leaves them little time (the API server may be gone).
    const flushMs = exit.immediate ? 1_000 : 5_000;
    await Promise.race([events.flush(), new Promise((resolve) => setTimeout(resolve, flushMs).unref())]);
    logger.info({ code: exit.code, reason: exit.reason }, 'exiting');
    return { code: exit.code, immediate: exit.immediate };
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    aws.close();
    kube.destroy();
  }
}
