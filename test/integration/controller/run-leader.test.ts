// `emr-serverless-operator run` as real processes: leader election between two of them, take-over
// after the leader dies, a clean SIGTERM (exit 0, lease released), and exit 1 on a lost lease.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_LEASE_NAME } from '../../../src/controller/leader.js';
import { findRepoRoot, waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { adminKubeConfig, kubectl, newNamespace } from '../../support/cluster.js';
import { expectQuietWindow } from '../../support/quiet.js';
import { CRD_DIR, CRD_NAME, waitFor } from './helpers.js';

const root = findRepoRoot();
const leases = adminKubeConfig().makeApiClient(CoordinationV1Api);
const running: Operator[] = [];
let ns: string;

interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

class Operator {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', ...args], {
      cwd: root,
      env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    running.push(this);
  }

  find(msg: string): LogLine | undefined {
    return this.lines.find((l) => l.msg === msg);
  }

  waitForLog(msg: string, timeoutMs = 60_000): Promise<LogLine> {
    return waitFor(`log "${msg}"`, () => this.find(msg), timeoutMs).catch((error: Error) => {
      throw new Error(
        `${error.message}\nstdout:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`,
      );
    });
  }

  get identity(): string {
    return this.find('starting emr-serverless-operator')?.identity as string;
  }
}

const operatorArgs = () => [
  '--region=eu-west-1',
  '--aws-endpoint=http://127.0.0.1:9',
  `--namespace=${ns}`,
  '--leader-elect',
  `--leader-election-namespace=${ns}`,
  '--metrics-addr=127.0.0.1:0',
  '--health-addr=127.0.0.1:0',
];

const readLease = () => leases.readNamespacedLease({ name: DEFAULT_LEASE_NAME, namespace: ns });

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
  await waitForCrdsEstablished(kubectl, [`crd/${CRD_NAME}`]);
});

afterAll(() => {
  for (const op of running) if (op.child.exitCode === null) op.child.kill('SIGKILL');
});

describe('run with --leader-elect', () => {
  it('one leads; the other takes over within ~20 s after the leader dies; SIGTERM exits 0 and releases the lease', async () => {
    ns = await newNamespace('controller-leader');
    const a = new Operator(operatorArgs());
    await a.waitForLog('acquired leader lease');
    expect((await readLease()).spec?.holderIdentity).toBe(a.identity);

    const b = new Operator(operatorArgs());
    await b.waitForLog('attempting to acquire leader lease');
    // The standby serves probes and keeps a warm cache, but does not lead.
    const health = (await b.waitForLog('serving health probes')).address as string;
    await waitFor(
      'standby ready',
      async () => (await fetch(`http://${health}/readyz`)).status === 200,
      30_000,
    );
    // The leader renews its lease meanwhile (every retry period, 2 s): the standby tried and lost.
    const renewedAt = async () => {
      const renewTime = (await readLease()).spec?.renewTime;
      return renewTime ? new Date(renewTime).getTime() : 0;
    };
    await expectQuietWindow({
      during: 3_000,
      reads: { what: 'ms the lease renewTime moved', count: renewedAt },
      writes: () => b.lines.filter((l) => l.msg === 'acquired leader lease' || l.msg === 'starting workers'),
    });

    // The leader dies without releasing: the standby waits the lease out, then takes over.
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    await b.waitForLog('acquired leader lease', 30_000);
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeLessThan(25_000);
    expect((await readLease()).spec?.holderIdentity).toBe(b.identity);
    await b.waitForLog('starting workers', 5_000);

    // A clean SIGTERM: exit 0, lease released for a fast take-over.
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    const released = await readLease();
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    expect(b.find('lease released')).toBeDefined();
  }, 120_000);

  it('a released lease is taken over at once', async () => {
    ns = await newNamespace('controller-release');
    const a = new Operator(operatorArgs());
    await a.waitForLog('acquired leader lease');
    const b = new Operator(operatorArgs());
    await b.waitForLog('attempting to acquire leader lease');
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const releasedAt = Date.now();
    await b.waitForLog('acquired leader lease', 10_000);
    expect(Date.now() - releasedAt).toBeLessThan(6_000);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 90_000);

  it('exits non-zero when another holder takes the lease', async () => {
    ns = await newNamespace('controller-lost');
    const a = new Operator(operatorArgs());
    await a.waitForLog('acquired leader lease');
    await kubectl([
      'patch',
      'lease',
      DEFAULT_LEASE_NAME,
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { holderIdentity: 'intruder', renewTime: new Date().toISOString().replace('Z', '000Z') },
      }),
    ]);
    expect(await a.exited).toBe(1);
    expect(a.find('leader lease lost')).toBeDefined();
  }, 60_000);
  it('two shards started with different selectors and no --leader-election-id both lead, each on its own Lease', async () => {
    ns = await newNamespace('controller-shards');
    const a = new Operator([...operatorArgs(), '--watch-label-selector=shard=a']);
    const b = new Operator([...operatorArgs(), '--watch-label-selector=shard in (b, c)']);
    await Promise.all([a.waitForLog('acquired leader lease'), b.waitForLog('acquired leader lease')]);
    const { stdout } = await kubectl(['get', 'leases', '-n', ns, '-o', 'json']);
    const held = (
      JSON.parse(stdout) as { items: Array<{ metadata: { name: string }; spec: { holderIdentity: string } }> }
    ).items
      .map((lease) => [lease.metadata.name, lease.spec.holderIdentity])
      .sort();
    expect(held).toEqual(
      [
        [a.find('starting emr-serverless-operator')?.leaderElectionId, a.identity],
        [b.find('starting emr-serverless-operator')?.leaderElectionId, b.identity],
      ].sort(),
    );
    expect(held.map(([name]) => name)).not.toContain(DEFAULT_LEASE_NAME);
  }, 90_000);
});

describe('run without leader election', () => {
  it('prints usage and exits 2 on bad flags', async () => {
    const op = new Operator(['--concurrency=zero', '--region=eu-west-1']);
    expect(await op.exited).toBe(2);
    expect(op.stderr).toContain('--concurrency takes a whole number');
  });

  it('starts, serves /metrics and /readyz on the logged addresses, and exits 0 on SIGTERM', async () => {
    ns = await newNamespace('controller-run');
    const op = new Operator([
      '--region=eu-west-1',
      '--aws-endpoint=http://127.0.0.1:9',
      `--namespace=${ns}`,
      '--metrics-addr=127.0.0.1:0',
      '--health-addr=127.0.0.1:0',
    ]);
    const metrics = (await op.waitForLog('serving metrics')).address as string;
    const health = (await op.waitForLog('serving health probes')).address as string;
    expect(metrics).toMatch(/^127\.0\.0\.1:\d+$/);
    await waitFor('ready', async () => (await fetch(`http://${health}/readyz`)).status === 200, 30_000);
    expect((await fetch(`http://${health}/healthz`)).status).toBe(200);
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    expect(text).toContain('workqueue_depth{name="emrserverlessapplication"}');
    expect(text).toContain('process_cpu_seconds_total');
    op.child.kill('SIGTERM');
    expect(await op.exited).toBe(0);
  }, 60_000);
});
