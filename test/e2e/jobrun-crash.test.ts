// Exactly one StartJobRun per EmrServerlessJobRun, whatever moment the operator dies at. The
// local service opens both windows: `latencyMs` (killed before the call took effect; it takes
// effect anyway) and `holdAnswerMs` (the run exists, the answer never arrives). Either way the
// restarted operator finds the run by its owner tag and records it; nothing is submitted twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWNER_UID_TAG } from '../../src/api/constants.js';
import { baseSpec, E2e, jobRunManifest, manifest, reportFailures, waitFor } from '../support/e2e.js';

let e2e: E2e;
let appId: string;
const APP = 'crash-app';

beforeAll(async () => {
  e2e = await E2e.start('e2e-jobrun-crash');
  const key = await e2e.createKey();
  await e2e.apply(manifest(APP, baseSpec(APP, { diskEncryptionConfiguration: { encryptionKeyArn: key } })));
  appId = (await e2e.waitForReady(APP, 'True', 'Reconciled')).status!.applicationId!;
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const startJobRuns = async () => (await e2e.calls()).filter((c) => c.operation === 'StartJobRun');

describe.each([
  ['before StartJobRun took effect (latencyMs)', 'crash-before', { latencyMs: 2_000 }],
  [
    'after StartJobRun took effect, before its answer (holdAnswerMs)',
    'crash-after',
    { holdAnswerMs: 60_000 },
  ],
])('SIGKILL %s', (_window, name, fault) => {
  it('the restarted operator finds the run: exactly one StartJobRun, the run recorded', async () => {
    const before = (await startJobRuns()).length;
    await e2e.aws.fault({ operation: 'StartJobRun', ...fault });
    const logMark = e2e.operator.lines.length;
    await e2e.apply(jobRunManifest(name, APP));
    await e2e.operator.waitForLog(
      (l) => l.msg === 'acting' && (l.actions as string[] | undefined)?.includes('StartJobRun') === true,
      20_000,
      logMark,
    );
    if ('holdAnswerMs' in fault) {
      // Killed once the run exists in the service, while its answer is held.
      await waitFor('StartJobRun to take effect', async () => (await startJobRuns()).length > before, {
        timeoutMs: 10_000,
      });
    } else {
      // Killed while the call waits to take effect.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await startJobRuns()).length).toBe(before);
    }
    await e2e.operator.kill('SIGKILL');
    const starts = await waitFor(
      'the in-flight StartJobRun to take effect in the service',
      async () => {
        const all = await startJobRuns();
        return all.length > before && all.slice(before);
      },
      { timeoutMs: 10_000 },
    );
    expect(starts).toHaveLength(1);
    const runId = starts[0]!.jobRunId!;
    const dead = await e2e.getJob(name);
    expect(dead.status?.jobRunId).toBeUndefined();
    expect(dead.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    // The run carries the resource's uid: that is how it is found again.
    expect((await e2e.aws.jobRun(appId, runId)).jobRun.tags).toMatchObject({
      [OWNER_UID_TAG]: dead.metadata.uid,
    });

    await e2e.aws.clearFaults();
    const mark = await e2e.mark();
    await e2e.startOperator();
    const r = await e2e.waitForJob(name, 'the run recorded', (x) => x.status?.jobRunId !== undefined && x);
    expect(r.status?.jobRunId).toBe(runId);
    expect(r.status?.applicationId).toBe(appId);
    const after = (await e2e.callsSince(mark)).map((c) => c.operation);
    expect(after).toContain('ListJobRuns');
    expect(after.filter((o) => o === 'StartJobRun')).toEqual([]);
    expect((await startJobRuns()).length).toBe(before + 1);
    expect((await e2e.events(name)).map((e) => e.reason)).toContain('Found');

    // And it follows that run to its end.
    await e2e.aws.setJobRunState(appId, runId, 'SUCCESS');
    await e2e.waitForJobCondition(name, 'Ready', 'Succeeded');
  });
});

const cancelJobRuns = async (runId: string) =>
  (await e2e.calls()).filter((c) => c.operation === 'CancelJobRun' && c.jobRunId === runId);

// The same two windows around the one write of a deletion: the first CancelJobRun takes effect
// either way, so the restarted operator finds the run cancelled (or cancelling), sends no second
// CancelJobRun, and lets the resource go.
describe.each([
  ['before CancelJobRun took effect (latencyMs)', 'cancel-before', { latencyMs: 2_000 }],
  [
    'after CancelJobRun took effect, before its answer (holdAnswerMs)',
    'cancel-after',
    { holdAnswerMs: 60_000 },
  ],
])('SIGKILL %s', (_window, name, fault) => {
  it('the restarted operator finds the run cancelled: one CancelJobRun, then the finalizer goes', async () => {
    if (!e2e.operator.running) await e2e.startOperator();
    await e2e.apply(jobRunManifest(name, APP));
    const runId = (await e2e.waitForJob(name, 'submitted', (x) => x.status?.jobRunId)) as string;
    await e2e.aws.setJobRunState(appId, runId, 'RUNNING');
    await e2e.waitForJob(name, 'RUNNING', (x) => x.status?.state === 'RUNNING');
    await e2e.aws.fault({ operation: 'CancelJobRun', ...fault });
    const logMark = e2e.operator.lines.length;
    await e2e.kubectl(['delete', 'emrjob', name, '--wait=false']);
    await e2e.operator.waitForLog(
      (l) => l.msg === 'acting' && (l.actions as string[] | undefined)?.includes('CancelJobRun') === true,
      20_000,
      logMark,
    );
    if ('holdAnswerMs' in fault) {
      await waitFor('CancelJobRun to take effect', async () => (await cancelJobRuns(runId)).length > 0, {
        timeoutMs: 10_000,
      });
    } else {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await cancelJobRuns(runId)).toEqual([]);
    }
    await e2e.operator.kill('SIGKILL');
    await waitFor(
      'the in-flight CancelJobRun to take effect',
      async () => (await cancelJobRuns(runId)).length > 0,
      {
        timeoutMs: 10_000,
      },
    );
    const dying = await e2e.getJob(name);
    expect(dying.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');

    await e2e.aws.clearFaults();
    await e2e.startOperator();
    await e2e.waitJobGone(name, 30_000);
    expect(['CANCELLING', 'CANCELLED']).toContain((await e2e.aws.jobRun(appId, runId)).jobRun.state);
    expect(await cancelJobRuns(runId)).toHaveLength(1);
  });
});

// The answer of StartJobRun lost (the operator killed while it is held), the resource deleted
// meanwhile, and ListJobRuns lagging: the restarted operator's search finds nothing at first. It
// keeps the finalizer (status.deletionSearch), searches again a listing lag later, finds the run
// and cancels it (deletionPolicy: Cancel): one run, cancelled, no orphan.
describe('a lost StartJobRun answer, then deletion, while ListJobRuns lags', () => {
  // The local service's lag, and the operator's (at least as long): long enough that the
  // restarted operator's first search comes before the listing shows the item, even on a loaded
  // machine (with 12 s, a kill and restart once took 15 s).
  const LAG_MS = 25_000;
  const OPERATOR_LAG = '26s';

  it('the run is found and cancelled: one StartJobRun, one CancelJobRun, then the finalizer goes', {
    timeout: 120_000,
  }, async () => {
    const name = 'lost-start-deleted';
    if (!e2e.operator.running) await e2e.startOperator();
    const before = (await startJobRuns()).length;
    await e2e.aws.setListingLag(LAG_MS);
    try {
      await e2e.aws.fault({ operation: 'StartJobRun', count: 1, holdAnswerMs: 60_000 });
      await e2e.apply(jobRunManifest(name, APP, { deletionPolicy: 'Cancel' }));
      const started = await waitFor(
        'StartJobRun to take effect',
        async () => (await startJobRuns()).slice(before).find((c) => c.status === 200),
        { timeoutMs: 20_000, intervalMs: 25 },
      );
      await e2e.operator.kill('SIGKILL');
      await e2e.aws.clearFaults();
      const runId = started.jobRunId!;
      await e2e.aws.setJobRunState(appId, runId, 'RUNNING');
      await e2e.kubectl(['delete', 'emrjob', name, '--wait=false']);
      const dying = await e2e.getJob(name);
      expect(dying.status?.jobRunId, 'the answer was lost: no id recorded').toBeUndefined();
      expect(dying.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');

      await e2e.startOperator([`--listing-lag=${OPERATOR_LAG}`]);
      // The first search finds nothing (the listing lags): the finalizer stays, and status says why.
      const held = await waitFor(
        `job run ${name}: a search that found nothing, recorded`,
        async () => {
          if (!(await e2e.jobExists(name))) return 'released' as const;
          const r = await e2e.getJob(name);
          return r.status?.deletionSearch !== undefined && r;
        },
        { timeoutMs: 30_000 },
      );
      if (held === 'released') {
        expect.fail(
          `the finalizer was released on the first, lagging search: job run ${runId} is left ${(await e2e.aws.jobRun(appId, runId)).jobRun.state}`,
        );
      }
      expect(held.status?.conditions?.find((c) => c.type === 'Reconciling')?.message).toContain(
        'may not be listed yet',
      );
      await e2e.waitJobGone(name, 60_000);

      expect(['CANCELLING', 'CANCELLED']).toContain((await e2e.aws.jobRun(appId, runId)).jobRun.state);
      expect(await cancelJobRuns(runId)).toHaveLength(1);
      expect((await startJobRuns()).length).toBe(before + 1);
    } finally {
      await e2e.aws.setListingLag(0);
      await e2e.aws.clearFaults();
    }
  });
});
