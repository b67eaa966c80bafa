// Key verification end to end: a key that cannot be used stops everything before AWS hears of it
// (Stalled with the reason); AccessDenied on DescribeKey proceeds with a Warning; a key disabled
// after it was applied turns Ready False.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, REGION, reportFailures } from '../support/e2e.js';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-keys');
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const withKey = (name: string, encryptionKeyArn: string) =>
  manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn } }));

describe('a key that cannot be used: Stalled, nothing sent', () => {
  const cases: Array<[string, () => Promise<string>, string]> = [
    ['disabled', () => e2e.createKey({ keyState: 'Disabled' }), 'KeyDisabled'],
    ['pending deletion', () => e2e.createKey({ keyState: 'PendingDeletion' }), 'KeyPendingDeletion'],
    [
      'asymmetric (RSA_2048 SIGN_VERIFY)',
      () => e2e.createKey({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' }),
      'KeyNotSymmetric',
    ],
    [
      'symmetric but not ENCRYPT_DECRYPT',
      () => e2e.createKey({ keyUsage: 'GENERATE_VERIFY_MAC' }),
      'KeyUsageInvalid',
    ],
    [
      'not found',
      async () => `arn:aws:kms:${REGION}:123456789012:key/00000000-0000-0000-0000-000000000000`,
      'KeyNotFound',
    ],
  ];

  it.each(cases)('%s', async (label, makeKey, reason) => {
    const name = `key-${label.split(' ')[0]!.toLowerCase()}`;
    const arn = await makeKey();
    const mark = await e2e.mark();
    await e2e.apply(withKey(name, arn));
    const r = await e2e.waitForStalled(name, reason);
    const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason });
    expect(ready?.message).toContain(arn);
    expect(r.status?.applicationId).toBeUndefined();
    const calls = await e2e.callsSince(mark);
    expect(calls.filter((c) => c.operation === 'DescribeKey').length).toBeGreaterThanOrEqual(1);
    expect(await e2e.writesSince(mark)).toEqual([]);
    const event = await e2e.waitForEvent(name, reason);
    expect(event.type).toBe('Warning');
  });
});

describe('AccessDenied on DescribeKey', () => {
  it('proceeds: the application is created with the key, status says unverified, a Warning KeyUnverified', async () => {
    // A key in another account whose policy does not grant the operator kms:DescribeKey.
    const arn = (await e2e.aws.createKey({ account: '210987654321', region: REGION })).Arn;
    await e2e.aws.denyKey(arn);
    const mark = await e2e.mark();
    await e2e.apply(withKey('denied', arn));
    const r = await e2e.waitForReady('denied', 'True', 'Reconciled');
    expect(r.status?.diskEncryption).toMatchObject({
      mode: 'CustomerManaged',
      encryptionKeyArn: arn,
      managed: true,
      key: { verified: false, reason: 'AccessDenied' },
    });
    expect(await e2e.writesSince(mark)).toEqual(['CreateApplication']);
    expect((await e2e.application(r.status!.applicationId!)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: arn,
    });
    const event = await e2e.waitForEvent('denied', 'KeyUnverified');
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('kms:DescribeKey');
  });
});

describe('a key disabled after it was applied', () => {
  it('turns Ready False (KeyDisabled) on a resync, without touching AWS; enabling it again recovers', async () => {
    // Its own operator with a short key cache: the re-check happens on a plain resync.
    const rechecking = await E2e.start('e2e-keys-recheck', { operatorArgs: ['--key-cache-ttl=1s'] });
    try {
      const arn = await rechecking.createKey();
      await rechecking.apply(withKey('later', arn));
      await rechecking.waitForReady('later', 'True', 'Reconciled');

      const mark = await rechecking.mark();
      await rechecking.aws.setKeyState(arn, 'Disabled');
      const r = await rechecking.waitForReady('later', 'False', 'KeyDisabled');
      expect(r.status?.diskEncryption?.key).toMatchObject({
        verified: false,
        reason: 'KeyDisabled',
        state: 'Disabled',
      });
      await rechecking.aws.setKeyState(arn, 'Enabled');
      await rechecking.waitForReady('later', 'True', 'Reconciled');
      expect(await rechecking.writesSince(mark)).toEqual([]);
    } catch (error) {
      console.error(await rechecking.diagnostics('later'));
      throw error;
    } finally {
      await rechecking.stop();
    }
  });
});

describe('--verify-keys=false', () => {
  it('sends the key without asking KMS; status says VerificationDisabled', async () => {
    // Its own namespace, local service and operator, started with the flag.
    const unverified = await E2e.start('e2e-keys-noverify', { operatorArgs: ['--verify-keys=false'] });
    try {
      const arn = await unverified.createKey({ keyState: 'Disabled' });
      await unverified.apply(withKey('unverified', arn));
      const r = await unverified.waitForReady('unverified', 'True', 'Reconciled');
      expect(r.status?.diskEncryption?.key).toMatchObject({
        verified: false,
        reason: 'VerificationDisabled',
      });
      const operations = (await unverified.calls()).map((c) => c.operation);
      expect(operations).not.toContain('DescribeKey');
      expect(operations).toContain('CreateApplication');
    } catch (error) {
      console.error(await unverified.diagnostics('unverified'));
      throw error;
    } finally {
      await unverified.stop();
    }
  });
});
