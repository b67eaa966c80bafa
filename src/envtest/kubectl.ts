import { spawn } from 'node:child_process';

export interface KubectlOptions {
  /** Written to kubectl's stdin, e.g. a manifest for `apply -f -`. */
  input?: string;
  /** Throw when kubectl exits non-zero (default true). */
  check?: boolean;
  timeoutMs?: number;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class KubectlError extends Error {
  constructor(
    readonly args: string[],
    readonly result: KubectlResult,
  ) {
    super(`kubectl ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim()}`);
    this.name = 'KubectlError';
  }
}

/** Runs the real kubectl against `kubeconfig`; the user's own KUBECONFIG and context are never used. */
export function runKubectl(
  kubectlBinary: string,
  kubeconfig: string,
  args: string[],
  options: KubectlOptions = {},
): Promise<KubectlResult> {
  const { input, check = true, timeoutMs = 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlBinary, args, {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = { stdout, stderr, exitCode: code ?? (signal ? 128 : 1) };
      if (check && result.exitCode !== 0) reject(new KubectlError(args, result));
      else resolve(result);
    });
    // kubectl may exit before it reads its input (a command that takes none, or an early
    // refusal): the write then fails with EPIPE, and the exit status and stderr say what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/**
 * `kubectl wait --for=condition=Established` on CRDs, tolerant of a CRD created a moment ago:
 * until the API server has written its first conditions, kubectl answers
 * `.status.conditions accessor error: <nil>` instead of waiting, so that answer is tried again.
 */
export async function waitForCrdsEstablished(
  kubectl: (args: string[]) => Promise<unknown>,
  crds: string[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    try {
      await kubectl(['wait', '--for=condition=Established', `--timeout=${left}s`, ...crds]);
      return;
    } catch (e) {
      const early = e instanceof KubectlError && /accessor error/.test(e.result.stderr);
      if (!early || Date.now() >= deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
