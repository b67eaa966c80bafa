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
