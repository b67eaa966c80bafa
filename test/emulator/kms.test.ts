// KMS through the real SDK client: keys, aliases, states, the errors the operator sees, and keys
// in other accounts and regions.
import {
  AlreadyExistsException,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  InvalidAliasNameException,
  KMSInvalidStateException,
  KMSServiceException,
  NotFoundException,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { ACCOUNT, REGION, rejection, useHarness } from './helpers.js';

const h = useHarness();

const describeKey = async (KeyId: string) =>
  (await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!;

describe('CreateKey and DescribeKey', () => {
  it('creates a symmetric ENCRYPT_DECRYPT key by default and describes it by id, ARN and alias', async () => {
    const { KeyMetadata: created } = await h.kms.send(new CreateKeyCommand({ Description: 'disk key' }));
    expect(created).toMatchObject({
      AWSAccountId: ACCOUNT,
      KeySpec: 'SYMMETRIC_DEFAULT',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: 'Enabled',
      Enabled: true,
      KeyManager: 'CUSTOMER',
      Origin: 'AWS_KMS',
      MultiRegion: false,
      Description: 'disk key',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    });
    expect(created?.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${created?.KeyId}`);
    expect(created?.CreationDate).toBeInstanceOf(Date);
    expect(created?.DeletionDate).toBeUndefined();

    await h.kms.send(new CreateAliasCommand({ AliasName: 'alias/disk', TargetKeyId: created!.KeyId! }));
    for (const ref of [
      created!.KeyId!,
      created!.Arn!,
      'alias/disk',
      `arn:aws:kms:${REGION}:${ACCOUNT}:alias/disk`,
    ]) {
      const md = await describeKey(ref);
      expect(md.Arn).toBe(created!.Arn);
      expect(md.KeyState).toBe('Enabled');
    }
  });

  it('validates KeySpec and KeyUsage combinations', async () => {
    const ok = [
      { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' },
      { KeySpec: 'RSA_4096', KeyUsage: 'ENCRYPT_DECRYPT' },
      { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' },
      { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' },
    ] as const;
    for (const input of ok) {
      const { KeyMetadata } = await h.kms.send(new CreateKeyCommand(input));
      expect(KeyMetadata).toMatchObject(input);
    }
    const bad = [
      { KeySpec: 'HMAC_256' },
      { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'SIGN_VERIFY' },
      { KeySpec: 'ECC_NIST_P384', KeyUsage: 'ENCRYPT_DECRYPT' },
      { KeySpec: 'RSA_2048', KeyUsage: 'GENERATE_VERIFY_MAC' },
    ] as const;
    for (const input of bad) {
      const err = await rejection(h.kms.send(new CreateKeyCommand(input)));
      expect(err).toBeInstanceOf(KMSServiceException);
      expect(err.name).toBe('ValidationException');
      expect(err.message).toMatch(/is not compatible with KeySpec/);
    }
  });

  it('gives multi-Region keys an mrk- id', async () => {
    const { KeyMetadata } = await h.kms.send(new CreateKeyCommand({ MultiRegion: true }));
    expect(KeyMetadata?.KeyId).toMatch(/^mrk-[0-9a-f]{32}$/);
    expect(KeyMetadata?.MultiRegion).toBe(true);
  });

  it('answers NotFoundException for an unknown key or alias', async () => {
    const err = await rejection(
      h.kms.send(new DescribeKeyCommand({ KeyId: '11111111-2222-3333-4444-555555555555' })),
    );
    expect(err).toBeInstanceOf(NotFoundException);
    expect(err.message).toBe(
      `Key 'arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555' does not exist`,
    );
    await expect(h.kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' }))).rejects.toBeInstanceOf(
      NotFoundException,
    );
  });
});

describe('key states', () => {
  it('disables and enables', async () => {
    const { KeyMetadata } = await h.kms.send(new CreateKeyCommand({}));
    const id = KeyMetadata!.KeyId!;
    await h.kms.send(new DisableKeyCommand({ KeyId: id }));
    expect(await describeKey(id)).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    await h.kms.send(new EnableKeyCommand({ KeyId: id }));
    expect(await describeKey(id)).toMatchObject({ KeyState: 'Enabled', Enabled: true });
  });

  it('schedules and cancels deletion like KMS', async () => {
    const { KeyMetadata } = await h.kms.send(new CreateKeyCommand({}));
    const id = KeyMetadata!.KeyId!;
    for (const days of [6, 31]) {
      const err = await rejection(
        h.kms.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: days })),
      );
      expect(err.name).toBe('ValidationException');
      expect(err.message).toMatch(/pendingWindowInDays|PendingWindowInDays/i);
    }
    const out = await h.kms.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }));
    expect(out).toMatchObject({
      KeyId: KeyMetadata!.Arn,
      KeyState: 'PendingDeletion',
      PendingWindowInDays: 7,
    });
    const days = (out.DeletionDate!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    const md = await describeKey(id);
    expect(md).toMatchObject({ KeyState: 'PendingDeletion', Enabled: false });
    expect(md.DeletionDate).toBeInstanceOf(Date);

    const invalid = await rejection(h.kms.send(new EnableKeyCommand({ KeyId: id })));
    expect(invalid).toBeInstanceOf(KMSInvalidStateException);
    expect(invalid.message).toBe(`${KeyMetadata!.Arn} is pending deletion.`);
    await expect(h.kms.send(new DisableKeyCommand({ KeyId: id }))).rejects.toBeInstanceOf(
      KMSInvalidStateException,
    );
    await expect(h.kms.send(new ScheduleKeyDeletionCommand({ KeyId: id }))).rejects.toBeInstanceOf(
      KMSInvalidStateException,
    );

    await h.kms.send(new CancelKeyDeletionCommand({ KeyId: id }));
    const after = await describeKey(id);
    expect(after).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect(after.DeletionDate).toBeUndefined();
    await expect(h.kms.send(new CancelKeyDeletionCommand({ KeyId: id }))).rejects.toBeInstanceOf(
      KMSInvalidStateException,
    );
  });

  it('sets any key state through the control API', async () => {
    const md = await h.control.createKey({ keyState: 'PendingDeletion' });
    expect(md.KeyState).toBe('PendingDeletion');
    expect((await describeKey(md.Arn)).DeletionDate).toBeInstanceOf(Date);
    await h.control.setKeyState(md.KeyId, 'Disabled');
    expect(await describeKey(md.KeyId)).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    await h.control.setKeyState(md.Arn, 'Enabled');
    expect((await describeKey(md.KeyId)).Enabled).toBe(true);
  });
});

describe('aliases', () => {
  it('refuses duplicates and the reserved alias/aws/ prefix', async () => {
    const { KeyMetadata } = await h.kms.send(new CreateKeyCommand({}));
    await h.kms.send(new CreateAliasCommand({ AliasName: 'alias/a', TargetKeyId: KeyMetadata!.Arn! }));
    await expect(
      h.kms.send(new CreateAliasCommand({ AliasName: 'alias/a', TargetKeyId: KeyMetadata!.KeyId! })),
    ).rejects.toBeInstanceOf(AlreadyExistsException);
    await expect(
      h.kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/ebs', TargetKeyId: KeyMetadata!.KeyId! })),
    ).rejects.toBeInstanceOf(InvalidAliasNameException);
  });
});

describe('access and other accounts', () => {
  it('answers AccessDeniedException (an unmodelled error) for a denied key', async () => {
    const md = await h.control.createKey({});
    await h.control.denyKey(md.KeyId);
    const err = await rejection(h.kms.send(new DescribeKeyCommand({ KeyId: md.Arn })));
    expect(err).toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('AccessDeniedException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    expect(err.message).toMatch(
      new RegExp(
        `^User: arn:aws:iam::${ACCOUNT}:\\S+ is not authorized to perform: kms:DescribeKey on resource: ${md.Arn}`,
      ),
    );
    await h.control.allowKey(md.KeyId);
    expect((await describeKey(md.Arn)).KeyState).toBe('Enabled');
  });

  it('finds a key of another account only by its ARN', async () => {
    const md = await h.control.createKey({ account: '210987654321' });
    expect(md.Arn).toBe(`arn:aws:kms:${REGION}:210987654321:key/${md.KeyId}`);
    expect(await describeKey(md.Arn)).toMatchObject({ AWSAccountId: '210987654321', KeyState: 'Enabled' });
    await expect(h.kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).rejects.toBeInstanceOf(
      NotFoundException,
    );
  });

  it('finds a key of another region only by its ARN', async () => {
    const md = await h.control.createKey({
      region: 'us-west-2',
      keySpec: 'RSA_2048',
      keyUsage: 'SIGN_VERIFY',
    });
    expect(await describeKey(md.Arn)).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    await expect(h.kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).rejects.toBeInstanceOf(
      NotFoundException,
    );
    const there = h.kmsIn('us-west-2');
    expect((await there.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata?.Arn).toBe(md.Arn);
  });
});
