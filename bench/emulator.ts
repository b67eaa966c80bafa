// Benchmark of the local service: GetApplication through the real SDK client at a fixed rate.
//
//   npm run bench:emulator -- [--rate 1000] [--seconds 10] [--warmup 2]
//
// The service runs in its own process (the CLI, as users run it). The load is open-loop: request
// i is due at start + i/rate whether or not earlier ones have answered, and its latency counts
// from when it was due, so a stalled service or client shows up instead of slowing the load.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CreateApplicationCommand, EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);

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

async function drive(
  client: EMRServerlessClient,
  applicationId: string,
  ratePerSecond: number,
  durationSeconds: number,
): Promise<{ latencies: number[]; errors: number; elapsedMs: number }> {
  const total = Math.round(ratePerSecond * durationSeconds);
  const latencies: number[] = [];
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  let issued = 0;
  while (issued < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * ratePerSecond) + 1);
    for (; issued < due; issued++) {
      const dueAt = start + (issued / ratePerSecond) * 1000;
      const p = client
        .send(new GetApplicationCommand({ applicationId }))
        .then(
          () => {
            latencies.push(performance.now() - dueAt);
          },
          () => {
            errors++;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    const next = start + (issued / ratePerSecond) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inFlight);
  return { latencies, errors, elapsedMs: performance.now() - start };
}

async function main(): Promise<void> {
  const { child, endpoint } = await startService();
  const client = new EMRServerlessClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 128 }) },
  });
  try {
    const { applicationId } = await client.send(
      new CreateApplicationCommand({ name: 'bench', releaseLabel: 'emr-7.1.0', type: 'SPARK' }),
    );
    if (warmupSeconds > 0) await drive(client, applicationId!, rate, warmupSeconds);
    const { latencies, errors, elapsedMs } = await drive(client, applicationId!, rate, seconds);
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      targetRate: rate,
      seconds,
      requests: latencies.length + errors,
      errors,
      achievedRate: Math.round(((latencies.length + errors) / elapsedMs) * 1000),
      p50Ms: Number(percentile(sorted, 50).toFixed(2)),
      p99Ms: Number(percentile(sorted, 99).toFixed(2)),
      maxMs: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(2)),
    };
    console.log(
      `GetApplication: ${result.achievedRate}/s achieved (target ${rate}/s for ${seconds}s, ${result.requests} requests, ` +
        `${errors} errors); latency p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`,
    );
    console.log(JSON.stringify(result));
    if (errors > 0) process.exitCode = 1;
  } finally {
    client.destroy();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
