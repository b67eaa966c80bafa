import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/**
 * Runs `"$@"` in the background and polls the pid given as $1 (this Node process): if it disappears,
 * even through SIGKILL, the child is terminated so no etcd or kube-apiserver outlives the test run.
 * TERM/INT are trapped because the whole process group receives them from `stop()`: the wrapper must
 * outlive the child so that its exit tells us the child's port is free again.
 * If the parent vanished, $CLEANUP_DIR (a temp dir we created) is removed as well.
 */
const WATCHDOG = `
parent=$1; shift
trap ':' TERM INT HUP
"$@" </dev/null &
child=$!
while kill -0 "$child" 2>/dev/null; do
  if ! kill -0 "$parent" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null
    wait "$child"
    [ -n "$CLEANUP_DIR" ] && rm -rf "$CLEANUP_DIR"
    exit 1
  fi
  sleep 0.5
done
wait "$child"
`;

export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process and its wrapper are gone. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

export interface StartOptions {
  /** Removed by the watchdog if this Node process dies without cleaning up. */
  cleanupDirOnParentDeath?: string;
}

const running = new Set<ChildProcess>();
const exitHooks = new Set<() => void>();

/** Starts `binary args...` in its own process group, stdout and stderr appended to `logFile`. */
export function startManagedProcess(
  name: string,
  binary: string,
  args: string[],
  logFile: string,
  options: StartOptions = {},
): ManagedProcess {
  const logFd = openSync(logFile, 'a');
  const child = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), binary, ...args], {
    detached: true, // own process group, so one kill reaches the wrapper and the server
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, CLEANUP_DIR: options.cleanupDirOnParentDeath ?? '' },
  });
  closeSync(logFd);
  running.add(child);
  installExitHandlers();

  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      alive = false;
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.on('error', (error) => {
      alive = false;
      running.delete(child);
      resolve(`spawn error: ${error.message}`);
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };

  return {
    name,
    logFile,
    exited,
    isRunning: () => alive,
    async stop(graceMs = 10_000) {
      if (!alive) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    logTail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

/** Runs `hook` synchronously if this process exits or is interrupted before the hook is removed. */
export function addExitHook(hook: () => void): () => void {
  exitHooks.add(hook);
  installExitHandlers();
  return () => exitHooks.delete(hook);
}

let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killEverythingNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // If someone else handles the signal (the CLI, a test runner) they decide when to exit and
      // the 'exit' handler cleans up then. Otherwise keep Node's default: clean up and die.
      if (process.listenerCount(signal) > 1) return;
      killEverythingNow();
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Synchronous, because 'exit' handlers cannot wait: SIGKILL every group we started, then run hooks. */
function killEverythingNow(): void {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      // best effort while exiting
    }
  }
  exitHooks.clear();
}
