// The end-to-end harness: a namespace, a local AWS service and the operator started as a user
// starts it (`node dist/cli/main.js run ...` under its own service account), driven with the real
// kubectl. Each test file builds its own, so files run in parallel without seeing each other.
//
//   const e2e = await E2e.start('e2e-create');          // namespace, emulator, operator
//   await e2e.apply(yaml);                               // kubectl apply -f -
//   await e2e.waitForReason('analytics', 'Reconciled');  // polls kubectl get -o json
//   expect(await e2e.writes()).toEqual([...]);           // the emulator's calls log
//   await e2e.stop();
//
// dist/ must be built (`npm test` builds it; run `npm run build` before running one file by hand).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateApplicationCommand, EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { afterEach, inject } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { APPLICATION_PLURAL, JOB_RUN_PLURAL, POLICY_PLURAL } from '../../src/api/constants.js';
import type { EmrServerlessJobRun } from '../../src/api/jobrun-schema.js';
import type { Condition, EmrServerlessApplication } from '../../src/api/schema.js';
import { diskEncryptionKeyPolicy } from '../../src/aws/policies.js';
import {
  AWS_WRITE_OPERATIONS,
  type Call,
  type Emulator,
  EmulatorControl,
  type EmulatorOptions,
  startEmulator,
} from '../../src/emulator/index.js';
import {
  type ControlPlane,
  findRepoRoot,
  type KubectlOptions,
  type KubectlResult,
  runKubectl,
  waitForCrdsEstablished,
} from '../../src/envtest/index.js';
import { OPERATOR_SERVICE_ACCOUNT, operatorRbacObjects } from './operator-rbac.js';
import { callCount, type ReadCount, reconcileTotal } from './quiet.js';

export const ROOT = findRepoRoot();
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const CRD_DIR = join(ROOT, 'crds');
export const CRD_NAME = `${APPLICATION_PLURAL}.emrserverless.operator.dev`;
export const JOB_RUN_CRD_NAME = `${JOB_RUN_PLURAL}.emrserverless.operator.dev`;
export const POLICY_CRD_NAME = `${POLICY_PLURAL}.emrserverless.operator.dev`;
export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
/** What `--resync-period` the suite's operators run with, in ms. */
export const RESYNC_MS = 2_000;

/** The AWS operations that change something. */

export type Resource = EmrServerlessApplication & {
  status?: EmrServerlessApplication['status'] & Record<string, unknown>;
};
export type JobRunResource = EmrServerlessJobRun & { metadata: { finalizers?: string[] } };

// ------------------------------------------------------------------------------------------ waits

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; diagnostics?: () => Promise<string> | string } = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 150 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const extra = options.diagnostics
        ? await Promise.resolve()
            .then(options.diagnostics)
            .catch((e: unknown) => String(e))
        : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `\nlast error: ${String(lastError)}` : ''}${extra ? `\n${extra}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------ operator

export interface LogLine {
  level?: number;
  time?: string;
  msg?: string;
  [key: string]: unknown;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** `emr-serverless-operator run` as a child process; its JSON log lines are kept. */
export class OperatorProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly startedAt = Date.now();

  constructor(
    readonly label: string,
    readonly args: string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    this.child = spawn(process.execPath, [CLI, 'run', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(this.child);
    // If this test process dies without cleaning up (a killed vitest worker), a detached watchdog
    // kills the operator, so no operator outlives the run. It exits with the operator.
    spawn(
      'sh',
      [
        '-c',
        'while kill -0 "$2" 2>/dev/null; do kill -0 "$1" 2>/dev/null || { kill -9 "$2"; exit 0; }; sleep 1; done',
        'e2e-watchdog',
        String(process.pid),
        String(this.child.pid),
      ],
      { detached: true, stdio: 'ignore' },
    ).unref();
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: line });
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        children.delete(this.child);
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  find(match: string | ((line: LogLine) => boolean)): LogLine | undefined {
    const test = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
    return this.lines.find(test);
  }

  /** Waits for a log line; `after` skips lines already seen (an index into `lines`). */
  waitForLog(match: string | ((line: LogLine) => boolean), timeoutMs = 30_000, after = 0): Promise<LogLine> {
    const test = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
    return waitFor(
      `operator ${this.label} to log ${typeof match === 'string' ? `"${match}"` : 'a matching line'}`,
      () => {
        for (let i = after; i < this.lines.length; i++) if (test(this.lines[i]!)) return this.lines[i];
        if (!this.running) throw new Error(`operator ${this.label} exited (${this.child.exitCode})`);
        return undefined;
      },
      { timeoutMs, diagnostics: () => this.tail(40) },
    );
  }

  /** Resolves once the controller is running: workers started (or, with leader election, waiting). */
  async ready(timeoutMs = 30_000): Promise<void> {
    await this.waitForLog(
      (l) => l.msg === 'starting workers' || l.msg === 'attempting to acquire leader lease',
      timeoutMs,
    );
  }

  get identity(): string | undefined {
    return this.find('starting emr-serverless-operator')?.identity as string | undefined;
  }

  address(what: 'metrics' | 'health probes'): string | undefined {
    return this.find(`serving ${what}`)?.address as string | undefined;
  }

  async metrics(): Promise<string> {
    const address = this.address('metrics');
    if (!address) throw new Error(`operator ${this.label} serves no metrics`);
    return (await fetch(`http://${address}/metrics`)).text();
  }

  /** Reconciles finished so far by one controller, from the metrics. */
  async reconciles(controller = 'emrserverlessapplication'): Promise<number> {
    return reconcileTotal(await this.metrics(), controller);
  }

  /** Lines logged after `index` with the given message. */
  since(index: number, msg?: string): LogLine[] {
    return this.lines.slice(index).filter((l) => msg === undefined || l.msg === msg);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  tail(lines = 30): string {
    const shown = this.lines.slice(-lines).map((l) => {
      const { level, time, msg, pid: _pid, hostname: _host, ...rest } = l;
      const name = level === undefined ? '' : (LEVELS[level] ?? String(level));
      return `  ${time ?? ''} ${name} ${msg ?? ''} ${Object.keys(rest).length ? JSON.stringify(rest) : ''}`;
    });
    const up = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    return [
      `--- operator ${this.label} (${this.running ? `running, up ${up}s` : `exited ${this.child.exitCode ?? this.child.signalCode}`}), last ${shown.length} of ${this.lines.length} log lines ---`,
      ...shown,
      ...(this.stderr.trim() ? ['--- stderr ---', this.stderr.trim().slice(-3000)] : []),
    ].join('\n');
  }
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

// ------------------------------------------------------------------------------------ cluster

/** The Kubernetes side an E2e runs against: the shared control plane, or a test's own. */
export interface ClusterAccess {
  kubectlPath: string;
  /** Admin kubeconfig: what a person applying manifests uses. */
  kubeconfig: string;
  /** A kubeconfig of the operator's service account in `namespace`, RBAC from manifests/rbac.yaml. */
  operatorKubeconfig(namespace: string): Promise<string>;
}

/** The control plane of the vitest global setup (cluster project only). */
export function sharedCluster(): ClusterAccess {
  return {
    kubectlPath: inject('kubectl'),
    kubeconfig: inject('kubeconfig'),
    async operatorKubeconfig(namespace) {
      const { serviceAccountKubeconfig } = await import('./cluster.js');
      const sa = await serviceAccountKubeconfig({
        namespace,
        name: 'emr-serverless-operator',
        rbacManifests: operatorRbacObjects({ namespace }),
      });
      return sa.kubeconfig;
    },
  };
}

/** A test's own control plane (startControlPlane), for files that restart it or change its CRD. */
export function ownCluster(controlPlane: ControlPlane): ClusterAccess {
  return {
    kubectlPath: controlPlane.kubectl,
    kubeconfig: controlPlane.kubeconfig,
    async operatorKubeconfig(namespace) {
      const sa = await controlPlane.createServiceAccountKubeconfig({
        namespace,
        name: OPERATOR_SERVICE_ACCOUNT,
        rbacManifests: operatorRbacObjects({ namespace }),
      });
      return sa.kubeconfig;
    },
  };
}

const crdInstalled = new Map<string, Promise<void>>();

/** Installs the CRD from crds/ (once per kubeconfig and process) and waits until it is Established. */
export function ensureCrd(cluster: ClusterAccess): Promise<void> {
  let done = crdInstalled.get(cluster.kubeconfig);
  if (!done) {
    done = (async () => {
      const run = (args: string[]) => runKubectl(cluster.kubectlPath, cluster.kubeconfig, args);
      await run(['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
      await waitForCrdsEstablished(run, [
        `crd/${CRD_NAME}`,
        `crd/${JOB_RUN_CRD_NAME}`,
        `crd/${POLICY_CRD_NAME}`,
      ]);
    })();
    crdInstalled.set(cluster.kubeconfig, done);
  }
  return done;
}

// ---------------------------------------------------------------------------------------- E2e

export interface E2eOptions {
  cluster?: ClusterAccess;
  emulator?: EmulatorOptions;
  /** Start one operator right away (default true). */
  operator?: boolean;
  /** Extra `run` flags for every operator this E2e starts. */
  operatorArgs?: string[];
  /**
   * IAM in the local service. By default it is judged, and every operator runs as a user of its
   * own under the least-privilege policy `key-policy --operator-iam-policy --cluster-id <its
   * cluster id>` prints, plus `extraPolicies`: a call that policy does not allow fails as in AWS.
   * `false`: not judged (the operator may call anything).
   */
  iam?: false | { extraPolicies?: object[] };
}

/** The access key tests' own AWS clients sign with: the local service's built-in administrator. */
export const ADMIN_ACCESS_KEY = 'e2e-admin';
/** The IAM user the operator runs as while IAM is judged. */
export const OPERATOR_USER_ARN = `arn:aws:iam::${ACCOUNT}:user/operator`;

const printedPolicies = new Map<string, Promise<object>>();

/**
 * The operator's IAM policy as a user prints it (`key-policy --operator-iam-policy`), scoped to a
 * cluster id or (undefined) not, once per arguments.
 */
export function printedOperatorPolicy(clusterId: string | undefined): Promise<object> {
  let policy = printedPolicies.get(clusterId ?? '');
  if (!policy) {
    const scope = clusterId === undefined ? [] : ['--cluster-id', clusterId];
    policy = new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        [CLI, 'key-policy', '--operator-iam-policy', '--region', REGION, ...scope],
        { encoding: 'utf8' },
        (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as object)),
      ),
    );
    printedPolicies.set(clusterId ?? '', policy);
  }
  return policy;
}

export class E2e {
  readonly aws: EmulatorControl;
  private operatorCount = 0;

  private constructor(
    readonly namespace: string,
    readonly cluster: ClusterAccess,
    readonly emulator: Emulator,
    readonly operatorKubeconfig: string,
    private readonly options: E2eOptions,
    /** Shared with the E2e this one was made from (`alsoIn`). */
    readonly operators: OperatorProcess[] = [],
  ) {
    this.aws = new EmulatorControl(emulator.endpoint);
  }

  /** A namespace (`prefix-xxxx`), the CRD, the operator's service account, a local AWS service and an operator. */
  static async start(prefix: string, options: E2eOptions = {}): Promise<E2e> {
    const cluster = options.cluster ?? sharedCluster();
    await ensureCrd(cluster);
    const namespace = `${prefix}-${Math.random().toString(16).slice(2, 8)}`;
    const [operatorKubeconfig, emulator] = await Promise.all([
      cluster.operatorKubeconfig(namespace), // creates the namespace too
      startEmulator({ transitionMs: 20, defaultRegion: REGION, ...options.emulator }),
    ]);
    const e2e = new E2e(namespace, cluster, emulator, operatorKubeconfig, options);
    if (options.iam !== false) await e2e.aws.enforceIam(true);
    if (options.operator !== false) await e2e.startOperator();
    return e2e;
  }

  /**
   * Another namespace (`prefix-xxxx`, created now) served by this E2e's operators and local AWS
   * service: kubectl and the waits of the answer act there. The operators watch it once started
   * with `--namespace=<its name>` added. Stop only the E2e it was made from.
   */
  async alsoIn(prefix: string): Promise<E2e> {
    const namespace = `${prefix}-${Math.random().toString(16).slice(2, 8)}`;
    await runKubectl(this.cluster.kubectlPath, this.cluster.kubeconfig, ['create', 'namespace', namespace]);
    return new E2e(
      namespace,
      this.cluster,
      this.emulator,
      this.operatorKubeconfig,
      this.options,
      this.operators,
    );
  }

  /** The flags a user passes, pointed at this test's namespace, service account and AWS endpoint. */
  operatorArgs(extra: string[] = []): string[] {
    return [
      '--kubeconfig',
      this.operatorKubeconfig,
      '--aws-endpoint',
      this.emulator.endpoint,
      '--region',
      REGION,
      '--namespace',
      this.namespace,
      '--leader-election-namespace',
      this.namespace,
      '--resync-period',
      `${RESYNC_MS / 1000}s`,
      '--metrics-addr',
      '127.0.0.1:0',
      '--health-addr',
      '127.0.0.1:0',
      ...(this.options.operatorArgs ?? []),
      ...extra,
    ];
  }

  /** Starts `node dist/cli/main.js run ...` and waits until its workers run (or it waits for the lease). */
  async startOperator(
    extra: string[] = [],
    options: { wait?: boolean; awsAccessKeyId?: string } = {},
  ): Promise<OperatorProcess> {
    const args = this.operatorArgs(extra);
    const accessKeyId = options.awsAccessKeyId ?? 'e2e';
    if (this.options.iam !== false) {
      // As a user would run it: under the policy the CLI prints for this cluster's id.
      const flag = args.lastIndexOf('--cluster-id');
      const clusterId = flag >= 0 ? args[flag + 1]! : await this.clusterUid();
      await this.aws.declareUser({
        userName: 'operator',
        accessKeyId,
        policies: [await printedOperatorPolicy(clusterId), ...(this.options.iam?.extraPolicies ?? [])],
      });
    }
    const operator = new OperatorProcess(`#${++this.operatorCount}`, args, {
      // Never pick up a developer's real AWS settings. The access key id shows in the calls log
      // (`caller`): give replicas distinct ones to tell their calls apart.
      AWS_PROFILE: '',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'e2e',
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
      AWS_ENDPOINT_URL: '',
    });
    this.operators.push(operator);
    if (options.wait !== false) await operator.ready();
    return operator;
  }

  /** The cluster's identity, as the operator reads it without `--cluster-id`: the kube-system namespace's uid. */
  async clusterUid(): Promise<string> {
    const { stdout } = await runKubectl(this.cluster.kubectlPath, this.cluster.kubeconfig, [
      'get',
      'namespace',
      'kube-system',
      '-o',
      'jsonpath={.metadata.uid}',
    ]);
    return stdout.trim();
  }

  /** The operator started last. */
  get operator(): OperatorProcess {
    const op = this.operators.at(-1);
    if (!op) throw new Error('no operator started');
    return op;
  }

  async stop(): Promise<void> {
    await Promise.all(this.operators.map((op) => op.stop(5_000)));
    await this.emulator.close();
  }

  // ------------------------------------------------------------------------------ kubectl

  /** The real kubectl as the cluster admin (a person), in this test's namespace. */
  kubectl(args: string[], options?: KubectlOptions): Promise<KubectlResult> {
    return runKubectl(
      this.cluster.kubectlPath,
      this.cluster.kubeconfig,
      ['-n', this.namespace, ...args],
      options,
    );
  }

  /** `kubectl apply -f -` of YAML (or objects); answers kubectl's stdout, e.g. "...configured". */
  async apply(manifest: string | object): Promise<string> {
    const input = typeof manifest === 'string' ? manifest : stringify(manifest);
    return (await this.kubectl(['apply', '-f', '-'], { input })).stdout.trim();
  }

  /** `kubectl apply` that must fail; answers kubectl's stderr. */
  async applyRejected(manifest: string | object): Promise<string> {
    const input = typeof manifest === 'string' ? manifest : stringify(manifest);
    const result = await this.kubectl(['apply', '-f', '-'], { input, check: false });
    if (result.exitCode === 0)
      throw new Error(`kubectl apply was expected to fail but said: ${result.stdout}`);
    return result.stderr;
  }

  get(name: string): Promise<Resource> {
    return this.getOf<Resource>('emrsa', name);
  }

  exists(name: string): Promise<boolean> {
    return this.existsOf('emrsa', name);
  }

  private async getOf<T>(kind: string, name: string): Promise<T> {
    return JSON.parse((await this.kubectl(['get', kind, name, '-o', 'json'])).stdout) as T;
  }

  private async existsOf(kind: string, name: string): Promise<boolean> {
    const r = await this.kubectl(['get', kind, name, '--ignore-not-found', '-o', 'name'], {
      check: false,
    });
    if (r.exitCode !== 0) throw new Error(r.stderr);
    return r.stdout.trim() !== '';
  }

  /** Polls `kubectl get -o json` until `probe` answers something. */
  waitForResource<T>(
    name: string,
    what: string,
    probe: (r: Resource) => T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    return waitFor(`${name}: ${what}`, async () => probe(await this.get(name)), {
      timeoutMs,
      diagnostics: () => this.diagnostics(name),
    });
  }

  /** Waits until Ready has this status and reason (for the current generation). */
  waitForReady(name: string, status: 'True' | 'False', reason?: string, timeoutMs = 30_000) {
    return this.waitForResource(
      name,
      `Ready=${status}${reason ? ` reason ${reason}` : ''}`,
      (r) => {
        const ready = condition(r, 'Ready');
        return (
          ready?.status === status &&
          (reason === undefined || ready.reason === reason) &&
          ready.observedGeneration === r.metadata.generation &&
          r
        );
      },
      timeoutMs,
    );
  }

  /** Stalled with this reason (Ready False with the same reason). */
  waitForStalled(name: string, reason: string, timeoutMs = 30_000) {
    return this.waitForResource(
      name,
      `Stalled reason ${reason}`,
      (r) => {
        const stalled = condition(r, 'Stalled');
        return (
          stalled?.status === 'True' &&
          stalled.reason === reason &&
          condition(r, 'Ready')?.reason === reason &&
          r
        );
      },
      timeoutMs,
    );
  }

  /** `kubectl wait --for=condition=Ready`, as a person or a pipeline does it. */
  async kubectlWaitReady(name: string, timeoutS = 30): Promise<KubectlResult> {
    const result = await this.kubectl(
      ['wait', `emrsa/${name}`, '--for=condition=Ready', `--timeout=${timeoutS}s`],
      { check: false, timeoutMs: (timeoutS + 10) * 1000 },
    );
    if (result.exitCode !== 0) {
      throw new Error(`kubectl wait failed: ${result.stderr}\n${await this.diagnostics(name)}`);
    }
    return result;
  }

  async waitGone(name: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(`${name} to be deleted`, async () => !(await this.exists(name)), {
      timeoutMs,
      diagnostics: () => this.diagnostics(name),
    });
  }

  /** Events about `name` as `kubectl get events` lists them (core/v1 view of events.k8s.io). */
  async events(
    name: string,
  ): Promise<Array<{ type: string; reason: string; message: string; count?: number }>> {
    const { stdout } = await this.kubectl([
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${name}`,
      '-o',
      'json',
    ]);
    return (
      JSON.parse(stdout) as {
        items: Array<{ type: string; reason: string; message: string; count?: number }>;
      }
    ).items;
  }

  waitForEvent(name: string, reason: string, timeoutMs = 30_000) {
    return waitFor(
      `${name}: event ${reason}`,
      async () => (await this.events(name)).find((e) => e.reason === reason),
      { timeoutMs, diagnostics: () => this.diagnostics(name) },
    );
  }

  // ------------------------------------------------------------------------------ job runs

  getJob(name: string): Promise<JobRunResource> {
    return this.getOf<JobRunResource>('emrjob', name);
  }

  jobExists(name: string): Promise<boolean> {
    return this.existsOf('emrjob', name);
  }

  /** Polls `kubectl get emrjob -o json` until `probe` answers something. */
  waitForJob<T>(
    name: string,
    what: string,
    probe: (r: JobRunResource) => T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    return waitFor(`job run ${name}: ${what}`, async () => probe(await this.getJob(name)), {
      timeoutMs,
      diagnostics: () => this.diagnostics(),
    });
  }

  /** The job run with this condition True (Ready, Reconciling or Stalled) and reason. */
  waitForJobCondition(name: string, type: string, reason: string, timeoutMs = 30_000) {
    return this.waitForJob(
      name,
      `${type} ${reason}`,
      (r) => {
        const c = condition(r, type);
        return c?.status === 'True' && c.reason === reason && r;
      },
      timeoutMs,
    );
  }

  async waitJobGone(name: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(`job run ${name} to be deleted`, async () => !(await this.jobExists(name)), {
      timeoutMs,
      diagnostics: () => this.diagnostics(),
    });
  }

  // ------------------------------------------------------------------------------ AWS side

  calls(): Promise<Call[]> {
    return this.aws.calls();
  }

  /** Calls after the first `mark` (a previous `calls().length`), optionally of one application. */
  async callsSince(mark: number, applicationId?: string): Promise<Call[]> {
    return (await this.calls())
      .slice(mark)
      .filter((c) => applicationId === undefined || c.applicationId === applicationId);
  }

  /** Names of the AWS writes since `mark` ("CreateApplication", "UpdateApplication", ...). */
  async writesSince(mark = 0, applicationId?: string): Promise<string[]> {
    return (await this.callsSince(mark, applicationId))
      .filter((c) => AWS_WRITE_OPERATIONS.has(c.operation) && c.status === 200)
      .map((c) => c.operation);
  }

  /** AWS reads in the calls log (GetApplication or ListApplications by default), for a quiet window. */
  awsReads(options?: Parameters<typeof callCount>[1]): ReadCount {
    return callCount(() => this.calls(), options);
  }

  /** Reconciles of one controller by an operator (the one started last), for a quiet window. */
  reconciles(options: { controller?: string; operator?: OperatorProcess; atLeast?: number } = {}): ReadCount {
    const controller = options.controller ?? 'emrserverlessapplication';
    const operator = options.operator ?? this.operator;
    return {
      what: `${controller} reconciles by operator ${operator.label}`,
      count: () => operator.reconciles(controller),
      ...(options.atLeast !== undefined && { atLeast: options.atLeast }),
    };
  }

  /**
   * Reconciles of one object by an operator (the one started last), from its `reconciled` log
   * lines: the operator must run with `--log-level=debug`.
   */
  reconcilesOf(
    name: string,
    options: { controller?: string; operator?: OperatorProcess; atLeast?: number } = {},
  ): ReadCount {
    const controller = options.controller ?? 'emrserverlessapplication';
    const operator = options.operator ?? this.operator;
    const resource = `${this.namespace}/${name}`;
    return {
      what: `${controller} reconciles of ${resource} by operator ${operator.label}`,
      count: () =>
        operator.lines.filter(
          (l) => l.msg === 'reconciled' && l.resource === resource && l.controller === controller,
        ).length,
      ...(options.atLeast !== undefined && { atLeast: options.atLeast }),
    };
  }

  async mark(): Promise<number> {
    return (await this.calls()).length;
  }

  /** The application as GetApplication answers it (through the control API: not in the calls log). */
  async application(id: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.emulator.endpoint}/_emulator/applications/${encodeURIComponent(id)}`);
    if (!res.ok) throw new Error(`GET application ${id}: HTTP ${res.status}`);
    return ((await res.json()) as { application: Record<string, unknown> }).application;
  }

  /**
   * A symmetric ENCRYPT_DECRYPT key (or the given kind) in this region; answers its ARN. Unless
   * `policy` is given, its key policy lets EMR Serverless use it (diskEncryptionKeyPolicy), as a
   * key made for disk encryption has: AWS's default policy alone would be refused (KeyPolicyDenied).
   */
  async createKey(options: Parameters<EmulatorControl['createKey']>[0] = {}): Promise<string> {
    const key = await this.aws.createKey({ region: REGION, ...options });
    if (!options.policy) await this.aws.putKeyPolicy(key.Arn, diskEncryptionKeyPolicy(key.AWSAccountId));
    return key.Arn;
  }

  /**
   * Applies an EmrServerlessApplication `name` on `encryptionKeyArn` with `encryptionContext`,
   * waits until it is Ready, and answers its application id.
   */
  async readyApplicationOnKey(
    name: string,
    encryptionKeyArn: string,
    encryptionContext: Record<string, string>,
  ): Promise<string> {
    await this.apply(
      manifest(
        name,
        baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn, encryptionContext } }),
      ),
    );
    return (await this.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
  }

  /** An EMR Serverless client on the local service, e.g. to make an application to adopt. */
  emrClient(): EMRServerlessClient {
    return new EMRServerlessClient({
      endpoint: this.emulator.endpoint,
      region: REGION,
      credentials: { accessKeyId: ADMIN_ACCESS_KEY, secretAccessKey: 'e2e' },
    });
  }

  /** Creates an application outside the operator; answers its id. */
  async createApplicationOutOfBand(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const client = this.emrClient();
    try {
      const out = await client.send(
        new CreateApplicationCommand({ name, type: 'SPARK', releaseLabel: 'emr-7.5.0', ...extra }),
      );
      return out.applicationId!;
    } finally {
      client.destroy();
    }
  }

  // ------------------------------------------------------------------------------ reporting

  async diagnostics(name?: string): Promise<string> {
    const parts: string[] = [];
    const table = await this.kubectl(['get', 'emrsa', '-o', 'wide'], { check: false });
    parts.push(`--- kubectl get emrsa -o wide ---\n${table.stdout || table.stderr}`);
    const jobs = await this.kubectl(['get', 'emrjob', '-o', 'yaml'], { check: false });
    if (jobs.stdout.includes('name:')) parts.push(`--- kubectl get emrjob -o yaml ---\n${jobs.stdout}`);
    if (name) {
      const r = await this.get(name).catch((e: Error) => e.message);
      parts.push(
        `--- ${name} ---\n${typeof r === 'string' ? r : stringify({ metadata: pick(r.metadata), spec: r.spec, status: r.status })}`,
      );
    }
    const calls = await this.calls().catch(() => []);
    parts.push(
      `--- AWS calls (${calls.length}, last 30) ---\n${calls
        .slice(-30)
        .map(
          (c) =>
            `  ${c.at} ${c.operation} ${c.applicationId ?? c.keyId ?? ''} ${c.status}${c.errorType ? ` ${c.errorType}` : ''}`,
        )
        .join('\n')}`,
    );
    for (const op of this.operators) parts.push(op.tail(25));
    return parts.join('\n');
  }
}

function pick(metadata: EmrServerlessApplication['metadata']) {
  const { managedFields: _m, ...rest } = metadata as EmrServerlessApplication['metadata'] & {
    managedFields?: unknown;
  };
  return rest;
}

/**
 * Prints the operators' last log lines, the AWS calls and (optionally) resources when a test of
 * this file fails. Call at the top level of a test file: `reportFailures(() => e2e, 'analytics')`.
 */
export function reportFailures(get: () => E2e | undefined, ...names: string[]): void {
  afterEach(async (context) => {
    const e2e = get();
    if (!e2e || context.task.result?.state !== 'fail') return;
    const report = await e2e.diagnostics(names[0]).catch((error: unknown) => String(error));
    console.error(
      `\n===== diagnostics for "${context.task.name}" (namespace ${e2e.namespace}) =====\n${report}`,
    );
  });
}

// ------------------------------------------------------------------------------------ manifests

export function condition(r: { status?: { conditions?: Condition[] } }, type: string) {
  return r.status?.conditions?.find((c) => c.type === type);
}

/** An EmrServerlessApplication manifest as YAML (what a person would write in a file). */
export function manifest(
  name: string,
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: { name, ...metadata },
    spec,
  });
}

/** A minimal creatable spec: `name`, SPARK, emr-7.5.0, plus `extra`. */
export function baseSpec(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'SPARK', releaseLabel: 'emr-7.5.0', ...extra };
}

export const JOB_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/emr-job`;

/** An EmrServerlessJobRun manifest: a Spark job on `application`, with `extra` spec fields. */
export function jobRunManifest(
  name: string,
  application: string,
  extra: Record<string, unknown> = {},
  metadata: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessJobRun',
    metadata: { name, ...metadata },
    spec: {
      applicationRef: { name: application },
      executionRoleArn: JOB_ROLE_ARN,
      jobDriver: {
        sparkSubmit: {
          entryPoint: 's3://bucket/jobs/etl.py',
          sparkSubmitParameters: '--conf spark.executor.cores=2',
        },
      },
      ...extra,
    },
  });
}

/** The documents of a YAML file, parsed. */
export function parseYaml(text: string): Array<Record<string, unknown>> {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);
}
