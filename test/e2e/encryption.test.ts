// diskEncryptionConfiguration end to end: create with a key, change the key, change only the
// context, `{}` (back to the AWS-owned key), remove the field (unmanaged: no AWS write, a Warning
// event); adopting an existing application, and an id that does not exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, reportFailures } from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

let e2e: E2e;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-encryption', { operatorArgs: ['--adopt-namespaces=*'] });
  [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

describe('diskEncryptionConfiguration', () => {
  it('create, change the key, change the context, {} and remove the field', async () => {
    const name = 'analytics';
    const spec = (disk?: unknown) =>
      manifest(name, baseSpec(name, disk === undefined ? {} : { diskEncryptionConfiguration: disk }));

    // 1. Create with a customer-managed key: exactly one CreateApplication, carrying the config.
    let mark = await e2e.mark();
    await e2e.apply(spec({ encryptionKeyArn: keyA, encryptionContext: { project: 'analytics' } }));
    await e2e.kubectlWaitReady(name);
    let r = await e2e.waitForReady(name, 'True', 'Reconciled');
    const id = r.status!.applicationId!;
    expect(id).toBeTruthy();
    expect(r.status).toMatchObject({
      encryption: 'CustomerManaged',
      diskEncryption: {
        mode: 'CustomerManaged',
        encryptionKeyArn: keyA,
        encryptionContext: { project: 'analytics' },
        managed: true,
        key: { verified: true, state: 'Enabled' },
      },
    });
    expect(await e2e.writesSince(mark)).toEqual(['CreateApplication']);
    expect(await e2e.application(id)).toMatchObject({
      diskEncryptionConfiguration: { encryptionKeyArn: keyA, encryptionContext: { project: 'analytics' } },
    });
    const describes = (await e2e.callsSince(mark)).filter((c) => c.operation === 'DescribeKey');
    expect(describes.length).toBeGreaterThanOrEqual(1);
    expect(r.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');

    // 2. Another key: DescribeKey on it, then one UpdateApplication with the whole config.
    mark = await e2e.mark();
    await e2e.apply(spec({ encryptionKeyArn: keyB, encryptionContext: { project: 'analytics' } }));
    r = await e2e.waitForResource(
      name,
      'key B in status',
      (x) => x.status?.diskEncryption?.encryptionKeyArn === keyB && x.status.observedGeneration === 2 && x,
    );
    await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect(
      (await e2e.callsSince(mark)).some(
        (c) => c.operation === 'DescribeKey' && keyB.endsWith(c.keyId ?? '#'),
      ),
    ).toBe(true);
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyB,
      encryptionContext: { project: 'analytics' },
    });

    // 3. Only the context.
    mark = await e2e.mark();
    await e2e.apply(
      spec({ encryptionKeyArn: keyB, encryptionContext: { project: 'analytics', team: 'data' } }),
    );
    await e2e.waitForResource(
      name,
      'the new context in status',
      (x) => x.status?.diskEncryption?.encryptionContext?.team === 'data' && x,
    );
    await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyB,
      encryptionContext: { project: 'analytics', team: 'data' },
    });

    // 4. `{}`: back to the AWS-owned key with one UpdateApplication.
    mark = await e2e.mark();
    await e2e.apply(spec({}));
    r = await e2e.waitForResource(name, 'AwsOwned', (x) => x.status?.encryption === 'AwsOwned' && x);
    await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    const disk = (await e2e.application(id)).diskEncryptionConfiguration as
      | Record<string, unknown>
      | undefined;
    expect(disk?.encryptionKeyArn).toBeUndefined();
    expect(r.status?.diskEncryption).toMatchObject({ mode: 'AwsOwned', managed: true });

    // Put a key back, then remove the field: AWS is left alone, a Warning event says so.
    await e2e.apply(spec({ encryptionKeyArn: keyA }));
    await e2e.waitForResource(
      name,
      'key A again',
      (x) => x.status?.diskEncryption?.encryptionKeyArn === keyA && x,
    );
    await e2e.waitForReady(name, 'True', 'Reconciled');
    mark = await e2e.mark();
    await e2e.apply(spec());
    const event = await e2e.waitForEvent(name, 'DiskEncryptionUnmanaged');
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('{}');
    r = await e2e.waitForResource(name, 'Unmanaged', (x) => x.status?.encryption === 'Unmanaged' && x);
    await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(r.status?.diskEncryption).toMatchObject({ managed: false, encryptionKeyArn: keyA });
    // Over a couple of resyncs, which look at it: still no write, AWS keeps the key.
    await expectQuietWindow({
      during: 4_500,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    // As last sent: the whole config, with an explicit empty context.
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyA,
      encryptionContext: {},
    });
    // The event is also visible through `kubectl get events`' default table.
    const table = (await e2e.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${name}`]))
      .stdout;
    expect(table).toMatch(/Warning\s+DiskEncryptionUnmanaged/);
  });

  it('adopts an existing application by id and never creates one', async () => {
    const appId = await e2e.createApplicationOutOfBand('adopted-app');
    const mark = await e2e.mark();
    await e2e.apply(
      manifest('adopted', { applicationId: appId, diskEncryptionConfiguration: { encryptionKeyArn: keyA } }),
    );
    const r = await e2e.waitForReady('adopted', 'True', 'Reconciled');
    expect(r.status).toMatchObject({ applicationId: appId, encryption: 'CustomerManaged' });
    const writes = await e2e.writesSince(mark);
    expect(writes).not.toContain('CreateApplication');
    // The claim (ownership tags), then the key.
    expect(writes).toEqual(['TagResource', 'UpdateApplication']);
    expect((await e2e.application(appId)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyA,
      encryptionContext: {},
    });
  });

  it('an id that does not exist is Stalled ApplicationNotFound, and nothing is created', async () => {
    const mark = await e2e.mark();
    await e2e.apply(manifest('ghost', { applicationId: '00nosuchapp000' }));
    const r = await e2e.waitForStalled('ghost', 'ApplicationNotFound');
    expect(r.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBeTruthy();
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});
