// The ownership claim (src/reconcile/ownership.ts) over the real SDK port and the local service:
// concurrent claims on one application write once, and the read after the claim decides.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWNER_UID_TAG } from '../../src/api/constants.js';
import { namespaceRoleOf } from '../../src/aws/accounts.js';
import { AwsClients } from '../../src/aws/clients.js';
import type { AwsPort } from '../../src/aws/port.js';
import { ClaimLocks, claimApplication, claimKey } from '../../src/reconcile/ownership.js';
import { useLocalService } from './local-service.js';

const service = useLocalService();

let clients: AwsClients;
let port: AwsPort;
let applicationId: string;
let arn: string;
beforeEach(async () => {
  clients = new AwsClients({ endpoint: service.endpoint, rps: 0 });
  port = clients.forRegion('us-east-1');
  ({ applicationId, arn } = await port.createApplication({
    name: 'contested',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    tags: {},
    clientToken: `claims-${Math.random()}`,
  }));
  // A slow TagResource: without the per-application turn, both claims would be in flight at once.
  await service.control.fault({ operation: 'TagResource', latencyMs: 100 });
});
afterEach(async () => {
  await service.control.clearFaults();
  clients.close();
});

const claimBy = (locks: ClaimLocks, uid: string, by: AwsPort = port) =>
  claimApplication(by, locks, { applicationId, arn, tags: { [OWNER_UID_TAG]: uid, team: 'x' } });

const tagWrites = async () =>
  (await service.control.calls()).filter(
    (c) => c.operation === 'TagResource' && c.applicationId === applicationId,
  ).length;

describe('claimApplication', () => {
  it('of ten claims at once in one process, exactly one writes, and every read after names the same owner', async () => {
    const locks = new ClaimLocks();
    const uids = Array.from({ length: 10 }, (_, i) => `uid-${i}`);
    const reads = await Promise.all(uids.map((uid) => claimBy(locks, uid)));
    const owners = new Set(reads.map((app) => app?.tags[OWNER_UID_TAG]));
    expect(owners.size).toBe(1);
    expect(uids).toContain([...owners][0]);
    expect(await tagWrites()).toBe(1);
  });

  it('a claim of an application already claimed by the same resource writes again (adds missing tags); by another, never', async () => {
    const locks = new ClaimLocks();
    await claimBy(locks, 'first');
    expect((await claimBy(locks, 'first'))?.tags[OWNER_UID_TAG]).toBe('first');
    expect((await claimBy(locks, 'second'))?.tags[OWNER_UID_TAG]).toBe('first');
    expect(await tagWrites()).toBe(2);
  });

  it("the operator's own identity and a namespace role of the same account take one turn: exactly one writes", async () => {
    const account = arn.split(':')[4]!;
    const roleArn = `arn:aws:iam::${account}:role/team`;
    await service.control.declareRole({ roleArn });
    const role = namespaceRoleOf('team', { 'emrserverless.operator.dev/role-arn': roleArn })!;
    const rolePort = clients.forSession({ role, sessionName: 'emr-serverless-operator-team' }, 'us-east-1');
    expect([port.account, rolePort.account]).toEqual([undefined, account]);

    const locks = new ClaimLocks();
    const reads = await Promise.all([
      claimBy(locks, 'through-the-operator', port),
      claimBy(locks, 'through-the-role', rolePort),
    ]);
    expect(await tagWrites()).toBe(1);
    expect(new Set(reads.map((app) => app?.tags[OWNER_UID_TAG])).size).toBe(1);
    expect(claimKey(port, { applicationId, arn })).toBe(`${account}/us-east-1/${applicationId}`);
    expect(claimKey(rolePort, { applicationId, arn })).toBe(claimKey(port, { applicationId, arn }));
  });

  it('the same id in another account is another application: another turn', () => {
    const other = { applicationId, arn: arn.replace(/:\d{12}:/, ':999999999999:') };
    expect(claimKey(port, other)).not.toBe(claimKey(port, { applicationId, arn }));
  });

  it('without a shared turn (two processes, no leader election) both claims write: the cross-cluster case the docs describe', async () => {
    await Promise.all([claimBy(new ClaimLocks(), 'left'), claimBy(new ClaimLocks(), 'right')]);
    expect(await tagWrites()).toBe(2);
  });

  it('a turn that fails does not block the next one', async () => {
    const locks = new ClaimLocks();
    await expect(locks.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(locks.run('k', async () => 'next')).resolves.toBe('next');
  });
});
