// Start-up with work waiting: 200 (STARTUP_E2E_COUNT) EmrServerlessApplications and as many
// EmrServerlessJobRuns (one per application) are applied while no operator runs, then the operator starts. Its workers
// start only once the caches they read have synced, so no job run is ever reconciled against an
// application cache not filled yet: none reports WaitingForApplication for an application that
// does not exist (in its status, watched throughout, or in an Event). The figures (operator
// start to caches synced, first reconcile, all runs submitted) are printed, not asserted.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseSpec,
  E2e,
  jobRunManifest,
  type LogLine,
  manifest,
  reportFailures,
  waitFor,
} from '../support/e2e.js';

/** Applications (and as many job runs) waiting at start-up: about 90 s on a two-core machine. */
const COUNT = Number(process.env.STARTUP_E2E_COUNT ?? 200);
/** What the planner says when the referenced application is not in the cache. */
const MISSING = 'does not exist in namespace';

let e2e: E2e;
let watcher: ChildProcess | undefined;

beforeAll(async () => {
  e2e = await E2e.start('e2e-startup', { operator: false });
});

afterAll(async () => {
  watcher?.kill('SIGKILL');
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Every status change of every job run, one line each: name, its conditions' reasons and messages. */
function watchJobRunConditions(): { lines: string[]; stderr: () => string; process: ChildProcess } {
  const columns =
    'NAME:.metadata.name,REASONS:.status.conditions[*].reason,MESSAGES:.status.conditions[*].message';
  const child = spawn(
    e2e.cluster.kubectlPath,
    [
      '--kubeconfig',
      e2e.cluster.kubeconfig,
      '-n',
      e2e.namespace,
      'get',
      'emrjob',
      '--watch',
      '--no-headers',
      '-o',
      `custom-columns=${columns}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { lines, stderr: () => stderr, process: child };
}

const at = (line: LogLine | undefined): number | undefined =>
  line?.time === undefined ? undefined : Date.parse(String(line.time));

const seconds = (from: number, to: number | undefined) =>
  to === undefined ? 'n/a' : `${((to - from) / 1000).toFixed(2)} s`;

describe(`start-up with ${COUNT} applications and ${COUNT} job runs waiting`, () => {
  it('submits every run without ever taking an existing application for a missing one', {
    timeout: 60_000 + COUNT * 600,
  }, async () => {
    const documents: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      documents.push(manifest(`app-${i}`, baseSpec(`app-${i}`)));
      documents.push(jobRunManifest(`job-${i}`, `app-${i}`));
    }
    const applyStarted = Date.now();
    await e2e.apply(documents.join('---\n'));
    const applyMs = Date.now() - applyStarted;

    const watch = watchJobRunConditions();
    watcher = watch.process;
    await waitFor('the job-run watch to list every run', () => watch.lines.length >= COUNT, {
      timeoutMs: 30_000,
      diagnostics: () => `${watch.lines.length} lines; stderr: ${watch.stderr()}`,
    });

    const started = Date.now();
    // Unlimited AWS rate and a long resync: the figures are the operator's start-up, not the rate
    // limiter's or periodic resyncs'.
    const operator = await e2e.startOperator(['--aws-rps', '0', '--resync-period', '10m'], { wait: false });
    await waitFor(
      `${COUNT} job runs submitted`,
      async () =>
        (await e2e.calls()).filter((c) => c.operation === 'StartJobRun' && c.status === 200).length >= COUNT,
      { timeoutMs: 90_000, intervalMs: 500, diagnostics: () => operator.tail(40) },
    );
    const submittedAt = Date.now();
    await waitFor(
      `${COUNT} job runs with status.jobRunId`,
      async () => {
        const { stdout } = await e2e.kubectl([
          'get',
          'emrjob',
          '-o',
          'jsonpath={range .items[*]}{.status.jobRunId}{"\\n"}{end}',
        ]);
        return stdout.split('\n').filter((id) => id.trim() !== '').length === COUNT;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const recordedAt = Date.now();

    // A graceful stop flushes the Events the recorder still aggregates.
    await operator.stop();
    watcher.kill('SIGKILL');
    watcher = undefined;

    const calls = await e2e.calls();
    const startJobRuns = calls.filter((c) => c.operation === 'StartJobRun' && c.status === 200);
    const synced = operator.lines.filter((l) => l.msg === 'caches synced');
    const figures = {
      objects: `${COUNT} applications + ${COUNT} job runs`,
      apply: `${(applyMs / 1000).toFixed(2)} s (one kubectl apply)`,
      cachesSynced: synced.map((l) => `${String(l.controller)} ${seconds(started, at(l))}`).join(', '),
      workersStarted: seconds(started, at(operator.find('starting workers'))),
      firstReconcile: seconds(started, at(operator.find('acting'))),
      firstCreateApplication: seconds(
        started,
        Date.parse(calls.find((c) => c.operation === 'CreateApplication')?.at ?? ''),
      ),
      firstStartJobRun: seconds(started, Date.parse(startJobRuns[0]?.at ?? '')),
      allSubmitted: seconds(started, Date.parse(startJobRuns.at(-1)?.at ?? '')),
      allSubmittedSeenByTest: seconds(started, submittedAt),
      allJobRunIdsInStatus: seconds(started, recordedAt),
      awsCalls: calls.length,
    };
    console.log(`start-up figures (from operator start):\n${JSON.stringify(figures, null, 2)}`);

    // Each run submitted exactly once.
    expect(new Set(startJobRuns.map((c) => c.jobRunId)).size).toBe(COUNT);

    // Never reported missing: not in any status the watch saw...
    const waiting = watch.lines.filter((l) => l.includes('WaitingForApplication'));
    const missing = waiting.filter((l) => l.includes(MISSING));
    console.log(
      `job-run status changes seen: ${watch.lines.length}; WaitingForApplication: ${waiting.length} ` +
        `(application not bound yet: ${waiting.length - missing.length}, application missing: ${missing.length})`,
    );
    expect(missing.slice(0, 5)).toEqual([]);

    // ...nor in an Event.
    const { stdout } = await e2e.kubectl([
      'get',
      'events',
      '--field-selector',
      'reason=WaitingForApplication',
      '-o',
      'json',
    ]);
    const events = (
      JSON.parse(stdout) as { items: Array<{ message: string; involvedObject: { name: string } }> }
    ).items;
    const missingEvents = events.filter((e) => e.message.includes(MISSING));
    expect(missingEvents.map((e) => `${e.involvedObject.name}: ${e.message}`).slice(0, 5)).toEqual([]);
  });
});
