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
