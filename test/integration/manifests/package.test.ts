// What the Dockerfile does, without Docker: pack the npm package (`prepare` builds dist/), install it
// for production in an empty directory, run the CLI from that install, and start the controller
// from it against the test control plane, as the operator's service account with the RBAC of
// manifests/ and the local AWS service as its AWS endpoint.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crdFiles } from '../../../src/api/crd.js';
import { operatorIamPolicy } from '../../../src/aws/policies.js';
import { type Emulator, startEmulator } from '../../../src/emulator/index.js';
import { findRepoRoot, waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { kubectl, newNamespace } from '../../support/cluster.js';
import { operatorServiceAccountKubeconfig } from '../../support/operator-rbac.js';

const run = promisify(execFile);
const root = findRepoRoot();
const CRD_DIR = join(root, 'crds');

let work: string;
let packedFiles: string[];
let bin: string;
const timings: Record<string, number> = {};

async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await f();
  } finally {
    timings[name] = Date.now() - started;
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'emr-package-'));
  // dist/ is already built (`npm test` builds before vitest). Without --ignore-scripts, pack's
  // `prepare` would rebuild dist/ in place under the other test files' running operators.
  const { stdout } = await timed('npm pack', () =>
    run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    }),
  );
  const [pack] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  packedFiles = pack!.files.map((f) => f.path);

  const app = join(work, 'app');
  mkdirSync(app);
  await run('npm', ['init', '-y'], { cwd: app });
  await timed('npm install --omit=dev', () =>
    run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', join(work, pack!.filename)], {
      cwd: app,
      maxBuffer: 64 * 1024 * 1024,
    }),
  );
  bin = join(app, 'node_modules', '.bin', 'emr-serverless-operator');
}, 600_000);

afterAll(() => {
  if (process.env.DEBUG_TESTS) console.error('package test timings (ms):', timings);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the compiled CLI, the CRD and the manifests, and no sources or tests', () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/cli/main.js',
        'dist/cli/run.js',
        'crds/emrserverless.operator.dev_emrserverlessapplications.yaml',
        'crds/emrserverless.operator.dev_emrserverlessjobruns.yaml',
        'crds/emrserverless.operator.dev_emrserverlesspolicies.yaml',
        'crds/Kustomization',
        'manifests/kustomization.yaml',
        'manifests/rbac.yaml',
        'manifests/tenant-roles.yaml',
        'examples/08-namespace-policy.yaml',
        'manifests/deployment.yaml',
        'argocd/health.lua',
        'argocd/argocd-cm-patch.yaml',
      ]),
    );
    const unexpected = packedFiles.filter(
      (path) =>
        path.startsWith('src/') ||
        /\.test\.[cm]?[jt]s$/.test(path) ||
        (/\.ts$/.test(path) && !path.endsWith('.d.ts')) ||
        (path.startsWith('test/') && !path.startsWith('test/controlplane/')) ||
        path.startsWith('node_modules/') ||
        path.startsWith('.cache/'),
    );
    expect(unexpected).toEqual([]);
  });

  it('`run --help` from a production install lists every flag of the contract', async () => {
    const { stdout } = await run(bin, ['run', '--help']);
    for (const flag of [
      '--kubeconfig',
      '--region',
      '--aws-endpoint',
      '--namespace',
      '--concurrency',
      '--resync-period',
      '--aws-rps',
      '--verify-keys',
      '--leader-elect',
      '--leader-election-namespace',
      '--metrics-addr',
      '--health-addr',
      '--log-level',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('`crd` prints what crds/ holds, and `key-policy --operator-iam-policy` the documented policy', async () => {
    const crd = await run(bin, ['crd']);
    expect(crd.stdout).toBe(
      crdFiles()
        .map((f) => readFileSync(join(CRD_DIR, f.file), 'utf8'))
        .join('---\n'),
    );
    const policy = await run(bin, ['key-policy', '--operator-iam-policy']);
    expect(JSON.parse(policy.stdout)).toEqual(operatorIamPolicy());
  });
});

describe('the controller from the production install', () => {
  let emulator: Emulator | undefined;
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await emulator?.close();
  });

  it('starts under the manifests RBAC, reconciles an application, and exits 0 on SIGTERM', async () => {
    await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
    await waitForCrdsEstablished(kubectl, [
      'crd/emrserverlessapplications.emrserverless.operator.dev',
      'crd/emrserverlessjobruns.emrserverless.operator.dev',
      'crd/emrserverlesspolicies.emrserverless.operator.dev',
    ]);
    const operatorNs = await newNamespace('package-operator');
    const appNs = await newNamespace('package-apps');
    const sa = await operatorServiceAccountKubeconfig(operatorNs);
    emulator = await startEmulator();

    const logs: Array<Record<string, unknown>> = [];
    let stderr = '';
    const { KUBECONFIG: _ignored, ...env } = process.env;
    child = spawn(
      bin,
      [
        'run',
        `--kubeconfig=${sa.kubeconfig}`,
        `--aws-endpoint=${emulator.endpoint}`,
        '--region=eu-west-1',
        `--namespace=${appNs}`,
        '--leader-elect',
        `--leader-election-namespace=${operatorNs}`,
        '--metrics-addr=127.0.0.1:0',
        '--health-addr=127.0.0.1:0',
        '--resync-period=30s',
      ],
      { env: { ...env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const explain = () => `\nlogs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${stderr}`;
    const waitFor = async <T>(
      what: string,
      probe: () => Promise<T | undefined> | T | undefined,
      ms = 60_000,
    ) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (child?.exitCode !== null)
          throw new Error(`the operator exited while waiting for ${what}${explain()}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${explain()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const health = await waitFor('the health server', () =>
      logs.find((l) => l.msg === 'serving health probes'),
    );
    const readyz = `http://${health.address as string}/readyz`;
    await waitFor('/readyz to answer 200', async () => {
      const response = await fetch(readyz).catch(() => undefined);
      return response?.status === 200 ? true : undefined;
    });
    await waitFor('the leader lease', () => logs.find((l) => l.msg === 'acquired leader lease'));

    // One application, reconciled through: finalizer (patch), status (apply), events (create).
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'emrserverless.operator.dev/v1alpha1',
        kind: 'EmrServerlessApplication',
        metadata: { name: 'analytics', namespace: appNs },
        spec: { name: 'analytics', type: 'SPARK', releaseLabel: 'emr-7.5.0' },
      }),
    });
    await waitFor('the application to be Ready', async () => {
      const { stdout } = await kubectl(['get', 'emrsa', 'analytics', '-n', appNs, '-o', 'json']);
      const obj = JSON.parse(stdout);
      const ready = obj.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
      return ready?.status === 'True' && obj.metadata.finalizers?.length === 1 ? obj : undefined;
    });
    await waitFor('an Event about it', async () => {
      const { stdout } = await kubectl(['get', 'events.events.k8s.io', '-n', appNs, '-o', 'json']);
      const events = JSON.parse(stdout).items as Array<{ regarding?: { name?: string } }>;
      return events.some((e) => e.regarding?.name === 'analytics') ? true : undefined;
    });
    // Match a denial by its words or a 403 status code, never by digits that happen to be in a
    // timestamp, a pid or an identity.
    const denied = logs.filter((l) =>
      /forbidden|\b(?:code|status|statusCode)"?:\s*"?403\b/i.test(JSON.stringify(l)),
    );
    expect(denied, explain()).toEqual([]);

    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running 30 s after SIGTERM'), 30_000)),
    ]);
    expect(code, explain()).toBe(0);
  });
});
