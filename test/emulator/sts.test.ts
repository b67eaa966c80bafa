// STS through the real SDK client (awsQuery, XML answers), and the accounts it opens: EMR
// Serverless and KMS calls signed with a role's credentials act in the role's account.
import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  ListApplicationsCommand,
  ResourceNotFoundException,
  TagResourceCommand,
} from '@aws-sdk/client-emr-serverless';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  STSServiceException,
} from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACCOUNT, credentials, type Harness, harness, REGION, rejection } from './helpers.js';

const TEAM_A = '111111111111';
const TEAM_B = '222222222222';
const ROLE_A = `arn:aws:iam::${TEAM_A}:role/emr-operator`;
const ROLE_B = `arn:aws:iam::${TEAM_B}:role/path/emr-operator`;

let h: Harness;
let sts: STSClient;
const clients: { destroy(): void }[] = [];
beforeAll(async () => {
  h = await harness();
  sts = new STSClient({ endpoint: h.emulator.endpoint, region: REGION, credentials });
});
afterAll(async () => {
  sts.destroy();
  for (const c of clients) c.destroy();
  await h.close();
});
beforeEach(async () => {
  await h.control.reset();
});

const assume = (RoleArn: string, extra: { ExternalId?: string; DurationSeconds?: number } = {}) =>
  sts.send(new AssumeRoleCommand({ RoleArn, RoleSessionName: 'emr-operator-team-a', ...extra }));

/** EMR Serverless and KMS clients signing with the credentials of one AssumeRole answer. */
async function clientsAs(roleArn: string) {
  const { Credentials } = await assume(roleArn);
  const creds = {
    accessKeyId: Credentials!.AccessKeyId!,
    secretAccessKey: Credentials!.SecretAccessKey!,
    sessionToken: Credentials!.SessionToken!,
  };
  const emr = new EMRServerlessClient({ endpoint: h.emulator.endpoint, region: REGION, credentials: creds });
  const kms = new KMSClient({ endpoint: h.emulator.endpoint, region: REGION, credentials: creds });
  clients.push(emr, kms);
  return { emr, kms };
}

const createApp = (emr: EMRServerlessClient, name: string) =>
  emr.send(
    new CreateApplicationCommand({ name, type: 'SPARK', releaseLabel: 'emr-7.1.0', clientToken: name }),
  );

describe('AssumeRole', () => {
  it('issues temporary credentials of the role account, as the SDK parses them', async () => {
    await h.control.declareRole({ roleArn: ROLE_A });
    const before = Date.now();
    const out = await assume(ROLE_A, { DurationSeconds: 900 });
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
    expect(out.Credentials?.SecretAccessKey).toHaveLength(40);
    expect(out.Credentials?.SessionToken?.length).toBeGreaterThan(100);
    expect(out.Credentials?.Expiration).toBeInstanceOf(Date);
    const lifetime = out.Credentials!.Expiration!.getTime() - before;
    expect(lifetime).toBeGreaterThan(890_000);
    expect(lifetime).toBeLessThanOrEqual(901_000);
    expect(out.AssumedRoleUser?.Arn).toBe(
      `arn:aws:sts::${TEAM_A}:assumed-role/emr-operator/emr-operator-team-a`,
    );
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[0-9A-F]+:emr-operator-team-a$/);
  });

  it('answers AccessDenied for an undeclared role, a denied role, an untrusted caller and a wrong external id', async () => {
    await h.control.declareRole({ roleArn: ROLE_A, externalId: 'tenant-a-2f9c' });
    await h.control.declareRole({ roleArn: ROLE_B, trustedAccounts: ['999999999999'] });
    const cases = [
      () => assume(`arn:aws:iam::${TEAM_A}:role/undeclared`),
      () => assume(ROLE_A),
      () => assume(ROLE_A, { ExternalId: 'tenant-a-wrong' }),
      () => assume(ROLE_B),
    ];
    for (const call of cases) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(STSServiceException);
      expect((err as STSServiceException).name).toBe('AccessDenied');
      expect((err as STSServiceException).$metadata.httpStatusCode).toBe(403);
      expect((err as Error).message).toMatch(
        /is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::/,
      );
    }
    await expect(assume(ROLE_A, { ExternalId: 'tenant-a-2f9c' })).resolves.toBeDefined();
    await h.control.declareRole({ roleArn: ROLE_A, externalId: 'tenant-a-2f9c', denied: true });
    expect((await rejection(assume(ROLE_A, { ExternalId: 'tenant-a-2f9c' }))).name).toBe('AccessDenied');
  });

  it('refuses a DurationSeconds outside 900..43200 and a malformed role ARN with ValidationError', async () => {
    await h.control.declareRole({ roleArn: ROLE_A });
    expect((await rejection(assume(ROLE_A, { DurationSeconds: 60 }))).name).toBe('ValidationError');
    expect((await rejection(assume('arn:aws:iam::1:role/x'))).name).toBe('ValidationError');
  });

  it('logs the call with the caller account; GetCallerIdentity names the assumed role', async () => {
    await h.control.declareRole({ roleArn: ROLE_A });
    const { Credentials } = await assume(ROLE_A);
    const asA = new STSClient({
      endpoint: h.emulator.endpoint,
      region: REGION,
      credentials: {
        accessKeyId: Credentials!.AccessKeyId!,
        secretAccessKey: Credentials!.SecretAccessKey!,
        sessionToken: Credentials!.SessionToken!,
      },
    });
    clients.push(asA);
    const me = await asA.send(new GetCallerIdentityCommand({}));
    expect(me.Account).toBe(TEAM_A);
    expect(me.Arn).toBe(`arn:aws:sts::${TEAM_A}:assumed-role/emr-operator/emr-operator-team-a`);
    const calls = await h.control.calls();
    expect(
      calls.filter((c) => c.operation === 'AssumeRole').map((c) => [c.service, c.account, c.status]),
    ).toEqual([['sts', ACCOUNT, 200]]);
    expect(calls.find((c) => c.operation === 'GetCallerIdentity')?.account).toBe(TEAM_A);
  });

  it('answers ExpiredTokenException once the credentials have expired', async () => {
    await h.control.declareRole({ roleArn: ROLE_A, credentialLifetimeSeconds: 1 });
    const { emr } = await clientsAs(ROLE_A);
    await emr.send(new ListApplicationsCommand({}));
    await new Promise((r) => setTimeout(r, 1100));
    const err = await rejection(emr.send(new ListApplicationsCommand({})));
    expect(err.name).toBe('ExpiredTokenException');
  });
});

describe('accounts', () => {
  beforeEach(async () => {
    await h.control.declareRole({ roleArn: ROLE_A });
    await h.control.declareRole({ roleArn: ROLE_B });
  });

  it("creates applications in the signer's account; another account's are not found", async () => {
    const a = await clientsAs(ROLE_A);
    const b = await clientsAs(ROLE_B);
    const appA = await createApp(a.emr, 'team-a-app');
    expect(appA.arn).toBe(`arn:aws:emr-serverless:${REGION}:${TEAM_A}:/applications/${appA.applicationId}`);
    const appB = await createApp(b.emr, 'team-b-app');
    expect(appB.arn).toContain(`:${TEAM_B}:/applications/`);
    // The same client token in another account is another application.
    const sameTokenInB = await createApp(b.emr, 'team-a-app');
    expect(sameTokenInB.applicationId).not.toBe(appA.applicationId);

    const err = await rejection(
      b.emr.send(new GetApplicationCommand({ applicationId: appA.applicationId! })),
    );
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    const tagErr = await rejection(
      b.emr.send(new TagResourceCommand({ resourceArn: appA.arn!, tags: { x: 'y' } })),
    );
    expect(tagErr).toBeInstanceOf(ResourceNotFoundException);
    const listed = (await b.emr.send(new ListApplicationsCommand({}))).applications!.map((x) => x.id);
    expect(listed.sort()).toEqual([appB.applicationId, sameTokenInB.applicationId].sort());
    // The operator's own identity sees neither.
    expect((await h.emr.send(new ListApplicationsCommand({}))).applications).toEqual([]);
    expect(
      (await a.emr.send(new GetApplicationCommand({ applicationId: appA.applicationId! }))).application?.name,
    ).toBe('team-a-app');
  });

  it('creates keys in the signer account; a key id of another account is not found, its ARN is', async () => {
    const a = await clientsAs(ROLE_A);
    const b = await clientsAs(ROLE_B);
    const { KeyMetadata: key } = await a.kms.send(new CreateKeyCommand({}));
    expect(key?.AWSAccountId).toBe(TEAM_A);
    expect(key?.Arn).toContain(`:${TEAM_A}:key/`);
    const err = await rejection(b.kms.send(new DescribeKeyCommand({ KeyId: key!.KeyId! })));
    expect(err).toBeInstanceOf(NotFoundException);
    const byArn = await b.kms.send(new DescribeKeyCommand({ KeyId: key!.Arn! }));
    expect(byArn.KeyMetadata?.AWSAccountId).toBe(TEAM_A);
  });
});

describe('control API', () => {
  it('lists declared roles with their account and refuses malformed declarations', async () => {
    await h.control.declareRole({ roleArn: ROLE_B, externalId: 'ext-b1' });
    expect(await h.control.roles()).toEqual([
      { roleArn: ROLE_B, account: TEAM_B, trustedAccounts: [ACCOUNT], externalId: 'ext-b1', denied: false },
    ]);
    await expect(h.control.declareRole({ roleArn: 'arn:aws:iam::12:role/x' })).rejects.toThrow(/roleArn/);
    await expect(h.control.declareRole({ roleArn: ROLE_A, trustedAccounts: ['nope'] })).rejects.toThrow(
      /trustedAccounts/,
    );
  });
});
