// End-to-end benchmark of the operator: a real kube-apiserver + etcd (src/envtest), the local AWS
// service as a child process, and the operator as a child process (the built CLI), so that each
// one's CPU and memory can be told apart.
//
//   npm run build && npm run bench               full: sync of 1,000 and 5,000, steady 5,000, memory 10,000
//   npm run bench -- --quick                     N = 200 everywhere, a few minutes
//   npm run bench -- --quick --profile           also `node --cpu-prof` the operator, summarised
//   npm run bench -- --only latency,sync         a subset (latency, sync, steady, throttle, memory)
//
// Writes bench-results/latest.json (and bench-results/<mode>.json) and prints a table.
// See bench/README.md for what each figure means and how it is measured.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CreateApplicationCommand, EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { diskEncryptionKeyPolicy } from '../src/aws/policies.js';
import { EmulatorControl } from '../src/emulator/control-client.js';
import type { Call } from '../src/emulator/server.js';
import { type ControlPlane, findRepoRoot, startControlPlane } from '../src/envtest/index.js';
import { summariseProfile } from './lib/cpuprofile.js';
import { summariseHeap } from './lib/heapsnapshot.js';
import { adminClient, EventWatch, Kube, mapLimit, type Resource, ResourceWatch } from './lib/kube.js';
import {
  deploymentNodeOptions,
  deploymentRuntimeEnv,
  type EmulatorProcess,
  type Metrics,
  machineBusySeconds,
  type OperatorOptions,
  type OperatorProcess,
  pidsMentioning,
  procStats,
  startEmulatorProcess,
  startOperatorProcess,
} from './lib/procs.js';
import { countBy, percentile, round, table } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
    only: { type: 'string' },
    concurrency: { type: 'string', default: '10' },
    'sync-sizes': { type: 'string' },
    'shards-size': { type: 'string' },
    'shards-rps': { type: 'string', default: '50' },
    'node-options': { type: 'string' },
    'operator-node': { type: 'string', default: 'path' },
  },
});

const quick = flags.quick === true;
const SCENARIOS = ['latency', 'sync', 'steady', 'throttle', 'memory', 'noisy', 'shards'] as const;
/** The steady window: one full-read cycle of `run --full-read-every` (default 6 resync periods). */
const STEADY_WINDOW_PERIODS = 6;
const only = new Set(flags.only ? flags.only.split(',') : SCENARIOS);
const concurrency = Number(flags.concurrency);
// The operator runs with the V8 flags the shipped Deployment sets, unless told otherwise.
const nodeOptions = flags['node-options'] ?? deploymentNodeOptions();
const operatorNodeArgs = nodeOptions.split(/\s+/).filter(Boolean);
// And the Deployment's glibc tuning (MALLOC_ARENA_MAX), recorded in the report as operatorEnv.
const { NODE_OPTIONS: _deploymentNodeOptions, ...operatorEnv } = deploymentRuntimeEnv();
// The Node.js that runs the operator: this one (`path`), or the image's (`image`: package.json
// config.imageNodeVersion, installed by scripts/node.sh as the tests do).
const operatorNode = operatorNodeBinary(flags['operator-node'] ?? 'path');

const config = quick
  ? {
      latencyChanges: 50,
      syncSizes: [200],
      syncRps: 50,
      steadyPeriodS: 10,
      throttleResources: 20,
      throttleSeconds: 15,
      memoryTotal: 1_000,
      memorySettleS: 10,
      shardsTotal: 2_000,
    }
  : {
      latencyChanges: 50,
      syncSizes: [1_000, 5_000],
      syncRps: 50,
      steadyPeriodS: 20,
      throttleResources: 100,
      throttleSeconds: 60,
      memoryTotal: 10_000,
      memorySettleS: 30,
      shardsTotal: 50_000,
    };

if (flags['sync-sizes']) config.syncSizes = flags['sync-sizes'].split(',').map(Number);
if (flags['shards-size']) config.shardsTotal = Number(flags['shards-size']);

const root = findRepoRoot();
const resultsDir = join(root, 'bench-results');
const runDir = join(
  resultsDir,
  'runs',
  `${quick ? 'quick' : 'full'}-${new Date().toISOString().replace(/[:.]/g, '-')}`,
);
mkdirSync(runDir, { recursive: true });

let report: Record<string, unknown> = {};
const notes: string[] = [];
const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Ctx {
  cp: ControlPlane;
  kube: Kube;
  emu: EmulatorProcess;
  control: EmulatorControl;
  sdk: EMRServerlessClient;
  keyA: string;
  keyB: string;
}

// --- helpers -------------------------------------------------------------------------------------

function operatorOptions(ctx: Ctx, scenario: string, o: Partial<OperatorOptions>): OperatorOptions {
  let cpuProfDir: string | undefined;
  if (flags.profile) {
    cpuProfDir = join(runDir, 'profiles', scenario);
    rmSync(cpuProfDir, { recursive: true, force: true });
    mkdirSync(cpuProfDir, { recursive: true });
  }
  return {
    kubeconfig: ctx.cp.kubeconfig,
    awsEndpoint: ctx.emu.endpoint,
    awsRps: 50,
    resyncPeriod: '10m',
    concurrency,
    logFile: join(runDir, `operator-${scenario}.log`),
    ...(cpuProfDir && { cpuProfDir }),
    ...o,
    nodeArgs: [...operatorNodeArgs, ...(o.nodeArgs ?? [])],
    node: operatorNode.binary,
    env: { ...operatorEnv, ...o.env },
  };
}

function operatorNodeBinary(which: string): { binary: string; version: string } {
  if (which === 'path') return { binary: process.execPath, version: process.version };
  if (which !== 'image') throw new Error(`--operator-node: path or image, not ${which}`);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    config: { imageNodeVersion: string };
  };
  const script = new URL('../scripts/node.sh', import.meta.url).pathname;
  const binary = execFileSync(script, [pkg.config.imageNodeVersion, '-p', 'process.execPath'], {
    encoding: 'utf8',
  }).trim();
  return { binary, version: `v${pkg.config.imageNodeVersion}` };
}

/** Stops the operator; with --profile, summarises its CPU profile into the report. */
async function stopOperator(op: OperatorProcess, scenario: string): Promise<void> {
  await op.stop();
  if (!flags.profile) return;
  const dir = join(runDir, 'profiles', scenario);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return;
  const summary = summariseProfile(join(dir, file), 15);
  report.profiles ??= {};
  const profiles = report.profiles as Record<string, unknown>;
  profiles[scenario] = { file: join(dir, file), ...summary };
  log(`profile ${scenario}: busy ${summary.totalMs - summary.idleMs} ms of ${summary.totalMs} ms`);
  for (const f of summary.functions.slice(0, 10))
    log(`  ${String(f.percent).padStart(5)}%  ${f.function}  ${f.where}`);
}

/** CPU seconds of every process of the benchmark, for "who used the two cores". */
function cpuSnapshot(ctx: Ctx, op?: OperatorProcess, operators: Record<string, OperatorProcess> = {}) {
  const out: Record<string, number> = {};
  for (const { pid, name } of pidsMentioning(ctx.cp.dataDir)) {
    if (name !== 'etcd' && name !== 'kube-apiserver') continue; // the operator's --kubeconfig is there too
    const s = procStats(pid);
    if (s) out[name] = (out[name] ?? 0) + s.cpuSeconds;
  }
  out.emulator = procStats(ctx.emu.pid)?.cpuSeconds ?? 0;
  if (op) out.operator = op.stats()?.cpuSeconds ?? 0;
  for (const [name, o] of Object.entries(operators)) out[name] = o.stats()?.cpuSeconds ?? 0;
  const self = process.cpuUsage();
  out.bench = (self.user + self.system) / 1e6;
  // The whole machine's busy CPU: what is left after the above is other users' load.
  out.machine = machineBusySeconds();
  return out;
}

function cpuDelta(a: Record<string, number>, b: Record<string, number>, seconds: number) {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) out[k] = round(v - (a[k] ?? 0), 1);
  const ours = Object.entries(out)
    .filter(([k]) => k !== 'machine')
    .reduce((sum, [, v]) => sum + v, 0);
  if (out.machine !== undefined) out.others = round(Math.max(0, out.machine - ours), 1);
  out.wallSeconds = round(seconds, 1);
  out.cores = cpus().length;
  return out;
}

const callTime = (c: Call) => Date.parse(c.at);

/** Pre-creates applications in the local service (to be adopted), `limit` at once. */
async function precreateApps(ctx: Ctx, prefix: string, count: number): Promise<string[]> {
  return mapLimit(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      const out = await ctx.sdk.send(
        new CreateApplicationCommand({ name: `${prefix}-${i}`, type: 'SPARK', releaseLabel: 'emr-7.5.0' }),
      );
      return out.applicationId!;
    },
  );
}

/**
 * Half creating (with the shared customer key), half adopting pre-created apps. With `shard`, the
 * resources are named `<shard>-create-i` / `<shard>-adopt-i` and labelled `shard=<shard>`.
 */
async function createMixed(
  ctx: Ctx,
  namespace: string,
  n: number,
  prefix: string,
  shard?: string,
): Promise<void> {
  const adopt = Math.floor(n / 2);
  const ids = await precreateApps(ctx, `${prefix}-adopted`, adopt);
  const name = (kind: string, i: number) => (shard ? `${shard}-${kind}-${i}` : `${kind}-${i}`);
  const labels = shard ? { labels: { shard } } : {};
  const specs = [
    ...Array.from({ length: n - adopt }, (_, i) => ({
      name: name('create', i),
      ...labels,
      spec: {
        name: `${prefix}-created-${i}`,
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyA },
      },
    })),
    ...ids.map((id, i) => ({ name: name('adopt', i), ...labels, spec: { applicationId: id } })),
  ];
  await ctx.kube.ensureNamespace(namespace);
  await ctx.kube.createAll(namespace, specs, 32);
}

/** The minimal AWS calls of an initial sync of `createMixed(n)`: see bench/README.md. */
function minimalSyncCalls(n: number): number {
  const keys = 1; // every created resource declares the same customer-managed key
  const creates = n - Math.floor(n / 2);
  const adopts = Math.floor(n / 2);
  // DescribeKey once per distinct key; create = CreateApplication + GetApplication (its state);
  // adopt = GetApplication, then the ownership claim (src/reconcile/ownership.ts): GetApplication
  // again under the claim lock, TagResource, GetApplication as read after the tag.
  return keys + creates * 2 + adopts * 4;
}

async function waitForReconciles(op: OperatorProcess, atLeast: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await op.metrics();
    if (m.sum('controller_runtime_reconcile_total') >= atLeast) return;
    if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} reconciles after ${timeoutMs} ms`);
    await sleep(250);
  }
}

// --- 1. single change latency ----------------------------------------------------------------------

async function latencyScenario(ctx: Ctx): Promise<void> {
  const ns = 'bench-latency';
  const name = 'latency';
  log(`latency: ${config.latencyChanges} key changes of one STOPPED application`);
  await ctx.kube.ensureNamespace(ns);
  await ctx.kube.createAll(ns, [
    {
      name,
      spec: {
        name: 'latency',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyA },
      },
    },
  ]);
  const watch = new ResourceWatch(ctx.kube.client, ns);
  await watch.start();
  const op = await startOperatorProcess(operatorOptions(ctx, 'latency', { namespace: ns, awsRps: 20 }));
  await op.ready();
  await watch.until(() => watch.ready === 1, 60_000, 'the latency resource to be Ready');
  const obj = watch.objects.get(name)!;
  const appId = (obj.status as { applicationId?: string }).applicationId!;
  await ctx.control.patchApplication(appId, { state: 'STOPPED' });
  await sleep(500);
  await fetch(`${ctx.emu.endpoint}/_emulator/calls`, { method: 'DELETE' });

  const changes: Array<{ sentAt: number; acceptedAt: number; generation: number; readyAt: number }> = [];
  for (let i = 0; i < config.latencyChanges; i++) {
    const key = i % 2 === 0 ? ctx.keyB : ctx.keyA;
    const sentAt = Date.now();
    const res = await ctx.kube.patchSpec(ns, name, {
      diskEncryptionConfiguration: { encryptionKeyArn: key },
    });
    const acceptedAt = Date.now();
    const generation = res.metadata.generation!;
    await watch.until(
      () => watch.readyAt.get(name)?.generation === generation,
      30_000,
      `generation ${generation} Ready`,
    );
    changes.push({ sentAt, acceptedAt, generation, readyAt: watch.readyAt.get(name)!.at });
    await sleep(100 + Math.random() * 150);
  }
  const calls = await ctx.control.calls();
  await stopOperator(op, 'latency');
  watch.stop();

  const updates = calls.filter((c) => c.operation === 'UpdateApplication' && c.status === 200).map(callTime);
  const toAws: number[] = [];
  const toReady = changes.map((c) => c.readyAt - c.acceptedAt);
  let u = 0;
  for (const c of changes) {
    // The first UpdateApplication at or after the patch was sent (`at` has millisecond precision).
    while (u < updates.length && (updates[u] as number) < c.sentAt - 1) u++;
    if (u < updates.length) toAws.push(Math.max(0, (updates[u] as number) - c.acceptedAt));
    u++;
  }
  if (toAws.length !== changes.length)
    notes.push(`latency: matched ${toAws.length} UpdateApplication calls to ${changes.length} changes`);
  Object.assign(report, {
    applyToAwsP50Ms: percentile(toAws, 50),
    applyToAwsP99Ms: percentile(toAws, 99),
    applyToReadyP50Ms: percentile(toReady, 50),
    applyToReadyP99Ms: percentile(toReady, 99),
    latencyChanges: changes.length,
    latencyAwsCalls: countBy(calls, (c) => c.operation),
  });
  log(
    `latency: to AWS p50 ${report.applyToAwsP50Ms} ms p99 ${report.applyToAwsP99Ms} ms; to Ready p50 ${report.applyToReadyP50Ms} ms p99 ${report.applyToReadyP99Ms} ms`,
  );
}

// --- 2. initial sync -------------------------------------------------------------------------------

async function syncScenario(ctx: Ctx, n: number): Promise<Record<string, unknown>> {
  const ns = `bench-sync-${n}`;
  log(`sync ${n}: creating ${n - Math.floor(n / 2)} resources to create and ${Math.floor(n / 2)} to adopt`);
  const createStarted = Date.now();
  await createMixed(ctx, ns, n, `sync${n}`);
  const createSeconds = (Date.now() - createStarted) / 1000;
  log(
    `sync ${n}: created in ${round(createSeconds, 1)} s (${round(n / createSeconds, 0)}/s); starting the operator`,
  );
  const watch = new ResourceWatch(ctx.kube.client, ns);
  await watch.start();
  await watch.until(() => watch.objects.size === n, 120_000, `${n} objects in the watch`);
  await fetch(`${ctx.emu.endpoint}/_emulator/calls`, { method: 'DELETE' });
  const modifiedBefore = watch.modified;
  const events = new EventWatch(ctx.kube.client, ns);
  await events.start();

  const rps = config.syncRps;
  const scenario = `sync-${n}`;
  const cpu0 = cpuSnapshot(ctx);
  const op = await startOperatorProcess(operatorOptions(ctx, scenario, { namespace: ns, awsRps: rps }));
  const syncedAt = await op.ready();
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, op.stats()?.rssMb ?? 0);
  }, 500);
  const progress = setInterval(() => log(`sync ${n}: ${watch.ready}/${n} Ready`), 15_000);
  try {
    await watch.until(() => watch.ready === n, 60 * 60_000, `all ${n} Ready`);
  } finally {
    clearInterval(progress);
    clearInterval(rssTimer);
  }
  const doneAt = Math.max(...[...watch.readyAt.values()].map((r) => r.at));
  const seconds = (doneAt - op.startedAt) / 1000;
  const cpu1 = cpuSnapshot(ctx, op);
  const m = await op.metrics();
  const rss = op.stats()?.rssMb ?? 0;
  const calls = await ctx.control.calls();
  await stopOperator(op, scenario);
  events.stop();
  watch.stop();

  const byOp = countBy(calls, (c) => c.operation);
  const minimalCalls = minimalSyncCalls(n);
  const floor = minimalCalls / rps;
  const first = calls.length ? callTime(calls[0]!) : op.startedAt;
  const kubeWrites = watch.modified - modifiedBefore;
  const out = {
    resources: n,
    seconds: round(seconds, 1),
    floorSeconds: round(floor, 1),
    ratioToFloor: round(floor / seconds, 3),
    targetSeconds: round(floor / 0.85, 1),
    met: seconds <= floor / 0.85,
    fromFirstAwsCallSeconds: round((doneAt - first) / 1000, 1),
    operatorStartToCacheSyncedSeconds: round((syncedAt - op.startedAt) / 1000, 2),
    minimalAwsCalls: minimalCalls,
    actualAwsCalls: calls.length,
    awsCallsByOperation: byOp,
    awsThrottled: calls.filter((c) => c.status === 429).length,
    kubeResourceWrites: kubeWrites,
    kubeEventWrites: events.writes,
    reconciles: m.sum('controller_runtime_reconcile_total'),
    reconcilesByResult: reconcilesByResult(m),
    operatorRssMb: round(rss, 1),
    operatorPeakRssMb: round(peakRss, 1),
    cpuSeconds: cpuDelta(cpu0, cpu1, (doneAt - op.startedAt) / 1000),
    resourceCreateSeconds: round(createSeconds, 1),
  };
  log(
    `sync ${n}: ${out.seconds} s (floor ${out.floorSeconds} s, target <= ${out.targetSeconds} s); AWS calls ${calls.length} (minimal ${minimalCalls}); CPU ${JSON.stringify(out.cpuSeconds)}`,
  );
  return out;
}

// --- 3. steady state -------------------------------------------------------------------------------

async function steadyScenario(ctx: Ctx, n: number): Promise<void> {
  const ns = `bench-sync-${n}`;
  const periodS = config.steadyPeriodS;
  log(
    `steady: ${n} in-sync resources, --resync-period ${periodS}s, --aws-rps 0 (unlimited), ${STEADY_WINDOW_PERIODS} periods`,
  );
  const watch = new ResourceWatch(ctx.kube.client, ns);
  await watch.start();
  await watch.until(() => watch.objects.size === n && watch.ready === n, 120_000, `${n} Ready objects`);
  const op = await startOperatorProcess(
    operatorOptions(ctx, 'steady', { namespace: ns, awsRps: 0, resyncPeriod: `${periodS}s` }),
  );
  await op.ready();
  await waitForReconciles(op, n, 10 * 60_000);
  // A restart reads every application once (the operator remembers nothing yet). The window
  // starts half a period after that first pass and lasts one full-read cycle (the default
  // --full-read-every), so it holds each resource's resyncs 1 to 6 and one full read of each:
  // what every cycle costs from then on.
  await sleep((periodS * 1000) / 2);
  await fetch(`${ctx.emu.endpoint}/_emulator/calls`, { method: 'DELETE' });
  const events = new EventWatch(ctx.kube.client, ns);
  await events.start();
  const modified0 = watch.modified;
  const m0 = await op.metrics();
  const cpu0 = cpuSnapshot(ctx, op);
  const t0 = Date.now();
  await sleep(STEADY_WINDOW_PERIODS * periodS * 1000);
  const windowS = (Date.now() - t0) / 1000;
  const m1 = await op.metrics();
  const cpu1 = cpuSnapshot(ctx, op);
  const calls = await ctx.control.calls();
  const kubeWrites = watch.modified - modified0;
  const rss = op.stats()?.rssMb ?? 0;
  const heapMb = m1.sum('nodejs_heap_size_used_bytes') / 2 ** 20;
  events.stop();
  await stopOperator(op, 'steady');
  watch.stop();

  const periods = windowS / periodS;
  const reads = new Set([
    'GetApplication',
    'ListApplications',
    'ListJobRuns',
    'DescribeKey',
    'GetJobRun',
    'ListTagsForResource',
  ]);
  const byOp = countBy(calls, (c) => c.operation);
  const gets = byOp.GetApplication ?? 0;
  const writes = calls.filter((c) => !reads.has(c.operation)).length;
  const kms = calls.filter((c) => c.service === 'kms').length;
  const getsPerApp = Object.values(
    countBy(
      calls.filter((c) => c.operation === 'GetApplication'),
      (c) => c.applicationId ?? '?',
    ),
  );
  const reconciles =
    m1.sum('controller_runtime_reconcile_total') - m0.sum('controller_runtime_reconcile_total');
  const operatorCpu = (cpu1.operator ?? 0) - (cpu0.operator ?? 0);
  Object.assign(report, {
    steadyResources: n,
    steadyResyncPeriodSeconds: periodS,
    steadyWindowSeconds: round(windowS, 1),
    steadyAwsCallsPerResourcePeriod: round(calls.length / n / periods, 3),
    steadyGetsPerResourcePeriod: round(gets / n / periods, 3),
    steadyGetsPerResourceMinMax: [Math.min(...getsPerApp), Math.max(...getsPerApp)],
    steadyAwsWritesPerResourcePeriod: round(writes / n / periods, 4),
    steadyKmsCallsPerPeriod: round(kms / periods, 2),
    steadyDistinctKeys: 1,
    steadyAwsCallsByOperation: byOp,
    steadyKubeWrites: kubeWrites + events.writes,
    steadyKubeWritesDetail: { resourceModified: kubeWrites, events: events.writes },
    steadyReconciles: reconciles,
    cpuSecondsPer1000Reconciles: round((operatorCpu / reconciles) * 1000, 3),
    steadyCpuSeconds: cpuDelta(cpu0, cpu1, windowS),
    steadyRssMb: round(rss, 1),
    steadyHeapUsedMb: round(heapMb, 1),
  });
  log(
    `steady: ${report.steadyAwsCallsPerResourcePeriod} AWS calls/resource/period (${report.steadyGetsPerResourcePeriod} Get), writes ${writes}, KMS ${kms}, kube writes ${report.steadyKubeWrites}, ${report.cpuSecondsPer1000Reconciles} CPU s/1000 reconciles`,
  );
}

// --- 5. throttling storm ---------------------------------------------------------------------------

async function throttleScenario(ctx: Ctx): Promise<void> {
  const ns = 'bench-throttle';
  const m = config.throttleResources;
  const stormS = config.throttleSeconds;
  log(
    `throttle: ${m} resources, 30% ThrottlingException on every operation for ${stormS} s while each gets a key change`,
  );
  await ctx.kube.ensureNamespace(ns);
  await ctx.kube.createAll(
    ns,
    Array.from({ length: m }, (_, i) => ({
      name: `storm-${i}`,
      spec: {
        name: `storm-${i}`,
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyA },
      },
    })),
  );
  const watch = new ResourceWatch(ctx.kube.client, ns);
  await watch.start();
  const op = await startOperatorProcess(operatorOptions(ctx, 'throttle', { namespace: ns, awsRps: 50 }));
  await op.ready();
  await watch.until(() => watch.ready === m, 5 * 60_000, `${m} Ready`);
  await sleep(1_000);
  await fetch(`${ctx.emu.endpoint}/_emulator/calls`, { method: 'DELETE' });
  const m0 = await op.metrics();
  const latest = new Map<string, number>();
  const acceptedAt = new Map<string, number>();
  await ctx.control.fault({ operation: '*', status: 429, errorType: 'ThrottlingException', rate: 0.3 });
  const stormStart = Date.now();
  for (let i = 0; i < m; i++) {
    const dueAt = stormStart + (i * 0.8 * stormS * 1000) / m;
    const wait = dueAt - Date.now();
    if (wait > 0) await sleep(wait);
    const res = await ctx.kube.patchSpec(ns, `storm-${i}`, {
      diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyB },
    });
    latest.set(`storm-${i}`, res.metadata.generation!);
    acceptedAt.set(`storm-${i}`, Date.now());
  }
  const left = stormStart + stormS * 1000 - Date.now();
  if (left > 0) await sleep(left);
  await ctx.control.clearFaults();
  const stormEnd = Date.now();
  const readyDuringStorm = [...latest].filter(
    ([k, g]) => (watch.readyAt.get(k)?.generation ?? -1) === g,
  ).length;
  const converged = () => [...latest].every(([k, g]) => watch.readyAt.get(k)?.generation === g);
  await watch.until(converged, 15 * 60_000, 'convergence after the storm');
  const lastReady = Math.max(...[...latest.keys()].map((k) => watch.readyAt.get(k)!.at));
  const changeToReady = [...latest.keys()].map((k) => watch.readyAt.get(k)!.at - acceptedAt.get(k)!);
  const m1 = await op.metrics();
  const calls = await ctx.control.calls();
  await stopOperator(op, 'throttle');
  watch.stop();
  const diff = (name: string, match: Record<string, string> = {}) =>
    m1.sum(name, match) - m0.sum(name, match);
  Object.assign(report, {
    throttleResources: m,
    throttleStormSeconds: stormS,
    throttleConvergeSeconds: round(Math.max(0, lastReady - stormEnd) / 1000, 2),
    throttleReadyDuringStorm: readyDuringStorm,
    throttleChangeToReadyP50Ms: percentile(changeToReady, 50),
    throttleChangeToReadyP99Ms: percentile(changeToReady, 99),
    throttleRetries: diff('emr_serverless_operator_aws_retries_total'),
    throttle429s: calls.filter((c) => c.status === 429).length,
    throttleAwsCalls: calls.length,
    throttleFailedAwsCalls:
      diff('emr_serverless_operator_aws_calls_total') -
      diff('emr_serverless_operator_aws_calls_total', { outcome: 'success' }),
    throttleReconcileErrors: diff('controller_runtime_reconcile_errors_total'),
    throttleUpdates: calls.filter((c) => c.operation === 'UpdateApplication' && c.status === 200).length,
  });
  log(
    `throttle: converged ${report.throttleConvergeSeconds} s after the storm; ${report.throttleRetries} SDK retries, ${report.throttle429s} 429s, ${readyDuringStorm}/${m} converged during the storm`,
  );
}

// --- 4. memory -------------------------------------------------------------------------------------

async function memoryScenario(ctx: Ctx): Promise<void> {
  const total = config.memoryTotal;
  // Idle: an operator started on a namespace with no resources, once settled.
  await ctx.kube.ensureNamespace('bench-idle');
  const idle = await startOperatorProcess(
    operatorOptions(ctx, 'idle', { namespace: 'bench-idle', awsRps: 0, logLevel: 'warn' }),
  );
  await idle.ready();
  await sleep(config.memorySettleS * 1000);
  Object.assign(report, {
    idleRssMb: round(idle.stats()?.rssMb ?? 0, 1),
    idleHeapUsedMb: round((await idle.metrics()).sum('nodejs_heap_size_used_bytes') / 2 ** 20, 1),
  });
  await stopOperator(idle, 'idle');
  log(`memory: idle RSS ${report.idleRssMb} MB, heap used ${report.idleHeapUsedMb} MB`);
  log(`memory: operator on all namespaces, growing to ${total} resources`);
  const watch = new ResourceWatch(ctx.kube.client, undefined);
  await watch.start();
  const existing = await ctx.kube.count();
  await watch.until(() => watch.objects.size >= existing, 5 * 60_000, `${existing} objects in the watch`);
  const heapDir = join(runDir, 'heap');
  const snapshots = flags['heap-snapshot'] === true;
  if (snapshots) mkdirSync(heapDir, { recursive: true });
  const op = await startOperatorProcess(
    operatorOptions(ctx, 'memory', {
      awsRps: 0,
      logLevel: 'warn',
      ...(snapshots && { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`] }),
    }),
  );
  /** RSS as it stands, then (with --heap-snapshot) a snapshot, which collects garbage first. */
  const point = async (resources: number) => {
    const rssMb = op.stats()?.rssMb ?? 0;
    const heapMb = (await op.metrics()).sum('nodejs_heap_size_used_bytes') / 2 ** 20;
    if (!snapshots) return { resources, rssMb, heapMb };
    const seen = new Set(readdirSync(heapDir));
    op.signal('SIGUSR2');
    let file: string | undefined;
    for (let i = 0; i < 600 && !file; i++) {
      await sleep(500);
      file = readdirSync(heapDir).find((f) => !seen.has(f) && f.endsWith('.heapsnapshot'));
    }
    // Complete once its size stops changing.
    for (let last = -1, size = 0; file && size !== last; ) {
      last = size;
      await sleep(1_000);
      size = statSync(join(heapDir, file)).size;
    }
    const retainedHeapMb = (await op.metrics()).sum('nodejs_heap_size_used_bytes') / 2 ** 20;
    const summary = file ? summariseHeap(join(heapDir, file), 25) : undefined;
    return { resources, rssMb, heapMb, retainedHeapMb, snapshot: file && join(heapDir, file), summary };
  };
  await op.ready();
  await waitForReconciles(op, existing, 10 * 60_000);
  await sleep(config.memorySettleS * 1000);
  const before = await point(existing);
  const add = Math.max(0, total - existing);
  log(`memory: ${existing} resources, RSS ${round(before.rssMb, 1)} MB; adding ${add}`);
  if (add > 0) {
    await createMixed(ctx, 'bench-memory', add, 'memory');
    await watch.until(
      () => watch.objects.size >= total && watch.ready >= total,
      30 * 60_000,
      `${total} Ready`,
    );
  }
  await sleep(config.memorySettleS * 1000);
  const after = await point(watch.objects.size);
  const m = await op.metrics();
  const reconciles = m.sum('controller_runtime_reconcile_total');
  const cpu = m.sum('process_cpu_seconds_total');
  await stopOperator(op, 'memory');
  watch.stop();
  const added = Math.max(1, after.resources - before.resources);
  Object.assign(report, {
    rssMb: round(after.rssMb, 1),
    resources: after.resources,
    rssMbPer1000: round(((after.rssMb - before.rssMb) / added) * 1000, 2),
    heapUsedMb: round(after.heapMb, 1),
    heapUsedMbPer1000: round(((after.heapMb - before.heapMb) / added) * 1000, 2),
    ...(after.retainedHeapMb !== undefined &&
      before.retainedHeapMb !== undefined && {
        retainedHeapMbPer1000: round(((after.retainedHeapMb - before.retainedHeapMb) / added) * 1000, 2),
      }),
    memoryPoints: [before, after].map((p) => ({
      ...p,
      rssMb: round(p.rssMb, 1),
      heapMb: round(p.heapMb, 1),
      ...(p.retainedHeapMb !== undefined && { retainedHeapMb: round(p.retainedHeapMb, 1) }),
    })),
    memoryCpuSecondsPer1000Reconciles: round((cpu / reconciles) * 1000, 3),
  });
  log(
    `memory: ${after.resources} resources, RSS ${report.rssMb} MB (+${report.rssMbPer1000} MB per 1000), heap ${report.heapUsedMb} MB`,
  );
}

// --- 6. two shards --------------------------------------------------------------------------------

const SHARDS = ['a', 'b'] as const;
type Shard = (typeof SHARDS)[number];

interface ShardSync {
  resources: number;
  seconds: number;
  floorSeconds: number;
  ratioToFloor: number;
  met: boolean;
  minimalAwsCalls: number;
  actualAwsCalls: number;
  awsCallsByOperation: Record<string, number>;
  /**
   * Where the time beyond the floor goes, from the emulator's log of this shard's calls: spawn to
   * first AWS call (start-up, cache sync, lease), the rate kept from the first call to the last
   * (at most --aws-rps, plus the bucket's first second of burst), last call to last Ready.
   */
  toFirstAwsCallSeconds?: number;
  awsCallsPerSecond?: number;
  afterLastAwsCallSeconds: number;
  /**
   * Whether the emulator's log still held all of this shard's calls: it keeps the last 100,000,
   * so at 50,000 resources the sync's first calls are gone and the first two figures are left out.
   */
  callLogComplete: boolean;
  reconciles: number;
  reconcilesByResult: Record<string, number>;
  rssMb: number;
  peakRssMb: number;
  heapUsedMb: number;
  cpuSeconds: number;
}

interface ShardSteady {
  resources: number;
  awsCallsByOperation: Record<string, number>;
  awsCallsPerResourcePeriod: number;
  reconciles: number;
  rssMb: number;
  heapUsedMb: number;
}

interface ShardsReport {
  resources: number;
  perShard: number;
  awsRps: number;
  resourceCreateSeconds: number;
  initialSync: Record<string, ShardSync>;
  initialSyncCpuSeconds: Record<string, number>;
  busyNeighbour: {
    changes: number;
    applyToReadyP50Ms: number | undefined;
    applyToReadyP99Ms: number | undefined;
    applyToReadyMaxMs: number | undefined;
    neighbourFirstPassSeconds: number;
  };
  steady: {
    resyncPeriodSeconds: number;
    windowSeconds: number;
    kubeResourceWrites: number;
    shards: Record<string, ShardSteady>;
  };
}

/** An operator's reconciles by result, from its own metrics. */
function reconcilesByResult(m: Metrics): Record<string, number> {
  return Object.fromEntries(
    ['success', 'requeue', 'requeue_after', 'error'].map((r) => [
      r,
      m.sum('controller_runtime_reconcile_total', { result: r }),
    ]),
  );
}

/** AWS calls an operator made, by operation, from its own metrics (the emulator's log is shared). */
function awsCallsByOperation(m: Metrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of m.samples) {
    if (s.name !== 'emr_serverless_operator_aws_calls_total') continue;
    const op = s.labels.operation ?? '?';
    out[op] = (out[op] ?? 0) + s.value;
  }
  return out;
}

/** Waits for `check` (3 h at most); fails at once, with the shard's RSS, if an operator exits. */
async function untilOrExit(
  watch: ResourceWatch,
  check: () => boolean,
  ops: Map<Shard, OperatorProcess>,
  what: string,
): Promise<void> {
  const lastRss = new Map<Shard, number>();
  let crashed: string | undefined;
  const poll = setInterval(() => {
    for (const [shard, op] of ops) {
      const ended = op.exited();
      if (ended === undefined) {
        lastRss.set(shard, op.stats()?.rssMb ?? 0);
      } else if (crashed === undefined) {
        crashed = `shard ${shard}'s operator ended (${ended}) with ${watch.ready} resources Ready; its last RSS ${round(lastRss.get(shard) ?? 0, 1)} MB`;
        watch.recheck();
      }
    }
  }, 250);
  try {
    await watch.until(() => check() || crashed !== undefined, 3 * 60 * 60_000, what);
    if (crashed) throw new Error(crashed);
  } finally {
    clearInterval(poll);
  }
}

function diffCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}

const sumOf = (counts: Record<string, number>) => Object.values(counts).reduce((x, y) => x + y, 0);

/**
 * N resources over two shards of one namespace (labels shard=a / shard=b), one operator process
 * per shard (`--watch-label-selector shard=X`, each with its own Lease):
 *   1. initial sync of both at once, each against its own rate floor;
 *   2. both restarted with a short resync period and unlimited rate; while shard b's restart is
 *      busy with its first pass over every resource, key changes of one resource of shard a
 *      (apply -> Ready), then a steady window of one full-read cycle, as the steady scenario's:
 *      AWS calls per resource per period;
 *   RSS of each process at the end of each phase.
 */
async function shardsScenario(ctx: Ctx): Promise<void> {
  const total = config.shardsTotal;
  const perShard = Math.floor(total / 2);
  const ns = 'bench-shards';
  const rps = Number(flags['shards-rps']);
  // Unlimited rate in steady state, so the period must leave each shard's resyncs room.
  const periodS = Math.max(config.steadyPeriodS, Math.ceil(perShard / 200));
  const shardOptions = (shard: Shard, phase: string, o: Partial<OperatorOptions>) =>
    operatorOptions(ctx, `shards-${phase}-${shard}`, {
      namespace: ns,
      runArgs: [
        `--watch-label-selector=shard=${shard}`,
        '--leader-elect',
        `--leader-election-namespace=${ns}`,
        `--leader-election-id=bench-shard-${shard}`,
      ],
      // Its own access key id: the emulator's log tells the shards' calls apart by it.
      env: { AWS_ACCESS_KEY_ID: `bench-shard-${shard}`, AWS_SECRET_ACCESS_KEY: 'bench' },
      ...o,
    });
  const resourcesOf = (shard: Shard) => perShard + (shard === 'a' ? 1 : 0); // shard a holds the probe

  log(`shards: ${total} resources, ${perShard} per shard (half created, half adopted)`);
  const createStarted = Date.now();
  for (const shard of SHARDS) await createMixed(ctx, ns, perShard, `shard${shard}`, shard);
  const createSeconds = (Date.now() - createStarted) / 1000;
  log(`shards: created in ${round(createSeconds, 1)} s; starting one operator per shard`);
  const watch = new ResourceWatch(ctx.kube.client, ns);
  await watch.start();
  await watch.until(() => watch.objects.size >= 2 * perShard, 10 * 60_000, `${total} objects in the watch`);

  // 1. Initial sync, both shards at once.
  const cpu0 = cpuSnapshot(ctx);
  const syncOps = new Map<Shard, OperatorProcess>();
  for (const shard of SHARDS)
    syncOps.set(
      shard,
      // A resync period longer than the sync: the figure is the initial sync alone (at 25,000
      // per shard and 50/s the floor, 1,500 s, is longer than the default 10 min).
      await startOperatorProcess(shardOptions(shard, 'sync', { awsRps: rps, resyncPeriod: '2h' })),
    );
  const peakRss = new Map<Shard, number>();
  const rssTimer = setInterval(() => {
    for (const [shard, op] of syncOps)
      peakRss.set(shard, Math.max(peakRss.get(shard) ?? 0, op.stats()?.rssMb ?? 0));
  }, 500);
  const progress = setInterval(() => log(`shards: ${watch.ready}/${total} Ready`), 30_000);
  try {
    await untilOrExit(watch, () => watch.ready >= total, syncOps, `all ${total} Ready`);
  } finally {
    clearInterval(progress);
    clearInterval(rssTimer);
  }
  const cpu1 = cpuSnapshot(
    ctx,
    undefined,
    Object.fromEntries([...syncOps].map(([s, o]) => [`operator-${s}`, o])),
  );
  const sync: Record<string, ShardSync> = {};
  const allCalls = await ctx.control.calls();
  let syncEnd = 0;
  for (const [shard, op] of syncOps) {
    let doneAt = 0;
    for (const [name, r] of watch.readyAt) if (name.startsWith(`${shard}-`)) doneAt = Math.max(doneAt, r.at);
    syncEnd = Math.max(syncEnd, doneAt);
    const seconds = (doneAt - op.startedAt) / 1000;
    const floor = minimalSyncCalls(perShard) / rps;
    const m = await op.metrics();
    const byOp = awsCallsByOperation(m);
    // Tens of thousands of calls: a loop, not Math.min(...times) (too many arguments).
    let firstCall = Number.POSITIVE_INFINITY;
    let lastCall = 0;
    let shardCalls = 0;
    for (const call of allCalls) {
      if (call.caller !== `bench-shard-${shard}`) continue;
      const at = callTime(call);
      firstCall = Math.min(firstCall, at);
      lastCall = Math.max(lastCall, at);
      shardCalls++;
    }
    sync[shard] = {
      resources: perShard,
      seconds: round(seconds, 1),
      floorSeconds: round(floor, 1),
      ratioToFloor: round(floor / seconds, 3),
      met: floor / seconds >= 0.95,
      minimalAwsCalls: minimalSyncCalls(perShard),
      actualAwsCalls: sumOf(byOp),
      awsCallsByOperation: byOp,
      ...(shardCalls >= sumOf(byOp) && {
        toFirstAwsCallSeconds: round((firstCall - op.startedAt) / 1000, 2),
        awsCallsPerSecond: round(shardCalls / ((lastCall - firstCall) / 1000), 2),
      }),
      afterLastAwsCallSeconds: round((doneAt - lastCall) / 1000, 2),
      callLogComplete: shardCalls >= sumOf(byOp),
      reconciles: m.sum('controller_runtime_reconcile_total'),
      reconcilesByResult: reconcilesByResult(m),
      rssMb: round(op.stats()?.rssMb ?? 0, 1),
      peakRssMb: round(peakRss.get(shard) ?? 0, 1),
      heapUsedMb: round(m.sum('nodejs_heap_size_used_bytes') / 2 ** 20, 1),
      cpuSeconds: round((cpu1[`operator-${shard}`] ?? 0) - (cpu0[`operator-${shard}`] ?? 0), 1),
    };
  }
  const syncCpu = cpuDelta(
    cpu0,
    cpu1,
    (syncEnd - Math.min(...[...syncOps.values()].map((o) => o.startedAt))) / 1000,
  );
  log(`shards: initial sync ${JSON.stringify(sync)}`);

  // The probe: one STOPPED application of shard a whose key the latency phase changes.
  const probe = 'a-probe';
  await ctx.kube.createAll(ns, [
    {
      name: probe,
      labels: { shard: 'a' },
      spec: {
        name: 'shards-probe',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyA },
      },
    },
  ]);
  await watch.until(() => watch.readyAt.has(probe), 5 * 60_000, 'the probe to be Ready');
  const probeApp = (watch.objects.get(probe)!.status as { applicationId?: string }).applicationId!;
  await ctx.control.patchApplication(probeApp, { state: 'STOPPED' });
  for (const [shard, op] of syncOps) await stopOperator(op, `shards-sync-${shard}`);

  // 2. Restart with a short period: shard a first; shard b's first pass is the busy neighbour.
  log(`shards: restarting both with --resync-period ${periodS}s --aws-rps 0`);
  const ops = new Map<Shard, OperatorProcess>();
  const firstPass = async (shard: Shard) => {
    const op = await startOperatorProcess(
      shardOptions(shard, 'steady', { awsRps: 0, resyncPeriod: `${periodS}s` }),
    );
    ops.set(shard, op);
    await op.ready(10 * 60_000);
    return op;
  };
  const opA = await firstPass('a');
  await waitForReconciles(opA, resourcesOf('a'), 60 * 60_000);
  const opB = await firstPass('b');
  const busy = async () => (await opB.metrics()).sum('controller_runtime_reconcile_total') < resourcesOf('b');
  const toReady: number[] = [];
  for (let i = 0; i < config.latencyChanges && (await busy()); i++) {
    const res = await ctx.kube.patchSpec(ns, probe, {
      diskEncryptionConfiguration: { encryptionKeyArn: i % 2 === 0 ? ctx.keyB : ctx.keyA },
    });
    const acceptedAt = Date.now();
    const generation = res.metadata.generation!;
    await watch.until(
      () => watch.readyAt.get(probe)?.generation === generation,
      5 * 60_000,
      `probe generation ${generation} Ready`,
    );
    // Only changes that became Ready while shard b was still on its first pass count.
    if (await busy()) toReady.push(watch.readyAt.get(probe)!.at - acceptedAt);
    await sleep(100 + Math.random() * 150);
  }
  const bFirstPassStart = opB.startedAt;
  await waitForReconciles(opB, resourcesOf('b'), 60 * 60_000);
  const bFirstPassSeconds = (Date.now() - bFirstPassStart) / 1000;
  log(
    `shards: ${toReady.length} probe changes during shard b's first pass (${round(bFirstPassSeconds, 1)} s): to Ready p50 ${percentile(toReady, 50)} ms p99 ${percentile(toReady, 99)} ms`,
  );

  // Steady: from half a period after b's first pass, one full-read cycle (as the steady scenario).
  await sleep((periodS * 1000) / 2);
  const m0 = new Map<Shard, Metrics>();
  for (const [shard, op] of ops) m0.set(shard, await op.metrics());
  const modified0 = watch.modified;
  const t0 = Date.now();
  await sleep(STEADY_WINDOW_PERIODS * periodS * 1000);
  const windowS = (Date.now() - t0) / 1000;
  const steady: Record<string, ShardSteady> = {};
  for (const [shard, op] of ops) {
    const m1 = await op.metrics();
    const before = m0.get(shard)!;
    const byOp = diffCounts(awsCallsByOperation(before), awsCallsByOperation(m1));
    steady[shard] = {
      resources: resourcesOf(shard),
      awsCallsByOperation: byOp,
      awsCallsPerResourcePeriod: round(sumOf(byOp) / resourcesOf(shard) / (windowS / periodS), 3),
      reconciles:
        m1.sum('controller_runtime_reconcile_total') - before.sum('controller_runtime_reconcile_total'),
      rssMb: round(op.stats()?.rssMb ?? 0, 1),
      heapUsedMb: round(m1.sum('nodejs_heap_size_used_bytes') / 2 ** 20, 1),
    };
  }
  const kubeWrites = watch.modified - modified0;
  for (const [shard, op] of ops) await stopOperator(op, `shards-steady-${shard}`);
  watch.stop();

  const shardsReport: ShardsReport = {
    resources: total + 1,
    perShard,
    awsRps: rps,
    resourceCreateSeconds: round(createSeconds, 1),
    initialSync: sync,
    initialSyncCpuSeconds: syncCpu,
    busyNeighbour: {
      changes: toReady.length,
      applyToReadyP50Ms: percentile(toReady, 50),
      applyToReadyP99Ms: percentile(toReady, 99),
      applyToReadyMaxMs: toReady.length ? Math.max(...toReady) : undefined,
      neighbourFirstPassSeconds: round(bFirstPassSeconds, 1),
    },
    steady: {
      resyncPeriodSeconds: periodS,
      windowSeconds: round(windowS, 1),
      kubeResourceWrites: kubeWrites,
      shards: steady,
    },
  };
  report.shards = shardsReport;
  log(`shards: steady ${JSON.stringify(steady)}`);
}

// --- 7. a noisy tenant ----------------------------------------------------------------------------

/** The noisy-tenant scenario's shape: the same in quick and full runs (the 200 in 10). */
const NOISY = {
  quietNamespaces: 10,
  perNamespace: 20,
  /** Applications of the account that no resource owns: what a search by name pages through. */
  strangers: 500,
  /** Resources the flooding namespace creates at the start of the noisy phase. */
  flood: 300,
  /** The quiet tenants' key changes are spread over this many seconds. */
  windowS: 40,
  awsRps: 20,
};
const ANNOTATE_NS = 'bench-noisy-annotate';
const FLOOD_NS = 'bench-noisy-flood';
const NAMESPACE_CALLS = 'emr_serverless_operator_namespace_aws_calls_total';

interface NoisyPhase {
  changes: number;
  applyToReadyP50Ms: number;
  applyToReadyP99Ms: number;
  seconds: number;
  annotateEdits: number;
  floodCreates: number;
  /** From the emulator's log: calls per second by whom they are for (see bench/README.md). */
  awsCallsPerSecond: Record<string, number>;
  /** From the operator's own per-namespace counter, when it has one. */
  operatorCallsPerSecond?: Record<string, number>;
}

const stalledNow = (obj: Resource | undefined) =>
  (obj?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.some(
    (c) => c.type === 'Stalled' && c.status === 'True',
  ) === true;

/**
 * 200 resources in 10 quiet namespaces take a key change each, spread over 40 s, first alone,
 * then while one namespace loops `kubectl annotate` on a broken resource (Stalled AwsRejected
 * with the finalizer set and no application) and another creates 300 resources at once.
 */
async function noisyScenario(ctx: Ctx): Promise<void> {
  const quietNs = Array.from({ length: NOISY.quietNamespaces }, (_, i) => `bench-quiet-${i}`);
  const quietKeys = quietNs.flatMap((ns) =>
    Array.from({ length: NOISY.perNamespace }, (_, i) => `${ns}/q-${i}`),
  );
  log(
    `noisy: ${quietKeys.length} quiet resources in ${quietNs.length} namespaces, ${NOISY.strangers} other applications`,
  );
  const floodKey = (await ctx.control.createKey({ region: 'eu-west-1' })).Arn;
  await precreateApps(ctx, 'stranger', NOISY.strangers);
  for (const ns of quietNs) {
    await ctx.kube.ensureNamespace(ns);
    await ctx.kube.createAll(
      ns,
      Array.from({ length: NOISY.perNamespace }, (_, i) => ({
        name: `q-${i}`,
        spec: {
          name: `${ns}-q-${i}`,
          type: 'SPARK',
          releaseLabel: 'emr-7.5.0',
          diskEncryptionConfiguration: { encryptionKeyArn: ctx.keyA },
        },
      })),
    );
  }
  await ctx.kube.ensureNamespace(ANNOTATE_NS);
  await ctx.kube.ensureNamespace(FLOOD_NS);
  await ctx.kube.createAll(ANNOTATE_NS, [
    {
      // A typo admission lets through and AWS refuses (ValidationException): Stalled AwsRejected,
      // with the finalizer the refused CreateApplication was sent with, and no application.
      name: 'broken',
      spec: { name: 'broken', type: 'SPARK', releaseLabel: 'emr 7.5.0' },
    },
  ]);
  const watch = new ResourceWatch(ctx.kube.client, undefined);
  await watch.start();
  // Its namespaces only: the earlier scenarios' resources would take the budget at start-up.
  const op = await startOperatorProcess(
    operatorOptions(ctx, 'noisy', {
      awsRps: NOISY.awsRps,
      namespace: [...quietNs, ANNOTATE_NS, FLOOD_NS].join(','),
    }),
  );
  await op.ready();
  await watch.until(
    () => quietKeys.every((k) => watch.readyAt.has(k)),
    10 * 60_000,
    'the quiet resources Ready',
  );
  await watch.until(
    () => stalledNow(watch.objects.get(`${ANNOTATE_NS}/broken`)),
    60_000,
    'the broken one Stalled',
  );
  await sleep(2_000);

  const namespaceOf = (call: Call, apps: Map<string, string>): string => {
    if (call.applicationId) return apps.get(call.applicationId) ?? 'other';
    if (call.keyId && floodKey.endsWith(call.keyId)) return FLOOD_NS;
    if (call.keyId) return 'quiet';
    // Only the flooding namespace creates during the window, and only the broken one is refused;
    // a list page carries no id.
    if (call.operation === 'CreateApplication') return call.status === 200 ? FLOOD_NS : ANNOTATE_NS;
    return call.operation === 'ListApplications' ? 'ListApplications' : 'other';
  };

  const phase = async (label: string, key: string, noisy: boolean): Promise<NoisyPhase> => {
    log(
      `noisy: ${label}: ${quietKeys.length} key changes over ${NOISY.windowS} s${noisy ? ', with the noisy tenants' : ''}`,
    );
    await fetch(`${ctx.emu.endpoint}/_emulator/calls`, { method: 'DELETE' });
    const m0 = await op.metrics();
    const started = Date.now();
    let stop = false;
    let annotateEdits = 0;
    let floodCreates = 0;
    const noise: Promise<void>[] = [];
    if (noisy) {
      noise.push(
        (async () => {
          while (!stop) {
            await ctx.kube.annotate(ANNOTATE_NS, 'broken', {
              'bench.example.com/poke': String(annotateEdits),
            });
            annotateEdits++;
          }
        })(),
        (async () => {
          const specs = Array.from({ length: NOISY.flood }, (_, i) => ({
            name: `flood-${i}`,
            spec: {
              name: `flood-${i}`,
              type: 'SPARK',
              releaseLabel: 'emr-7.5.0',
              diskEncryptionConfiguration: { encryptionKeyArn: floodKey },
            },
          }));
          await ctx.kube.createAll(FLOOD_NS, specs, 8);
          floodCreates = specs.length;
        })(),
      );
    }
    const accepted = new Map<string, { at: number; generation: number }>();
    for (const [i, k] of quietKeys.entries()) {
      const wait = started + (i * NOISY.windowS * 1000) / quietKeys.length - Date.now();
      if (wait > 0) await sleep(wait);
      const [ns, name] = k.split('/') as [string, string];
      const res = await ctx.kube.patchSpec(ns, name, {
        diskEncryptionConfiguration: { encryptionKeyArn: key },
      });
      accepted.set(k, { at: Date.now(), generation: res.metadata.generation! });
    }
    await watch.until(
      () => [...accepted].every(([k, a]) => watch.readyAt.get(k)?.generation === a.generation),
      15 * 60_000,
      `${label}: every change Ready`,
    );
    const ended = Date.now();
    stop = true;
    await Promise.all(noise);
    const m1 = await op.metrics();
    const calls = (await ctx.control.calls()).filter((c) => callTime(c) >= started && callTime(c) <= ended);
    const seconds = (ended - started) / 1000;
    const apps = new Map<string, string>();
    for (const [k, obj] of watch.objects) {
      const id = (obj.status as { applicationId?: string } | undefined)?.applicationId;
      const ns = k.split('/')[0]!;
      if (id) apps.set(id, quietNs.includes(ns) ? 'quiet' : ns);
    }
    const perSecond = (counts: Record<string, number>) =>
      Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, round(v / seconds, 2)]));
    const byNamespace = (m: Metrics) => {
      const out: Record<string, number> = {};
      for (const s of m.samples) {
        if (s.name !== NAMESPACE_CALLS) continue;
        const ns = quietNs.includes(s.labels.namespace ?? '') ? 'quiet' : (s.labels.namespace ?? '');
        out[ns] = (out[ns] ?? 0) + s.value;
      }
      return out;
    };
    const operatorCalls = diffCounts(byNamespace(m0), byNamespace(m1));
    const toReady = [...accepted].map(([k, a]) => watch.readyAt.get(k)!.at - a.at);
    const result: NoisyPhase = {
      changes: accepted.size,
      applyToReadyP50Ms: percentile(toReady, 50),
      applyToReadyP99Ms: percentile(toReady, 99),
      seconds: round(seconds, 1),
      annotateEdits,
      floodCreates,
      awsCallsPerSecond: perSecond(countBy(calls, (c) => namespaceOf(c, apps))),
      ...(Object.keys(operatorCalls).length > 0 && { operatorCallsPerSecond: perSecond(operatorCalls) }),
    };
    log(`noisy: ${label}: ${JSON.stringify(result)}`);
    return result;
  };

  const loadBefore = loadavg();
  const quiet = await phase('quiet run', ctx.keyB, false);
  const noisy = await phase('noisy run', ctx.keyA, true);
  await stopOperator(op, 'noisy');
  watch.stop();
  const tenants = NOISY.quietNamespaces + 2;
  report.noisyTenant = {
    quietResources: quietKeys.length,
    quietNamespaces: NOISY.quietNamespaces,
    otherApplications: NOISY.strangers,
    flood: NOISY.flood,
    awsRps: NOISY.awsRps,
    /** The share of one namespace when all of them want more than the budget. */
    fairShareRps: round(NOISY.awsRps / tenants, 2),
    quiet,
    noisy,
    p99Ratio: round(noisy.applyToReadyP99Ms / Math.max(1, quiet.applyToReadyP99Ms), 2),
    loadAverage: { before: loadBefore.map((l) => round(l, 2)), after: loadavg().map((l) => round(l, 2)) },
  };
  log(`noisy: p99 ${quiet.applyToReadyP99Ms} ms alone, ${noisy.applyToReadyP99Ms} ms with the noisy tenants`);
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  Object.assign(report, {
    mode: quick ? 'quick' : 'full',
    timestamp: new Date().toISOString(),
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    nodeVersion: process.version,
    operatorNodeVersion: operatorNode.version,
    operatorEnv,
    operatorConcurrency: concurrency,
    operatorNodeOptions: nodeOptions,
    profiled: flags.profile === true,
  });
  log(`mode ${report.mode}; results in ${runDir}`);
  const cp = await startControlPlane({ crds: [join(root, 'crds')], log });
  const emu = await startEmulatorProcess(join(runDir, 'emulator.log'));
  const sdk = new EMRServerlessClient({
    endpoint: emu.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    report.kubernetesVersion = cp.versions.kubernetes;
    report.etcdVersion = cp.versions.etcd;
    const control = new EmulatorControl(emu.endpoint);
    // Keys whose policies let EMR Serverless use them: the operator's key policy check passes.
    const forDisks = async () => {
      const key = await control.createKey({ region: 'eu-west-1' });
      await control.putKeyPolicy(key.Arn, diskEncryptionKeyPolicy(key.AWSAccountId));
      return key.Arn;
    };
    const keyA = await forDisks();
    const keyB = await forDisks();
    const ctx: Ctx = { cp, kube: new Kube(await adminClient(cp.kubeconfig)), emu, control, sdk, keyA, keyB };

    if (only.has('latency')) await latencyScenario(ctx);
    if (only.has('sync') || only.has('steady')) {
      const syncs: Record<string, unknown>[] = [];
      for (const n of config.syncSizes) syncs.push(await syncScenario(ctx, n));
      const last = syncs[syncs.length - 1]!;
      Object.assign(report, {
        initialSyncSeconds: last.seconds,
        initialSyncFloorSeconds: last.floorSeconds,
        initialSyncResources: last.resources,
        initialSyncAwsRps: config.syncRps,
        initialSync: Object.fromEntries(syncs.map((s) => [String(s.resources), s])),
      });
      if (only.has('steady')) await steadyScenario(ctx, config.syncSizes[config.syncSizes.length - 1]!);
    }
    if (only.has('throttle')) await throttleScenario(ctx);
    if (only.has('memory')) await memoryScenario(ctx);
    // After memory, whose 10,000 would otherwise wait for its Stalled resource to be Ready.
    if (only.has('noisy')) await noisyScenario(ctx);
    // Last: its tens of thousands of resources would otherwise be counted by the memory scenario.
    if (only.has('shards')) {
      // A shard that cannot hold its share (an operator that dies) is a result too: keep it.
      await shardsScenario(ctx).catch((error: unknown) => {
        report.shardsFailed = error instanceof Error ? error.message : String(error);
        log(`shards: failed: ${report.shardsFailed}`);
      });
    }
    report.emulatorStats = await control.stats();
  } finally {
    sdk.destroy();
    await emu.stop();
    await cp.stop();
  }
  report.benchSeconds = round((Date.now() - started) / 1000, 0);
  if (notes.length) report.notes = notes;
  writeFileSync(join(runDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (flags.only) {
    // A partial run updates its own keys in the last report of the same mode, and says so.
    const previous = join(resultsDir, `${report.mode}.json`);
    if (existsSync(previous)) {
      const merged = JSON.parse(readFileSync(previous, 'utf8')) as Record<string, unknown>;
      const partial = [
        ...((merged.partialRuns as unknown[]) ?? []),
        { only: flags.only, timestamp: report.timestamp, benchSeconds: report.benchSeconds },
      ];
      // The whole run's start and duration stay: the docs quote how long a full run takes.
      for (const [k, v] of Object.entries(report)) {
        if (k === 'timestamp' || k === 'benchSeconds') continue;
        // Initial syncs are kept per size: a run of other sizes adds to them.
        merged[k] =
          k === 'initialSync' ? { ...(merged.initialSync as Record<string, unknown>), ...(v as object) } : v;
      }
      report = Object.assign(merged, { partialRuns: partial });
    }
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(resultsDir, 'latest.json'), json);
  writeFileSync(join(resultsDir, `${report.mode}.json`), json);
  printTable();
}

function printTable(): void {
  const r = report as Record<string, number | undefined>;
  const f = (v: unknown, unit = '') => (v === undefined ? 'n/a' : `${v}${unit}`);
  const ok = (cond: boolean | undefined) => (cond === undefined ? '' : cond ? 'met' : 'NOT met');
  const sync = report.initialSync as
    | Record<string, { seconds: number; floorSeconds: number; met: boolean }>
    | undefined;
  const rows: Array<[string, string, string?]> = [
    ['metric', 'value', 'target'],
    [
      'apply -> AWS call p50 / p99',
      `${f(r.applyToAwsP50Ms)} / ${f(r.applyToAwsP99Ms)} ms`,
      `p99 < 500 ms ${r.applyToAwsP99Ms === undefined ? '' : ok(r.applyToAwsP99Ms < 500)}`,
    ],
    [
      'apply -> Ready p50 / p99',
      `${f(r.applyToReadyP50Ms)} / ${f(r.applyToReadyP99Ms)} ms`,
      `p99 < 1000 ms ${r.applyToReadyP99Ms === undefined ? '' : ok(r.applyToReadyP99Ms < 1000)}`,
    ],
  ];
  for (const [n, s] of Object.entries(sync ?? {})) {
    rows.push([
      `initial sync ${n} (--aws-rps ${r.initialSyncAwsRps})`,
      `${s.seconds} s (floor ${s.floorSeconds} s)`,
      `<= floor/0.85 ${ok(s.met)}`,
    ]);
  }
  rows.push(
    [
      'steady AWS calls / resource / period',
      f(r.steadyAwsCallsPerResourcePeriod),
      `<= 0.25 ${r.steadyAwsCallsPerResourcePeriod === undefined ? '' : ok(r.steadyAwsCallsPerResourcePeriod <= 0.25)}`,
    ],
    ['steady Get / resource / period', f(r.steadyGetsPerResourcePeriod)],
    [
      'steady AWS writes / resource / period',
      f(r.steadyAwsWritesPerResourcePeriod),
      `0 ${r.steadyAwsWritesPerResourcePeriod === undefined ? '' : ok(r.steadyAwsWritesPerResourcePeriod === 0)}`,
    ],
    ['steady KMS calls / period (1 key)', f(r.steadyKmsCallsPerPeriod), '<= distinct keys'],
    [
      'steady Kubernetes writes',
      f(r.steadyKubeWrites),
      `0 ${r.steadyKubeWrites === undefined ? '' : ok(r.steadyKubeWrites === 0)}`,
    ],
    ['CPU s / 1000 reconciles (steady)', f(r.cpuSecondsPer1000Reconciles)],
    [
      `operator RSS at ${f(r.resources)} resources`,
      f(r.rssMb, ' MB'),
      `< 200 MB ${r.rssMb === undefined ? '' : ok(r.rssMb < 200)}`,
    ],
    ['RSS growth per 1000 resources', f(r.rssMbPer1000, ' MB')],
    [
      'operator RSS idle (no resources)',
      f(r.idleRssMb, ' MB'),
      `< 90 MB ${r.idleRssMb === undefined ? '' : ok(r.idleRssMb < 90)}`,
    ],
    ['throttle storm: converge after end', f(r.throttleConvergeSeconds, ' s')],
    ['throttle storm: SDK retries / 429s', `${f(r.throttleRetries)} / ${f(r.throttle429s)}`],
  );
  const noisy = report.noisyTenant as
    | { quiet: NoisyPhase; noisy: NoisyPhase; p99Ratio: number; fairShareRps: number }
    | undefined;
  if (noisy)
    rows.push(
      [
        'quiet tenants apply -> Ready p50 / p99, alone / beside a noisy one',
        `${noisy.quiet.applyToReadyP50Ms} / ${noisy.quiet.applyToReadyP99Ms} ms, ${noisy.noisy.applyToReadyP50Ms} / ${noisy.noisy.applyToReadyP99Ms} ms`,
        `p99 within 2x ${ok(noisy.p99Ratio <= 2)}`,
      ],
      [
        'noisy namespaces AWS calls/s (annotate, flood)',
        `${f(noisy.noisy.awsCallsPerSecond[ANNOTATE_NS] ?? 0)} + ${f(noisy.noisy.awsCallsPerSecond.ListApplications ?? 0)} list pages, ${f(noisy.noisy.awsCallsPerSecond[FLOOD_NS] ?? 0)}`,
        `share ${noisy.fairShareRps} when contended`,
      ],
    );
  const shards = report.shards as ShardsReport | undefined;
  for (const shard of SHARDS) {
    const sync = shards?.initialSync[shard];
    const steady = shards?.steady.shards[shard];
    if (!sync || !steady) continue;
    rows.push(
      [
        `shard ${shard}: initial sync ${sync.resources} (--aws-rps ${shards.awsRps})`,
        `${sync.seconds} s (floor ${sync.floorSeconds} s, ratio ${sync.ratioToFloor})`,
        `ratio >= 0.95 ${ok(sync.met)}`,
      ],
      [`shard ${shard}: AWS calls / resource / period`, f(steady.awsCallsPerResourcePeriod), '<= 0.25'],
      [
        `shard ${shard}: RSS after sync / steady`,
        `${sync.rssMb} / ${steady.rssMb} MB (peak ${sync.peakRssMb})`,
        `< 512 MB ${ok(sync.peakRssMb < 512 && steady.rssMb < 512)}`,
      ],
    );
  }
  if (shards)
    rows.push([
      `shard a: apply -> Ready while b is busy, p50 / p99 (${shards.busyNeighbour.changes})`,
      `${f(shards.busyNeighbour.applyToReadyP50Ms)} / ${f(shards.busyNeighbour.applyToReadyP99Ms)} ms`,
    ]);
  process.stdout.write(
    `\n${table(rows)}\n\nmode ${report.mode}, ${report.cores} cores (${report.cpuModel}), node ${report.nodeVersion}; ${join(resultsDir, 'latest.json')}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
