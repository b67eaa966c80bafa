// Changes to a STARTED application: WaitForStop waits (the change lands once the application
// stops, out of band or by autoStop), StopWhenIdle waits for job runs, then stops, updates and
// starts again; a change the service accepts while STARTED is applied at once.
import { StartSessionCommand, TerminateSessionCommand } from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, JOB_ROLE_ARN, manifest, type Resource, reportFailures } from '../support/e2e.js';
import { APPLICATION_READS, expectQuietWindow } from '../support/quiet.js';

// One "minute" of autoStop idle time lasts 1.5 s here.
const IDLE_MINUTE_MS = 1_500;
const NO_AUTOSTOP = { autoStopConfiguration: { enabled: false } };

let e2e: E2e;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-running', { emulator: { idleMinuteMs: IDLE_MINUTE_MS } });
  [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Creates `name` with key A and waits until Ready; answers the application id. */
async function created(name: string, extra: Record<string, unknown>): Promise<string> {
  await e2e.apply(
    manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyA }, ...extra })),
  );
  const r = await e2e.waitForReady(name, 'True', 'Reconciled');
  return r.status!.applicationId!;
}

async function start(id: string, name: string): Promise<void> {
  await e2e.aws.patchApplication(id, { state: 'STARTED' });
  await e2e.waitForResource(name, 'state STARTED in status', (r) => r.status?.state === 'STARTED' && r);
}

const keyOf = (r: Resource) => r.status?.diskEncryption?.encryptionKeyArn;

describe('a change the service refuses while STARTED', () => {
  it('WaitForStop: waits (WaitingForStop, nothing sent) until the application is stopped out of band', async () => {
    const name = 'wait-oob';
    const id = await created(name, NO_AUTOSTOP);
    await start(id, name);

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(
        name,
        baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...NO_AUTOSTOP }),
      ),
    );
    const waiting = await e2e.waitForReady(name, 'False', 'WaitingForStop');
    expect(waiting.status?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'WaitingForStop',
    });
    await e2e.waitForEvent(name, 'WaitingForStop');
    // It keeps waiting across re-checks and resyncs, which look at the application, and sends nothing.
    await expectQuietWindow({
      during: 3_000,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    expect((await e2e.get(name)).status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(
      'WaitingForStop',
    );
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({ encryptionKeyArn: keyA });

    await e2e.aws.patchApplication(id, { state: 'STOPPED' });
    const done = await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(keyOf(done)).toBe(keyB);
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    // UpdateApplication sends the whole config: an explicit empty context.
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyB,
      encryptionContext: {},
    });
  });

  it('WaitForStop: the change lands after autoStop stops the idle application', async () => {
    const name = 'wait-autostop';
    // Idle timeout 8 "minutes" = 12 s: time for the operator to see the change wait, even on a
    // loaded machine, before autoStop stops the application.
    const autoStop = { autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 8 } };
    const id = await created(name, autoStop);
    await start(id, name);

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(
        name,
        baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...autoStop }),
      ),
    );
    await e2e.waitForReady(name, 'False', 'WaitingForStop');
    expect(await e2e.writesSince(mark)).toEqual([]);

    const done = await e2e.waitForReady(name, 'True', 'Reconciled', 30_000);
    expect(keyOf(done)).toBe(keyB);
    expect(done.status?.state).toBe('STOPPED');
    // The operator never stopped it: autoStop did.
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
  });

  it('StopWhenIdle: waits for the running job run (never cancels it), then stops, updates and starts again', async () => {
    const name = 'idle-job';
    const extra = { ...NO_AUTOSTOP, updateStrategy: 'StopWhenIdle' };
    const id = await created(name, extra);
    await start(id, name);
    const job = await e2e.aws.createJobRun(id, 'RUNNING');

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...extra })),
    );
    await e2e.waitForReady(name, 'False', 'WaitingForJobRuns');
    // It looks again (the application and its job runs) and sends nothing.
    await expectQuietWindow({
      during: 3_000,
      reads: e2e.awsReads({ operations: [...APPLICATION_READS, 'ListJobRuns'], applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    expect((await e2e.get(name)).status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(
      'WaitingForJobRuns',
    );
    expect((await e2e.callsSince(mark)).map((c) => c.operation)).not.toContain('CancelJobRun');

    await e2e.aws.setJobRunState(id, job.jobRunId, 'SUCCESS');
    const done = await e2e.waitForResource(
      name,
      'Ready with key B and STARTED',
      (r) =>
        r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        keyOf(r) === keyB &&
        r.status?.state === 'STARTED' &&
        r,
    );
    expect(done.status).not.toHaveProperty('restartAfterUpdate', true);
    expect(await e2e.writesSince(mark)).toEqual(['StopApplication', 'UpdateApplication', 'StartApplication']);
    expect(await e2e.application(id)).toMatchObject({
      state: 'STARTED',
      diskEncryptionConfiguration: { encryptionKeyArn: keyB },
    });
  });

  it('StopWhenIdle: waits for an open interactive session (never terminates it), then stops, updates and starts again', async () => {
    const name = 'idle-session';
    const extra = {
      ...NO_AUTOSTOP,
      updateStrategy: 'StopWhenIdle',
      releaseLabel: 'emr-7.13.0',
      interactiveConfiguration: { sessionEnabled: true },
    };
    const id = await created(name, extra);
    await start(id, name);
    const emr = e2e.emrClient();
    const { sessionId } = await emr.send(
      new StartSessionCommand({ applicationId: id, executionRoleArn: JOB_ROLE_ARN }),
    );

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...extra })),
    );
    await e2e.waitForReady(name, 'False', 'WaitingForSessions');
    // It looks again (the application, its job runs and sessions) and sends nothing.
    await expectQuietWindow({
      during: 3_000,
      reads: e2e.awsReads({ operations: [...APPLICATION_READS, 'ListSessions'], applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    expect((await e2e.callsSince(mark)).map((c) => c.operation)).not.toContain('TerminateSession');

    await emr.send(new TerminateSessionCommand({ applicationId: id, sessionId }));
    const done = await e2e.waitForResource(
      name,
      'Ready with key B and STARTED',
      (r) =>
        r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        keyOf(r) === keyB &&
        r.status?.state === 'STARTED' &&
        r,
      30_000,
    );
    expect(done.status?.state).toBe('STARTED');
    const writes = (await e2e.writesSince(mark)).filter((op) => op !== 'TerminateSession');
    expect(writes).toEqual(['StopApplication', 'UpdateApplication', 'StartApplication']);
  });

  it('StopWhenIdle without job runs: stops, updates and starts again at once', async () => {
    const name = 'idle-nojob';
    const extra = { ...NO_AUTOSTOP, updateStrategy: 'StopWhenIdle' };
    const id = await created(name, extra);
    await start(id, name);

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...extra })),
    );
    await e2e.waitForResource(
      name,
      'Ready with key B and STARTED',
      (r) =>
        r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        keyOf(r) === keyB &&
        r.status?.state === 'STARTED' &&
        r,
    );
    expect(await e2e.writesSince(mark)).toEqual(['StopApplication', 'UpdateApplication', 'StartApplication']);
    await e2e.waitForEvent(name, 'Restarted');
  });
});

describe('a change the service accepts while STARTED', () => {
  it('maximumCapacity is applied at once, without stopping', async () => {
    const name = 'capacity';
    const capacity = (cpu: string) => ({ maximumCapacity: { cpu, memory: '64 GB' } });
    const id = await created(name, { ...NO_AUTOSTOP, ...capacity('16 vCPU') });
    await start(id, name);

    const mark = await e2e.mark();
    await e2e.apply(
      manifest(
        name,
        baseSpec(name, {
          diskEncryptionConfiguration: { encryptionKeyArn: keyA },
          ...NO_AUTOSTOP,
          ...capacity('32 vCPU'),
        }),
      ),
    );
    await e2e.waitForResource(name, 'Ready at generation 2', (r) => {
      const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === 2 && r;
    });
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect(await e2e.application(id)).toMatchObject({
      state: 'STARTED',
      maximumCapacity: { cpu: '32 vCPU' },
    });
  });
});
