// The operator killed (SIGKILL) at the worst moments: during CreateApplication (no duplicate
// application afterwards), and between StopApplication and StartApplication under StopWhenIdle
// (the application is started again once the operator is back).
import { ListApplicationsCommand } from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, reportFailures, waitFor } from '../support/e2e.js';

let e2e: E2e;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-crash');
  [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

async function applicationsNamed(name: string): Promise<Array<{ id: string; state: string }>> {
  const client = e2e.emrClient();
  try {
    const out = await client.send(new ListApplicationsCommand({ maxResults: 50 }));
    return (out.applications ?? [])
      .filter((a) => a.name === name)
      .map((a) => ({ id: a.id!, state: a.state! }));
  } finally {
    client.destroy();
  }
}

describe('SIGKILL', () => {
  it('during CreateApplication: after a restart there is exactly one application, adopted', async () => {
    // The service takes 2 s to answer CreateApplication: the kill lands while the call is in flight,
    // so the application gets created but the operator never hears its id.
    await e2e.aws.fault({ operation: 'CreateApplication', latencyMs: 2_000 });
    const logMark = e2e.operator.lines.length;
    await e2e.apply(
      manifest(
        'crash-create',
        baseSpec('crash-create', { diskEncryptionConfiguration: { encryptionKeyArn: keyA } }),
      ),
    );
    await e2e.operator.waitForLog(
      (l) =>
        l.msg === 'acting' && (l.actions as string[] | undefined)?.includes('CreateApplication') === true,
      20_000,
      logMark,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await e2e.operator.kill('SIGKILL');
    const created = await waitFor('the in-flight CreateApplication to finish in the service', async () => {
      const apps = await applicationsNamed('crash-create');
      return apps.length > 0 && apps;
    });
    expect(created).toHaveLength(1);
    // The operator died before writing status.
    expect((await e2e.get('crash-create')).status?.applicationId).toBeUndefined();

    await e2e.aws.clearFaults();
    const mark = await e2e.mark();
    await e2e.startOperator();
    const r = await e2e.waitForReady('crash-create', 'True', 'Reconciled');
    // It found its own application (ListApplications, then the resource-uid tag): no second create.
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.callsSince(mark)).map((c) => c.operation)).toContain('ListApplications');
    expect(r.status?.applicationId).toBe(created[0]!.id);
    expect(await applicationsNamed('crash-create')).toHaveLength(1);
    expect(r.status?.diskEncryption?.encryptionKeyArn).toBe(keyA);
  });

  it('between StopApplication and StartApplication (StopWhenIdle): started again after the restart', async () => {
    const name = 'crash-restart';
    const extra = { updateStrategy: 'StopWhenIdle', autoStopConfiguration: { enabled: false } };
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyA }, ...extra })),
    );
    const id = (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
    await e2e.aws.patchApplication(id, { state: 'STARTED' });
    await e2e.waitForResource(name, 'STARTED', (r) => r.status?.state === 'STARTED' && r);

    // StartApplication fails for now: the operator stops, updates, and cannot start again.
    await e2e.aws.fault({ operation: 'StartApplication', status: 500, rate: 1 });
    const mark = await e2e.mark();
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: keyB }, ...extra })),
    );
    await waitFor(
      'StopApplication in the calls log',
      async () => (await e2e.writesSince(mark)).includes('StopApplication'),
      { timeoutMs: 20_000, diagnostics: () => e2e.diagnostics(name) },
    );
    await e2e.operator.kill('SIGKILL');

    // The intent to restart was recorded before the stop.
    const dead = await e2e.get(name);
    expect(dead.status?.restartAfterUpdate).toBe(true);
    expect((await e2e.application(id)).state).not.toBe('STARTED');

    await e2e.aws.clearFaults();
    await e2e.startOperator();
    const r = await e2e.waitForResource(
      name,
      'Ready, key B, STARTED',
      (x) =>
        x.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        x.status.diskEncryption?.encryptionKeyArn === keyB &&
        x.status.state === 'STARTED' &&
        x,
      30_000,
    );
    expect(r.status?.restartAfterUpdate).not.toBe(true);
    expect(await e2e.application(id)).toMatchObject({
      state: 'STARTED',
      diskEncryptionConfiguration: { encryptionKeyArn: keyB },
    });
    const writes = await e2e.writesSince(mark);
    expect(writes[0]).toBe('StopApplication');
    expect(writes.filter((w) => w === 'UpdateApplication')).toHaveLength(1);
    expect(writes.at(-1)).toBe('StartApplication');
  });
});
