// Child processes of the operator benchmark: the local AWS service and the operator, each run
// through the built CLI (dist/cli/main.js) as users run them, so that their CPU and memory are
// their own and can be read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
/** Linux clock ticks per second (USER_HZ); 100 on every mainstream kernel. */
const CLK_TCK = 100;

/** NODE_OPTIONS of the operator container in manifests/deployment.yaml (the chart sets the same). */
export function deploymentNodeOptions(): string {
  return deploymentRuntimeEnv().NODE_OPTIONS ?? '';
}

/**
 * The operator container's runtime tuning in manifests/deployment.yaml: NODE_OPTIONS and the
 * glibc MALLOC_* variables, so the benchmark measures the process as it ships.
 */
export function deploymentRuntimeEnv(): Record<string, string> {
  const path = join(import.meta.dirname, '..', '..', 'manifests', 'deployment.yaml');
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    const obj = doc.toJS() as {
      kind?: string;
      spec?: {
        template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } };
      };
    };
    if (obj?.kind !== 'Deployment') continue;
    const env = obj.spec?.template?.spec?.containers?.[0]?.env ?? [];
    return Object.fromEntries(
      env
        .filter((e) => e.value !== undefined && (e.name === 'NODE_OPTIONS' || e.name.startsWith('MALLOC_')))
        .map((e) => [e.name, e.value as string]),
    );
  }
  return {};
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** CPU seconds (user + system) and RSS of a process, from /proc; undefined once it is gone. */
export function procStats(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / CLK_TCK, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine since boot (all cores; /proc/stat minus idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const busy = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return busy / CLK_TCK;
}

/** PIDs of the processes whose command line mentions `needle` (the control plane's data dir). */
export function pidsMentioning(needle: string): Array<{ pid: number; name: string }> {
  const found: Array<{ pid: number; name: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((arg) => arg.includes(needle))) {
        found.push({ pid: Number(entry), name: (cmdline[0] ?? '').split('/').pop() ?? '' });
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export interface EmulatorProcess {
  endpoint: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(logFile: string): Promise<EmulatorProcess> {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'emulator', '--port', '0', '--transition-ms', '0'], {
    stdio: ['ignore', 'pipe', log],
  });
  closeSync(log);
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    once(child, 'exit').then(() => {
      throw new Error(`the emulator exited before printing its endpoint (see ${logFile})`);
    }),
  ]);
  const endpoint = /^endpoint=(.+)$/.exec(first)?.[1];
  if (!endpoint) throw new Error(`unexpected first line from the emulator: ${first}`);
  lines.on('line', () => {});
  return { endpoint, pid: child.pid!, stop: () => stopChild(child) };
}

export interface OperatorOptions {
  kubeconfig: string;
  awsEndpoint: string;
  namespace?: string;
  awsRps: number;
  resyncPeriod: string;
  concurrency?: number;
  /** Added to the environment (the Deployment's MALLOC_* tuning; a shard's access key id). */
  env?: Record<string, string>;
  /** The Node.js binary (default: the one running the benchmark). */
  node?: string;
  logFile: string;
  /** Directory for `node --cpu-prof` output; no profiling when absent. */
  cpuProfDir?: string;
  logLevel?: string;
  /** Extra `node` flags (before the script). */
  nodeArgs?: string[];
  /** Extra flags of `run` (after the benchmark's own). */
  runArgs?: string[];
}

export interface OperatorProcess {
  pid: number;
  metricsUrl: string;
  startedAt: number;
  /** Resolves once /readyz answers 200 (cache synced). */
  ready(timeoutMs?: number): Promise<number>;
  metrics(): Promise<Metrics>;
  stats(): { cpuSeconds: number; rssMb: number } | undefined;
  /** How it ended (exit code or signal) once it has exited on its own; undefined while it runs. */
  exited(): string | undefined;
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export async function startOperatorProcess(o: OperatorOptions): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const args = [
    ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []),
    ...(o.nodeArgs ?? []),
    CLI,
    'run',
    '--kubeconfig',
    o.kubeconfig,
    '--region',
    'eu-west-1',
    '--aws-endpoint',
    o.awsEndpoint,
    ...(o.namespace ? ['--namespace', o.namespace] : []),
    // The scenarios adopt half of their applications.
    '--adopt-namespaces=*',
    '--aws-rps',
    String(o.awsRps),
    '--resync-period',
    o.resyncPeriod,
    '--concurrency',
    String(o.concurrency ?? 4),
    '--metrics-addr',
    `127.0.0.1:${metricsPort}`,
    '--health-addr',
    `127.0.0.1:${healthPort}`,
    '--log-level',
    o.logLevel ?? 'info',
    ...(o.runArgs ?? []),
  ];
  const log = openSync(o.logFile, 'a');
  const startedAt = Date.now();
  const child = spawn(o.node ?? process.execPath, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, ...o.env },
  });
  closeSync(log);
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  return {
    pid: child.pid!,
    metricsUrl,
    startedAt,
    async ready(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child.exitCode !== null)
          throw new Error(`the operator exited (${child.exitCode}); see ${o.logFile}`);
        const ok = await fetch(`http://127.0.0.1:${healthPort}/readyz`)
          .then((r) => r.ok)
          .catch(() => false);
        if (ok) return Date.now();
        await sleep(50);
      }
      throw new Error(`the operator was not ready after ${timeoutMs} ms; see ${o.logFile}`);
    },
    metrics: () => scrape(metricsUrl),
    stats: () => procStats(child.pid!),
    exited: () =>
      child.exitCode !== null
        ? `exit code ${child.exitCode}`
        : child.signalCode !== null
          ? `signal ${child.signalCode}`
          : undefined,
    signal: (signal) => child.kill(signal),
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

// --- Prometheus text --------------------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Metrics {
  constructor(readonly samples: Sample[]) {}

  /** Sum of every sample of `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }
}

export async function scrape(url: string): Promise<Metrics> {
  const text = await (await fetch(url)).text();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return new Metrics(samples);
}
