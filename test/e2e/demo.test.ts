// `emr-serverless-operator demo` as a person runs it: its own control plane (free ports, its own
// temp dir, so it does not collide with the suite's), the local AWS service and the operator;
// every step's outcome is printed. Then the interactive mode: Ctrl-C (SIGINT) stops it all, exit 0.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, waitFor } from '../support/e2e.js';

function runDemo(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

describe('emr-serverless-operator demo', () => {
  it('--fast --exit-when-done shows every step and its outcome, then exits 0', {
    timeout: 90_000,
  }, async () => {
    const started = Date.now();
    const { child, output, exited } = runDemo(['--fast', '--exit-when-done']);
    const timer = setTimeout(() => child.kill('SIGKILL'), 85_000);
    const code = await exited;
    clearTimeout(timer);
    const text = output.stdout;
    expect(code, `${text}\n${output.stderr}`).toBe(0);

    expect(text).toContain('kube-apiserver');
    expect(text).toContain('$ kubectl apply -f examples/01-customer-managed-key.yaml');
    expect(text).toMatch(/NAME\s+APPLICATION ID\s+STATE\s+ENCRYPTION\s+READY\s+AGE/);
    expect(text).toMatch(
      /=> step 1: analytics Ready=True, Encryption=CustomerManaged; AWS writes: CreateApplication \(/,
    );
    expect(text).toMatch(/=> step 2: context updated, Ready=True; AWS writes: UpdateApplication\n/);
    expect(text).toMatch(/=> step 3: Encryption=AwsOwned, Ready=True; AWS writes: UpdateApplication\n/);
    expect(text).toMatch(/=> step 4: reports Stalled KeyNotSymmetric; AWS writes: none\n/);
    expect(text).toMatch(
      /=> step 5: analytics waiting, Ready=False WaitingForStop while STARTED; AWS writes: none\n/,
    );
    expect(text).toMatch(
      /=> step 5: once STOPPED the change landed: Encryption=CustomerManaged, Ready=True; AWS writes: UpdateApplication\n/,
    );
    expect(text).toMatch(
      /=> step 6: nightly-etl SUCCESS \(CustomerManaged from the Application\), pii-export SUCCESS \(CustomerManaged from the Job\), signing-key-report Stalled KeyNotSymmetric; StartJobRun calls: 2\n/,
    );
    expect(text).toMatch(
      /nightly-etl: job run \S+ SUCCESS; sent diskEncryptionConfiguration none; runs with \{"encryptionKeyArn"/,
    );
    expect(text).toMatch(
      /pii-export: job run \S+ SUCCESS; sent diskEncryptionConfiguration \{"encryptionKeyArn"/,
    );
    expect(text).toContain('"spark.emr-serverless.disk.encryptionKeyArn": "arn:aws:kms:eu-west-1:');
    // The AWS side is shown after each step.
    expect(text).toMatch(
      /analytics: application [0-9a-z]+ CREATED, diskEncryptionConfiguration \{"encryptionKeyArn":"arn:aws:kms:eu-west-1:/,
    );
    // Step 4 reads the key and sends nothing; a resync read of the application (every 5 s in the
    // demo) may fall inside the step, and is the only other call allowed.
    expect(text).toMatch(
      /AWS calls in this step: (GetApplication( ×\d+)?, )?DescribeKey(, GetApplication( ×\d+)?)?\n/,
    );
    expect(text).toContain('demo done');
    console.log(`demo --fast --exit-when-done took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('interactive: prints how to continue; Ctrl-C (SIGINT) stops everything and exits 0', {
    timeout: 90_000,
  }, async () => {
    const { child, output, exited } = runDemo(['--fast']);
    try {
      await waitFor('the demo to finish its steps', () => output.stdout.includes('Press Ctrl-C'), {
        timeoutMs: 80_000,
        diagnostics: () => `${output.stdout}\n${output.stderr}`,
      });
      const kubeconfig = /kubeconfig: +(\S+)/.exec(output.stdout)?.[1];
      expect(kubeconfig).toBeTruthy();
      expect(existsSync(kubeconfig!)).toBe(true);
      expect(output.stdout).toMatch(/KUBECONFIG=\S+ \S+kubectl get emrsa/);
      expect(output.stdout).toMatch(/AWS endpoint: http:\/\/127\.0\.0\.1:\d+/);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output.stdout).toContain('stopped.');
      // The control plane's temp dir (kubeconfig, etcd data) is gone.
      expect(existsSync(dirname(kubeconfig!))).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
