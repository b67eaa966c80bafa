// `emr-serverless-operator demo`: the whole thing on this machine. A real kube-apiserver + etcd
// (built from Go modules on the first run), the local EMR Serverless + KMS service, and the
// operator as a child process (`run`, under its own service account) — then examples/ applied
// step by step, showing both the Kubernetes side (kubectl) and the AWS side after each step.
// Afterwards everything keeps running for the person to try their own manifests, until Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import type { EmrServerlessApplication } from '../api/schema.js';
import { diskEncryptionKeyPolicy } from '../aws/policies.js';
import { AWS_WRITE_OPERATIONS } from '../emulator/control-client.js';
import type { Call, Emulator, EmulatorControl } from '../emulator/index.js';
import type { ControlPlane } from '../envtest/index.js';

const USAGE = `Usage: emr-serverless-operator demo [flags]

Starts a local Kubernetes control plane (built from source with Go on the first run: several
minutes), the local EMR Serverless + KMS service and the operator, then applies examples/ step by
step and shows what happens in Kubernetes and in "AWS". Everything then keeps running so you can
kubectl apply your own manifests; Ctrl-C stops it all.

Flags:
  --fast              no pauses between steps
  --exit-when-done    stop everything and exit after the steps instead of waiting for Ctrl-C
  -h, --help          show this help`;

const REGION = 'eu-west-1';
const NAMESPACE = 'default';
const OPERATOR_NAMESPACE = 'emr-serverless-operator';
/** The placeholder key ARNs in examples/, replaced by keys created in the local service. */
const SYMMETRIC_PLACEHOLDER = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ASYMMETRIC_PLACEHOLDER = 'arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
const JOB_KEY_PLACEHOLDER = 'arn:aws:kms:eu-west-1:111122223333:key/5678abcd-56ab-78cd-90ef-5678901234ab';
/** How long each job run state lasts in the demo's local service (SUBMITTED ... SUCCESS). */
const JOB_RUN_STEP_MS = 500;

interface Resource {
  metadata: { name: string; generation?: number };
  status?: {
    applicationId?: string;
    jobRunId?: string;
    state?: string;
    encryption?: string;
    diskEncryption?: { mode?: string; source?: string; encryptionKeyArn?: string };
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const indent = (text: string, by = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

function findRoot(): string {
  // dist/cli/demo.js or src/cli/demo.ts: the package root is two levels up.
  return fileURLToPath(new URL('../..', import.meta.url));
}

class Demo {
  private controlPlane?: ControlPlane;
  private emulator?: Emulator;
  private aws?: EmulatorControl;
  private operator?: ChildProcess;
  private operatorLog?: WriteStream;
  private operatorLogPath = '';
  private stopping?: Promise<void>;
  private readonly root = findRoot();
  private keys: Record<string, string> = {};
  private mark = 0;

  constructor(private readonly fast: boolean) {}

  private pause(ms = 2_500): Promise<void> {
    return this.fast ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
  }

  private kubectl(args: string[], input?: string) {
    const cp = this.controlPlane!;
    return cp.kubectlAdmin(['-n', NAMESPACE, ...args], input === undefined ? {} : { input });
  }

  async start(): Promise<void> {
    const { startControlPlane } = await import('../envtest/index.js');
    const { startEmulator, EmulatorControl } = await import('../emulator/index.js');

    out('== Starting a local Kubernetes control plane (kube-apiserver + etcd) ==');
    out('   (built from the official Go modules on the first run: several minutes, with progress below)');
    this.controlPlane = await startControlPlane({ log: (line) => out(`   [controlplane] ${line}`) });
    const cp = this.controlPlane;
    await cp.installCrds([join(this.root, 'crds')]);
    out(
      '   CRDs emrserverlessapplications, emrserverlessjobruns and emrserverlesspolicies (emrserverless.operator.dev) installed',
    );

    out('== Starting the local AWS service (EMR Serverless + KMS) ==');
    // Job runs move on by themselves (SUBMITTED -> ... -> SUCCESS), as they would in AWS.
    this.emulator = await startEmulator({
      transitionMs: 300,
      defaultRegion: REGION,
      jobRunStepMs: JOB_RUN_STEP_MS,
    });
    const aws = new EmulatorControl(this.emulator.endpoint);
    this.aws = aws;
    out(`   endpoint ${this.emulator.endpoint}`);
    // The keys' policies let EMR Serverless use them, as the key check requires (KeyPolicyDenied otherwise).
    const forDisks = async (description: string) => {
      const key = await aws.createKey({ region: REGION, description });
      await aws.putKeyPolicy(key.Arn, diskEncryptionKeyPolicy(key.AWSAccountId));
      return key;
    };
    const symmetric = await forDisks('demo: analytics disks');
    const asymmetric = await this.aws.createKey({
      region: REGION,
      keySpec: 'RSA_2048',
      keyUsage: 'SIGN_VERIFY',
      description: 'demo: a signing key',
    });
    const jobKey = await forDisks('demo: one job run’s disks');
    this.keys = {
      [SYMMETRIC_PLACEHOLDER]: symmetric.Arn,
      [ASYMMETRIC_PLACEHOLDER]: asymmetric.Arn,
      [JOB_KEY_PLACEHOLDER]: jobKey.Arn,
    };
    out(`   KMS key (symmetric, ENCRYPT_DECRYPT): ${symmetric.Arn}`);
    out(`   KMS key (RSA_2048, SIGN_VERIFY):      ${asymmetric.Arn}`);
    out(`   KMS key (symmetric, for one job run): ${jobKey.Arn}`);

    out('== Starting the operator (emr-serverless-operator run) under its own service account ==');
    const sa = await cp.createServiceAccountKubeconfig({
      namespace: OPERATOR_NAMESPACE,
      name: 'emr-serverless-operator',
      rbacManifests: [join(this.root, 'manifests', 'rbac.yaml')],
    });
    const args = [
      fileURLToPath(new URL('./main.js', import.meta.url)),
      'run',
      '--kubeconfig',
      sa.kubeconfig,
      '--aws-endpoint',
      this.emulator.endpoint,
      '--region',
      REGION,
      '--resync-period',
      '5s',
      '--metrics-addr',
      '127.0.0.1:0',
      '--health-addr',
      '127.0.0.1:0',
    ];
    this.operatorLogPath = join(cp.dataDir, 'logs', 'operator.log');
    this.operatorLog = createWriteStream(this.operatorLogPath, { flags: 'a' });
    const operator = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'demo', AWS_SECRET_ACCESS_KEY: 'demo', AWS_PROFILE: '' },
    });
    this.operator = operator;
    operator.stdout?.pipe(this.operatorLog, { end: false });
    operator.stderr?.pipe(this.operatorLog, { end: false });
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('"starting workers"')) {
          operator.stdout?.off('data', onData);
          resolve();
        }
      };
      operator.stdout?.on('data', onData);
      operator.once('exit', (code) =>
        reject(new Error(`the operator exited (${code}) before it started; see ${this.operatorLogPath}`)),
      );
    });
    out(
      `   running as system:serviceaccount:${OPERATOR_NAMESPACE}:emr-serverless-operator, log: ${this.operatorLogPath}`,
    );
  }

  /** Reads examples/<file>, with the placeholder key ARNs replaced by the demo's keys. */
  private example(file: string): string {
    let text = readFileSync(join(this.root, 'examples', file), 'utf8');
    for (const [placeholder, arn] of Object.entries(this.keys)) text = text.split(placeholder).join(arn);
    return text;
  }

  private async apply(file: string): Promise<void> {
    out(`$ kubectl apply -f examples/${file}`);
    const text = this.example(file);
    const spec = (parse(text) as { spec?: { diskEncryptionConfiguration?: unknown } }).spec;
    if (spec?.diskEncryptionConfiguration !== undefined) {
      out(`  # spec.diskEncryptionConfiguration: ${JSON.stringify(spec.diskEncryptionConfiguration)}`);
    }
    const { stdout } = await this.kubectl(['apply', '-f', '-'], text);
    out(indent(stdout, '  '));
  }

  private async get(name: string, kind = 'emrsa'): Promise<Resource> {
    return JSON.parse((await this.kubectl(['get', kind, name, '-o', 'json'])).stdout) as Resource;
  }

  /** Polls the resource until `done` says so; throws with the operator's log path after `timeoutMs`. */
  private async waitFor(
    name: string,
    what: string,
    done: (r: Resource) => boolean,
    timeoutMs = 60_000,
    kind = 'emrsa',
  ) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.get(name, kind).catch(() => undefined);
      if (r && done(r)) return r;
      if (Date.now() > deadline) {
        throw new Error(
          `${name} did not reach "${what}" within ${timeoutMs / 1000}s; last status: ${JSON.stringify(r?.status)}; operator log: ${this.operatorLogPath}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private ready(r: Resource) {
    return r.status?.conditions?.find((c) => c.type === 'Ready');
  }

  private current(r: Resource): boolean {
    return this.ready(r)?.status !== undefined && r.status?.observedGeneration === r.metadata.generation;
  }

  private async show(names: string[]): Promise<void> {
    out('$ kubectl get emrsa -o wide');
    out(indent((await this.kubectl(['get', 'emrsa', '-o', 'wide'])).stdout, '  '));
    out('AWS (the local service):');
    for (const name of names) {
      const id = (await this.get(name)).status?.applicationId;
      if (!id) {
        out(`  ${name}: no application`);
        continue;
      }
      const res = await fetch(`${this.emulator!.endpoint}/_emulator/applications/${id}`);
      const app = ((await res.json()) as { application: Record<string, unknown> }).application;
      out(
        `  ${name}: application ${id} ${app.state}, diskEncryptionConfiguration ${describeDisk(app.diskEncryptionConfiguration)}`,
      );
    }
    const calls = (await this.aws!.calls()).slice(this.mark);
    this.mark += calls.length;
    out(`  AWS calls in this step: ${summarise(calls)}`);
  }

  private async writesSinceStepStart(): Promise<string[]> {
    return (await this.aws!.calls())
      .slice(this.mark)
      .filter((c) => AWS_WRITE_OPERATIONS.has(c.operation) && c.status === 200)
      .map((c) => c.operation);
  }

  private outcome(text: string): void {
    out(`=> ${text}`);
  }

  async steps(): Promise<void> {
    const aws = this.aws!;
    this.mark = (await aws.calls()).length;

    out();
    out('== Step 1: an application with a customer-managed KMS key ==');
    await this.apply('01-customer-managed-key.yaml');
    let r = await this.waitFor(
      'analytics',
      'Ready',
      (x) => this.current(x) && this.ready(x)?.status === 'True',
    );
    let writes = await this.writesSinceStepStart();
    await this.show(['analytics']);
    this.outcome(
      `step 1: analytics Ready=True, Encryption=${r.status?.encryption}; AWS writes: ${writes.join(', ') || 'none'} (the key travels in CreateApplication)`,
    );
    await this.pause();

    out();
    out('== Step 2: the encryption context changed ==');
    await this.apply('02-encryption-context.yaml');
    r = await this.waitFor('analytics', 'Ready', (x) => this.current(x) && this.ready(x)?.status === 'True');
    writes = await this.writesSinceStepStart();
    await this.show(['analytics']);
    this.outcome(`step 2: context updated, Ready=True; AWS writes: ${writes.join(', ') || 'none'}`);
    await this.pause();

    out();
    out('== Step 3: back to the AWS-owned key with diskEncryptionConfiguration: {} ==');
    await this.apply('03-aws-owned-key.yaml');
    r = await this.waitFor('analytics', 'Ready', (x) => this.current(x) && this.ready(x)?.status === 'True');
    writes = await this.writesSinceStepStart();
    await this.show(['analytics']);
    this.outcome(
      `step 3: Encryption=${r.status?.encryption}, Ready=True; AWS writes: ${writes.join(', ') || 'none'}`,
    );
    await this.pause();

    out();
    out('== Step 4: an asymmetric key is refused before anything is sent ==');
    await this.apply('04-asymmetric-key.yaml');
    r = await this.waitFor(
      'reports',
      'Stalled',
      (x) => this.current(x) && this.ready(x)?.reason === 'KeyNotSymmetric',
    );
    writes = await this.writesSinceStepStart();
    await this.show(['analytics', 'reports']);
    out(`  reports: ${this.ready(r)?.message}`);
    this.outcome(
      `step 4: reports Stalled ${this.ready(r)?.reason}; AWS writes: ${writes.join(', ') || 'none'}`,
    );
    await this.pause();

    out();
    out('== Step 5: a change while the application runs (updateStrategy: WaitForStop) ==');
    const id = (await this.get('analytics')).status!.applicationId!;
    out(`  (a job starts the application: the local service's control API moves ${id} to STARTED)`);
    await aws.patchApplication(id, { state: 'STARTED' });
    await this.apply('05-change-while-running.yaml');
    r = await this.waitFor(
      'analytics',
      'WaitingForStop',
      (x) => this.current(x) && this.ready(x)?.reason === 'WaitingForStop',
    );
    writes = await this.writesSinceStepStart();
    await this.show(['analytics']);
    out(`  analytics: ${this.ready(r)?.message}`);
    this.outcome(
      `step 5: analytics waiting, Ready=False WaitingForStop while STARTED; AWS writes: ${writes.join(', ') || 'none'}`,
    );
    await this.pause(4_000);
    out(`  (the application goes idle and stops, as autoStop would: ${id} -> STOPPED)`);
    await aws.patchApplication(id, { state: 'STOPPED' });
    r = await this.waitFor('analytics', 'Ready', (x) => this.current(x) && this.ready(x)?.status === 'True');
    writes = await this.writesSinceStepStart();
    await this.show(['analytics']);
    this.outcome(
      `step 5: once STOPPED the change landed: Encryption=${r.status?.encryption}, Ready=True; AWS writes: ${writes.join(', ') || 'none'}`,
    );
  }

  /** Step 6: job runs on analytics, one inheriting its key, one with its own, one refused. */
  async jobRunSteps(): Promise<void> {
    const aws = this.aws!;
    out();
    out('== Step 6: job runs, each submitted once, with the application’s key or their own ==');
    out('$ kubectl apply -f examples/07-job-runs.yaml');
    out(indent((await this.kubectl(['apply', '-f', '-'], this.example('07-job-runs.yaml'))).stdout, '  '));
    const appId = (await this.get('analytics')).status!.applicationId!;
    const finished = (x: Resource) => x.status?.state === 'SUCCESS' && this.ready(x)?.status === 'True';
    const etl = await this.waitFor('nightly-etl', 'SUCCESS', finished, 60_000, 'emrjob');
    const pii = await this.waitFor('pii-export', 'SUCCESS', finished, 60_000, 'emrjob');
    const refused = await this.waitFor(
      'signing-key-report',
      'Stalled',
      (x) => this.ready(x)?.reason === 'KeyNotSymmetric',
      60_000,
      'emrjob',
    );
    out('$ kubectl get emrjob');
    out(indent((await this.kubectl(['get', 'emrjob'])).stdout, '  '));
    out('AWS (the local service): what each StartJobRun sent, and the key the run started with');
    for (const r of [etl, pii]) {
      const { jobRun, submitted } = await aws.jobRun(appId, r.status!.jobRunId!);
      const sent = (submitted.configurationOverrides as { diskEncryptionConfiguration?: unknown } | undefined)
        ?.diskEncryptionConfiguration;
      const resolved = (
        jobRun.configurationOverrides as { diskEncryptionConfiguration?: unknown } | undefined
      )?.diskEncryptionConfiguration;
      out(
        `  ${r.metadata.name}: job run ${r.status!.jobRunId} ${jobRun.state}; sent diskEncryptionConfiguration ${sent === undefined ? 'none' : JSON.stringify(sent)}; runs with ${describeDisk(resolved)}`,
      );
    }
    out(`  signing-key-report: ${this.ready(refused)?.message}`);
    const calls = (await aws.calls()).slice(this.mark);
    this.mark += calls.length;
    const starts = calls.filter((c) => c.operation === 'StartJobRun' && c.status === 200).length;
    out(`  AWS calls in this step: ${summarise(calls)}`);
    const source = (r: Resource) =>
      `${r.status?.diskEncryption?.mode} from the ${r.status?.diskEncryption?.source}`;
    this.outcome(
      `step 6: nightly-etl SUCCESS (${source(etl)}), pii-export SUCCESS (${source(pii)}), signing-key-report Stalled ${this.ready(refused)?.reason}; StartJobRun calls: ${starts}`,
    );
    out('$ emr-serverless-operator livy-conf analytics   # the same key for interactive Livy sessions');
    const { livySessionConf } = await import('./livy-conf.js');
    const app = JSON.parse(
      (await this.kubectl(['get', 'emrsa', 'analytics', '-o', 'json'])).stdout,
    ) as EmrServerlessApplication;
    out(indent(JSON.stringify(livySessionConf('analytics', app.status?.diskEncryption), null, 2), '  '));
  }

  printHowToContinue(): void {
    const cp = this.controlPlane!;
    out();
    out('== Everything keeps running. Try your own manifests: ==');
    out(`  kubeconfig:   ${cp.kubeconfig}`);
    out(`  kubectl:      ${cp.kubectl}`);
    out(
      `  AWS endpoint: ${this.emulator!.endpoint}  (control API: ${this.emulator!.endpoint}/_emulator/calls)`,
    );
    out(`  operator log: ${this.operatorLogPath}`);
    out(`  KMS keys:     ${Object.values(this.keys).join('\n                ')}`);
    out();
    out(`  KUBECONFIG=${cp.kubeconfig} ${cp.kubectl} get emrsa`);
    out(`  KUBECONFIG=${cp.kubeconfig} ${cp.kubectl} get emrjob`);
    out(`  KUBECONFIG=${cp.kubeconfig} ${cp.kubectl} describe emrsa reports`);
    out(
      `  KUBECONFIG=${cp.kubeconfig} ${cp.kubectl} get events --field-selector involvedObject.kind=EmrServerlessApplication`,
    );
    out();
    out('  Manifests of your own can use the KMS keys above (the placeholders in examples/ are not keys');
    out("  here); the local service's control API is described in docs/local-aws-service.md.");
    out();
    out('Press Ctrl-C to stop the operator, the local AWS service and the control plane.');
  }

  /** Stops the operator, the local service and the control plane; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const operator = this.operator;
      if (operator && operator.exitCode === null && operator.signalCode === null) {
        const exited = new Promise((resolve) => operator.once('exit', resolve));
        operator.kill('SIGTERM');
        const timer = setTimeout(() => operator.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      this.operatorLog?.end();
      await this.emulator?.close();
      await this.controlPlane?.stop();
    })();
    return this.stopping;
  }
}

function describeDisk(disk: unknown): string {
  const arn = (disk as { encryptionKeyArn?: string } | undefined)?.encryptionKeyArn;
  return arn ? JSON.stringify(disk) : `${JSON.stringify(disk ?? null)} (the AWS-owned key)`;
}

/** `DescribeKey, GetApplication ×3, CreateApplication` */
function summarise(calls: Call[]): string {
  if (calls.length === 0) return 'none';
  const parts: Array<{ name: string; count: number }> = [];
  for (const c of calls) {
    const name = c.status === 200 ? c.operation : `${c.operation} (${c.status} ${c.errorType ?? ''})`.trim();
    const last = parts.at(-1);
    if (last?.name === name) last.count++;
    else parts.push({ name, count: 1 });
  }
  return parts.map((p) => (p.count > 1 ? `${p.name} ×${p.count}` : p.name)).join(', ');
}

export async function demoCommand(args: string[]): Promise<number> {
  let values: { fast?: boolean; 'exit-when-done'?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        fast: { type: 'boolean' },
        'exit-when-done': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }

  const demo = new Demo(values.fast === true);
  let resolveSignal: (signal: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    resolveSignal = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    out(`\n${signal}: stopping the operator, the local AWS service and the control plane...`);
    resolveSignal(signal);
    void demo.stop().then(() => {
      out('stopped.');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await demo.start();
    await demo.steps();
    await demo.jobRunSteps();
  } catch (error) {
    console.error(`demo failed: ${(error as Error).message}`);
    await demo.stop();
    return 1;
  }
  if (values['exit-when-done']) {
    out();
    out('demo done; stopping everything (--exit-when-done).');
    await demo.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return 0;
  }
  demo.printHowToContinue();
  await signalled;
  await demo.stop();
  return 0;
}
