// Benchmark of the local service: GetApplication through the real SDK client at a fixed rate.
//
//   npm run bench:emulator -- [--rate 1000] [--seconds 10] [--warmup 2] [--clients 2] [--driver sdk|raw]
//
// The service runs in its own process (the CLI, as users run it). The load is open-loop: call i
// is due at start + i/rate whether or not earlier ones have answered, and its latency counts from
// when it was due, so a stall of the service (or of the load generator) shows up as latency
// instead of quietly lowering the rate. The SDK client costs about four times the CPU of the
// service per call, so the load comes from `--clients` processes, each sending every
// `clients`-th call of the schedule. `--driver raw` sends the same GET with plain node:http instead
// of the SDK (no signing, no deserialising), to see the service alone on a busy machine.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { EmulatorControl } from '../src/emulator/index.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    clients: { type: 'string', default: '2' },
    driver: { type: 'string', default: 'sdk' },
    // internal: a load-generating child
    role: { type: 'string', default: 'main' },
    endpoint: { type: 'string' },
    app: { type: 'string' },
    index: { type: 'string', default: '0' },
  },
});

interface LoadPlan {
  startAt: number; // epoch ms, shared by all load processes
  rate: number; // calls per second, all processes together
  seconds: number;
}

interface LoadResult {
  latencies: number[];
  errors: number;
  cpuMs: number;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
const clock = (): number => performance.timeOrigin + performance.now();

function sdkClient(endpoint: string): EMRServerlessClient {
  return new EMRServerlessClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }) },
  });
}

type GetApplication = () => Promise<unknown>;

function sdkCaller(endpoint: string, applicationId: string): { call: GetApplication; close(): void } {
  const client = sdkClient(endpoint);
  return {
    call: () => client.send(new GetApplicationCommand({ applicationId })),
    close: () => client.destroy(),
  };
}

/** The SDK's request with plain node:http (the Authorization header only names the region). */
function rawCaller(endpoint: string, applicationId: string): { call: GetApplication; close(): void } {
  const url = new URL(endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const headers = {
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/eu-west-1/emr-serverless/aws4_request, ' +
      'SignedHeaders=host;x-amz-date, Signature=0',
    'x-amz-date': '20260101T000000Z',
  };
  const call = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: `/applications/${applicationId}`, agent, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
              : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  return { call, close: () => agent.destroy() };
}

/** Sends calls index, index+stride, ... of the schedule; latency from each call's due time. */
async function drive(
  getApplication: GetApplication,
  plan: LoadPlan,
  index: number,
  stride: number,
): Promise<LoadResult> {
  const total = Math.round(plan.rate * plan.seconds);
  const dueAt = (i: number): number => plan.startAt + (i / plan.rate) * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const cpu = process.cpuUsage();
  let i = index;
  while (i < total) {
    const now = clock();
    for (; i < total && dueAt(i) <= now; i += stride) {
      const due = dueAt(i);
      const p: Promise<void> = getApplication()
        .then(
          () => {
            latencies.push(clock() - due);
          },
          () => {
            errors++;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, dueAt(i) - clock())));
  }
  await Promise.all(inFlight);
  const used = process.cpuUsage(cpu);
  return { latencies, errors, cpuMs: (used.user + used.system) / 1000 };
}

// ---------------------------------------------------------------- load-generating child
async function loadChild(): Promise<void> {
  const caller = (values.driver === 'raw' ? rawCaller : sdkCaller)(values.endpoint!, values.app!);
  const index = Number(values.index);
  process.on('message', (msg: { plan: LoadPlan; stride: number; phase: string }) => {
    drive(caller.call, msg.plan, index, msg.stride).then(
      (r) => process.send!({ phase: msg.phase, ...r }),
      (err: unknown) => process.send!({ phase: msg.phase, error: String(err) }),
    );
  });
  process.on('disconnect', () => {
    caller.close();
    process.exit(0);
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------- orchestrator
async function startService(): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'emulator', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  if (!line.startsWith('endpoint=')) throw new Error(`unexpected first line: ${line}`);
  return { child, endpoint: line.slice('endpoint='.length) };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const clients = Math.max(1, Number(values.clients));
  const { child: service, endpoint } = await startService();
  const loaders: ChildProcess[] = [];
  try {
    const setup = sdkClient(endpoint);
    const { applicationId } = await setup.send(
      new CreateApplicationCommand({ name: 'bench', releaseLabel: 'emr-7.1.0', type: 'SPARK' }),
    );
    setup.destroy();

    for (let k = 0; k < clients; k++) {
      const c = fork(
        process.argv[1]!,
        [
          '--role',
          'load',
          '--endpoint',
          endpoint,
          '--app',
          applicationId!,
          '--index',
          `${k}`,
          '--driver',
          values.driver!,
        ],
        {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      loaders.push(c);
    }
    await Promise.all(loaders.map((c) => once(c, 'message')));

    const run = async (phase: string, secs: number): Promise<LoadResult & { elapsedMs: number }> => {
      const plan: LoadPlan = { startAt: clock() + 200, rate, seconds: secs };
      const results = loaders.map(
        (c) =>
          new Promise<LoadResult>((resolve, reject) => {
            const onMessage = (m: LoadResult & { phase?: string; error?: string }) => {
              if (m.phase !== phase) return;
              c.off('message', onMessage);
              if (m.error) reject(new Error(m.error));
              else resolve(m);
            };
            c.on('message', onMessage);
            c.send({ plan, stride: clients, phase });
          }),
      );
      const all = await Promise.all(results);
      return {
        latencies: all.flatMap((r) => r.latencies),
        errors: all.reduce((n, r) => n + r.errors, 0),
        cpuMs: all.reduce((n, r) => n + r.cpuMs, 0),
        elapsedMs: clock() - plan.startAt,
      };
    };

    if (warmup > 0) await run('warmup', warmup);
    const control = new EmulatorControl(endpoint);
    const load = loadavg()[0]!;
    const before = await control.stats();
    const { latencies, errors, cpuMs, elapsedMs } = await run('measure', seconds);
    const after = await control.stats();

    const n = latencies.length + errors;
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      targetRate: rate,
      seconds,
      clients,
      driver: values.driver,
      requests: n,
      errors,
      achievedRate: Math.round((n / elapsedMs) * 1000),
      p50Ms: Number(percentile(sorted, 50).toFixed(2)),
      p99Ms: Number(percentile(sorted, 99).toFixed(2)),
      maxMs: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(2)),
      serviceCpuMsPerCall: Number(
        ((after.cpuUserMs + after.cpuSystemMs - before.cpuUserMs - before.cpuSystemMs) / n).toFixed(3),
      ),
      clientCpuMsPerCall: Number((cpuMs / n).toFixed(3)),
      loadavg1m: Number(load.toFixed(2)),
      cores: availableParallelism(),
    };
    console.log(
      `GetApplication: ${result.achievedRate}/s achieved (target ${rate}/s for ${seconds}s from ${clients} ` +
        `${values.driver === 'raw' ? 'raw HTTP' : 'SDK'} client process(es), ${n} calls, ${errors} errors); ` +
        `latency p50 ${result.p50Ms} ms, ` +
        `p99 ${result.p99Ms} ms, max ${result.maxMs} ms`,
    );
    console.log(
      `CPU per call: service ${result.serviceCpuMsPerCall} ms, client ${result.clientCpuMsPerCall} ms; ` +
        `load average (1 min) before the run ${result.loadavg1m} on ${result.cores} cores`,
    );
    console.log(JSON.stringify(result));
    if (errors > 0) process.exitCode = 1;
  } finally {
    for (const c of loaders) if (c.connected) c.disconnect();
    const exited = once(service, 'exit');
    service.kill('SIGTERM');
    await exited;
  }
}

(values.role === 'load' ? loadChild() : main()).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
