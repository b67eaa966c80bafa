// `run --aws-endpoint` with no AWS credentials configured says in its log that requests are
// signed with placeholders; with credentials configured it does not. (Without --aws-endpoint
// there are never placeholders: test/aws/clients.test.ts.)
// The operator runs as its own process (its log is pino on stdout) against a kubeconfig whose
// API server does not answer: the warning comes before any Kubernetes call.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../../support/docs.js';

const WARNING = /^no AWS credentials configured/;
let dir: string;
let kubeconfig: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'run-credentials-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The log lines of `run` up to and including 'starting emr-serverless-operator'. */
async function startupLog(args: string[], env: NodeJS.ProcessEnv): Promise<Array<{ msg: string }>> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'run',
      `--kubeconfig=${kubeconfig}`,
      '--region=eu-west-1',
      '--metrics-addr=0',
      '--health-addr=0',
      ...args,
    ],
    {
      cwd: REPO,
      env: {
        ...clean,
        HOME: dir,
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
        AWS_CONFIG_FILE: join(dir, 'none'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const lines: Array<{ msg: string }> = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(JSON.parse(line) as { msg: string });
    if (lines.at(-1)!.msg === 'starting emr-serverless-operator') return lines;
  }
  throw new Error(`run exited before starting: ${JSON.stringify(lines)}`);
}

// Each case starts a process that compiles the CLI with tsx first: seconds, not milliseconds.
const SPAWN_TIMEOUT_MS = 60_000;

describe('run and AWS credentials', () => {
  it('warns when --aws-endpoint gets placeholder credentials', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const lines = await startupLog(['--aws-endpoint=http://127.0.0.1:4566'], {});
    const warning = lines.find((l) => WARNING.test(l.msg));
    expect(warning).toMatchObject({ level: 40, awsEndpoint: 'http://127.0.0.1:4566' });
  });

  it('says nothing when credentials are configured', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const lines = await startupLog(['--aws-endpoint=http://127.0.0.1:4566'], {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example',
    });
    expect(lines.filter((l) => WARNING.test(l.msg))).toEqual([]);
  });
});
