// Lifecycle end to end: drift made outside the operator is put back on resync, an application
// terminated outside it is Stalled (never re-created), and deletion under both policies,
// including a STARTED application with a running job run (waited for, never cancelled).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, RESYNC_MS, reportFailures, sleep } from '../support/e2e.js';
import { APPLICATION_READS, expectQuietWindow } from '../support/quiet.js';

const NO_AUTOSTOP = { autoStopConfiguration: { enabled: false } };

let e2e: E2e;
let key: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-lifecycle', { operatorArgs: ['--adopt-namespaces=*'] });
  key = await e2e.createKey();
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

async function created(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  await e2e.apply(
    manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: key }, ...extra })),
  );
  return (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
}

describe('out-of-band changes', () => {
  it('drift of diskEncryptionConfiguration is put back on resync', async () => {
    const id = await created('drift');
    const other = await e2e.createKey();
    const mark = await e2e.mark();
    await e2e.aws.patchApplication(id, { diskEncryptionConfiguration: { encryptionKeyArn: other } });
    await waitForAws(async () => {
      const disk = (await e2e.application(id)).diskEncryptionConfiguration as { encryptionKeyArn?: string };
      return disk?.encryptionKeyArn === key;
    }, 'the drift fixed in AWS');
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);

    // Removed out of band (the AWS-owned key): put back as well.
    const mark2 = await e2e.mark();
    await e2e.aws.patchApplication(id, { diskEncryptionConfiguration: null });
    await waitForAws(async () => {
      const disk = (await e2e.application(id)).diskEncryptionConfiguration as { encryptionKeyArn?: string };
      return disk?.encryptionKeyArn === key;
    }, 'the removed key put back');
    expect(await e2e.writesSince(mark2)).toEqual(['UpdateApplication']);
    await e2e.waitForReady('drift', 'True', 'Reconciled');
  });

  it('an application terminated out of band: Stalled ApplicationTerminated, never re-created', async () => {
    const id = await created('terminated');
    const mark = await e2e.mark();
    await e2e.aws.patchApplication(id, { state: 'TERMINATED' });
    const r = await e2e.waitForStalled('terminated', 'ApplicationTerminated', 3 * RESYNC_MS + 10_000);
    expect(r.status?.state).toBe('TERMINATED');
    await e2e.waitForEvent('terminated', 'ApplicationTerminated');
    // A few more resyncs, each looking at it: still nothing created.
    await expectQuietWindow({
      during: 2 * RESYNC_MS + 500,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    // Deleting the resource now just releases it (AWS already says TERMINATED).
    await e2e.kubectl(['delete', 'emrsa', 'terminated', '--wait=false']);
    await e2e.waitGone('terminated');
    expect((await e2e.writesSince(mark)).filter((w) => w === 'CreateApplication')).toEqual([]);
  });
});

async function waitForAws(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3 * RESYNC_MS + 10_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await e2e.diagnostics()}`);
    await sleep(150);
  }
}

describe('tags', () => {
  it("are made exactly those of spec (TagResource / UntagResource), keeping the operator's own tag", async () => {
    const id = await created('tagged', { tags: { team: 'data', stage: 'dev' } });
    expect((await e2e.application(id)).tags).toMatchObject({ team: 'data', stage: 'dev' });
    const mark = await e2e.mark();
    await e2e.apply(
      manifest(
        'tagged',
        baseSpec('tagged', {
          diskEncryptionConfiguration: { encryptionKeyArn: key },
          tags: { team: 'data', cost: '42' },
        }),
      ),
    );
    await e2e.waitForResource('tagged', 'Ready at generation 2', (r) => {
      const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === 2 && r;
    });
    expect((await e2e.writesSince(mark)).sort()).toEqual(['TagResource', 'UntagResource']);
    const tags = (await e2e.application(id)).tags as Record<string, string>;
    expect(tags).toMatchObject({ team: 'data', cost: '42' });
    expect(tags).not.toHaveProperty('stage');
    expect(Object.keys(tags)).toContain('emrserverless.operator.dev/resource-uid');
  });
});

describe('deletion', () => {
  it('Delete (default for created apps): DeleteApplication, then the object disappears', async () => {
    const id = await created('del');
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrsa', 'del', '--wait=false']);
    await e2e.waitGone('del');
    expect(await e2e.writesSince(mark)).toEqual(['DeleteApplication']);
    expect((await e2e.application(id)).state).toBe('TERMINATED');
  });

  it('Retain: the finalizer goes, the application stays', async () => {
    const id = await created('keep', { deletionPolicy: 'Retain' });
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrsa', 'keep', '--wait=false']);
    await e2e.waitGone('keep');
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.application(id)).state).toBe('CREATED');
  });

  it('Retain is the default for adopted applications', async () => {
    const id = await e2e.createApplicationOutOfBand('adopted-keep');
    await e2e.apply(manifest('adopted-keep', { applicationId: id }));
    await e2e.waitForReady('adopted-keep', 'True', 'Reconciled');
    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrsa', 'adopted-keep', '--wait=false']);
    await e2e.waitGone('adopted-keep');
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.application(id)).state).toBe('CREATED');
  });

  it('a STARTED application with a running job run: waits for the job (never cancels), stops, deletes', async () => {
    const id = await created('del-started', NO_AUTOSTOP);
    await e2e.aws.patchApplication(id, { state: 'STARTED' });
    await e2e.waitForResource('del-started', 'STARTED', (r) => r.status?.state === 'STARTED' && r);
    const job = await e2e.aws.createJobRun(id, 'RUNNING');

    const mark = await e2e.mark();
    await e2e.kubectl(['delete', 'emrsa', 'del-started', '--wait=false']);
    const waiting = await e2e.waitForReady('del-started', 'False', 'WaitingForJobRuns');
    expect(waiting.metadata.deletionTimestamp).toBeTruthy();
    // It keeps looking (the application, its job runs) and sends nothing.
    await expectQuietWindow({
      during: RESYNC_MS + 1_000,
      reads: e2e.awsReads({ operations: [...APPLICATION_READS, 'ListJobRuns'], applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    expect(await e2e.exists('del-started')).toBe(true);
    expect((await e2e.callsSince(mark)).map((c) => c.operation)).not.toContain('CancelJobRun');

    await e2e.aws.setJobRunState(id, job.jobRunId, 'SUCCESS');
    await e2e.waitGone('del-started');
    expect(await e2e.writesSince(mark)).toEqual(['StopApplication', 'DeleteApplication']);
    expect((await e2e.application(id)).state).toBe('TERMINATED');
  });
});
