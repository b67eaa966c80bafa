// Through real Argo CD (test/support/argocd.ts): an Application per case, git commits as the
// user's only input (a refresh after each push stands in for the git webhook). Each case reports
// commit -> Synced+Healthy latency and the AWS writes it caused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgoCd } from '../support/argocd.js';
import { baseSpec, E2e, jobRunManifest, manifest, RESYNC_MS, reportFailures, sleep } from '../support/e2e.js';

let e2e: E2e;
let argo: ArgoCd;

beforeAll(async () => {
  e2e = await E2e.start('e2e-argocd');
  argo = await ArgoCd.start(e2e.cluster);
});

afterAll(async () => {
  await argo?.stop();
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Commits `files`, asks Argo CD to refresh, waits for Synced at that commit and `health`. */
async function commitAndWait(app: string, files: Record<string, string | null>, health = 'Healthy') {
  const started = Date.now();
  const revision = await argo.commit(files, `${app}: change`);
  await argo.refresh(app);
  const status = await argo.waitFor(app, revision, health);
  const ms = Date.now() - started;
  process.stderr.write(`[argocd] ${app}: commit -> Synced+${health} in ${ms} ms\n`);
  return { revision, status, ms };
}

describe('an EmrServerlessApplication with a key', () => {
  it('syncs to Synced and Healthy, and stays Synced over 3 operator resyncs and 2 refreshes', async () => {
    const key = await e2e.createKey();
    const mark = await e2e.mark();
    const file = manifest(
      'synced',
      baseSpec('synced', { diskEncryptionConfiguration: { encryptionKeyArn: key } }),
    );
    await argo.commit({ 'synced/app.yaml': file }, 'synced: add');
    await argo.createApplication('synced', 'synced', e2e.namespace);
    const { revision, ms } = await commitAndWait('synced', {});
    expect(ms).toBeLessThan(60_000);
    const ready = await e2e.waitForReady('synced', 'True', 'Reconciled');
    expect(ready.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    const writes = await e2e.writesSince(mark);
    process.stderr.write(`[argocd] synced: AWS writes ${JSON.stringify(writes)}\n`);
    expect(writes.filter((w) => w.startsWith('CreateApplication'))).toHaveLength(1);

    // 3 resyncs of the operator and 2 refreshes of Argo CD: still Synced at the same revision.
    await sleep(RESYNC_MS * 3.5);
    for (let i = 0; i < 2; i++) {
      await argo.refresh('synced');
      await sleep(2_000);
      const s = await argo.status('synced');
      expect(s.sync).toMatchObject({ status: 'Synced', revision });
      expect(s.health?.status).toBe('Healthy');
    }
    expect(await e2e.writesSince(mark)).toEqual(writes);
  });
});

describe('job runs with ttlSecondsAfterFinished under self-heal', () => {
  it('after the TTL deletion and the recreation by Argo CD: zero new StartJobRun', async () => {
    const mark = await e2e.mark();
    await argo.commit(
      {
        'jobs/app.yaml': manifest('jobs-app', baseSpec('jobs-app')),
        'jobs/run.yaml': jobRunManifest('nightly', 'jobs-app', { ttlSecondsAfterFinished: 2 }),
      },
      'jobs: add',
    );
    await argo.createApplication('jobs', 'jobs', e2e.namespace);
    const job = await e2e.waitForJob('nightly', 'submitted', (r) => !!r.status?.jobRunId && r);
    const appId = job.status?.applicationId as string;
    await e2e.aws.setJobRunState(appId, job.status?.jobRunId as string, 'SUCCESS');
    // Deleted by the operator after the TTL, recreated by self-heal with a new uid.
    await waitForRecreated(job.metadata.uid);
    const again = await e2e.waitForJobCondition('nightly', 'Ready', 'Succeeded');
    expect(again.status?.jobRunId).toBe(job.status?.jobRunId);
    await sleep(RESYNC_MS * 3);
    const starts = (await e2e.callsSince(mark)).filter((c) => c.operation === 'StartJobRun');
    expect(starts).toHaveLength(1);
    const s = await argo.status('jobs');
    expect(s.sync?.status).toBe('Synced');
    expect(s.health?.status).toBe('Healthy');
  });
});

async function waitForRecreated(uid: string | undefined): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await e2e.getJob('nightly').catch(() => undefined);
    if (r && r.metadata.uid !== uid) return;
    if (Date.now() > deadline) throw new Error('nightly was not recreated by Argo CD');
    await sleep(250);
  }
}
