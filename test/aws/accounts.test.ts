// Namespace roles through the real SDK against the local service: the annotations, AssumeRole
// credentials cached and renewed before expiry, and AwsAccess handing each namespace the AWS of
// its own account.
import { describe, expect, it, vi } from 'vitest';
import { AwsAccess, type NamespaceRoles } from '../../src/aws/access.js';
import { namespaceRoleOf, RoleCredentials, roleSessionName } from '../../src/aws/accounts.js';
import { AwsClients } from '../../src/aws/clients.js';
import type { AwsCallEvent } from '../../src/aws/middleware.js';
import { rejection, useLocalService } from './local-service.js';

const REGION = 'us-east-1';
const ROLE_A = 'arn:aws:iam::111111111111:role/team';
const ROLE_B = 'arn:aws:iam::222222222222:role/team';
const service = useLocalService();

function setup(annotations: Record<string, Record<string, string>>, requireNamespaceRole = false) {
  const events: AwsCallEvent[] = [];
  const clients = new AwsClients({ endpoint: service.endpoint, observer: { onCall: (e) => events.push(e) } });
  const namespaces: NamespaceRoles = { roleOf: async (ns) => namespaceRoleOf(ns, annotations[ns]) };
  return { clients, events, access: new AwsAccess({ clients, namespaces, requireNamespaceRole }) };
}

describe('namespaceRoleOf', () => {
  it('reads the role, its account, the external id and the region', () => {
    expect(
      namespaceRoleOf('a', {
        'emrserverless.operator.dev/role-arn': ROLE_A,
        'emrserverless.operator.dev/external-id': 'ext-1234',
        'emrserverless.operator.dev/region': 'eu-west-1',
      }),
    ).toEqual({ roleArn: ROLE_A, account: '111111111111', externalId: 'ext-1234', region: 'eu-west-1' });
    expect(namespaceRoleOf('a', {})).toBeUndefined();
    expect(namespaceRoleOf('a', undefined)).toBeUndefined();
  });

  it('refuses unusable annotations, naming the namespace and the annotation', () => {
    for (const annotations of <Record<string, string>[]>[
      { 'emrserverless.operator.dev/role-arn': 'team-a' },
      { 'emrserverless.operator.dev/role-arn': ROLE_A, 'emrserverless.operator.dev/region': 'europe' },
      { 'emrserverless.operator.dev/external-id': 'ext-1234' },
    ]) {
      expect(() => namespaceRoleOf('team-a', annotations)).toThrow(
        /namespace team-a: emrserverless.operator.dev\//,
      );
    }
  });

  it('names the session after the operator and the namespace, within 64 characters', () => {
    expect(roleSessionName('team-a')).toBe('emr-serverless-operator-team-a');
    expect(roleSessionName('x'.repeat(63))).toHaveLength(64);
  });
});

describe('RoleCredentials', () => {
  it('assumes a role once and answers from the cache until shortly before expiry', async () => {
    await service.control.declareRole({ roleArn: ROLE_A, credentialLifetimeSeconds: 4 });
    const clients = new AwsClients({ endpoint: service.endpoint });
    try {
      const cache = new RoleCredentials({ sts: clients.sts });
      const role = namespaceRoleOf('a', { 'emrserverless.operator.dev/role-arn': ROLE_A })!;
      const session = 'emr-serverless-operator-a';
      const first = await Promise.all(Array.from({ length: 10 }, () => cache.get(role, session)));
      expect(new Set(first.map((c) => c.accessKeyId)).size).toBe(1);
      expect(cache.assumeRoleCalls).toBe(1);
      // 4 s lifetime: renewed from 3 s on (a quarter before expiry); what is answered is never expired.
      await new Promise((r) => setTimeout(r, 3_100));
      expect((await cache.get(role, session)).expiration.getTime()).toBeGreaterThan(Date.now());
      await vi.waitFor(
        async () => expect((await cache.get(role, session)).accessKeyId).not.toBe(first[0]!.accessKeyId),
        {
          timeout: 2_000,
        },
      );
      expect(cache.assumeRoleCalls).toBe(2);
    } finally {
      clients.close();
    }
  });

  it('reports AccessDenied naming the role and the session, and caches no failure', async () => {
    await service.control.declareRole({ roleArn: ROLE_A, denied: true });
    const clients = new AwsClients({ endpoint: service.endpoint });
    try {
      const cache = new RoleCredentials({ sts: clients.sts });
      const role = namespaceRoleOf('a', { 'emrserverless.operator.dev/role-arn': ROLE_A })!;
      const err = await rejection(cache.get(role, 'emr-serverless-operator-a'));
      expect(err).toMatchObject({ kind: 'accessDenied', operation: 'AssumeRole' });
      expect(err.message).toContain(`AssumeRole of ${ROLE_A} (session emr-serverless-operator-a)`);
      await service.control.declareRole({ roleArn: ROLE_A });
      await expect(cache.get(role, 'emr-serverless-operator-a')).resolves.toBeDefined();
      expect(cache.assumeRoleCalls).toBe(2);
    } finally {
      clients.close();
    }
  });
});

describe('AwsAccess', () => {
  it("gives each namespace its account's applications, clients and rate limit, and labels the metrics", async () => {
    await service.control.declareRole({ roleArn: ROLE_A });
    await service.control.declareRole({ roleArn: ROLE_B });
    const { clients, events, access } = setup({
      a: { 'emrserverless.operator.dev/role-arn': ROLE_A },
      b: { 'emrserverless.operator.dev/role-arn': ROLE_B, 'emrserverless.operator.dev/region': 'eu-west-1' },
    });
    try {
      const region = (nsRegion: string | undefined) => nsRegion ?? REGION;
      const a = await access.scopeFor('a', region);
      const b = await access.scopeFor('b', region);
      expect([a.account, a.region, a.port.region]).toEqual(['111111111111', undefined, REGION]);
      expect([b.account, b.region, b.port.region]).toEqual(['222222222222', 'eu-west-1', 'eu-west-1']);
      // A view over the same clients, tagged with the namespace: made per scope, kept nowhere.
      expect((await access.scopeFor('a', region)).port).toEqual(a.port);
      expect(clients.bucketFor(REGION, ROLE_A)).not.toBe(clients.bucketFor(REGION));

      const created = await a.port.createApplication({
        name: 'x',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        tags: {},
        clientToken: 'x',
      });
      expect(created.arn).toContain(':111111111111:/applications/');
      const bInA = await access.scopeFor('b', () => REGION);
      expect(await bInA.port.getApplication(created.applicationId)).toBeUndefined();
      expect(await a.port.getApplication(created.applicationId)).toMatchObject({ name: 'x' });
      expect(
        events.filter((e) => e.service !== 'sts').map((e) => `${e.account} ${e.namespace} ${e.operation}`),
      ).toEqual([
        '111111111111 a CreateApplication',
        '222222222222 b GetApplication',
        '111111111111 a GetApplication',
      ]);
      const calls = await service.control.calls();
      expect(calls.filter((c) => c.operation === 'AssumeRole').length).toBe(2);
    } finally {
      clients.close();
    }
  });

  it("counts a scope's calls as its namespace's, key reads included, and the shared listing's as _shared", async () => {
    const { clients, events, access } = setup({});
    try {
      const key = await service.control.createKey({ region: REGION });
      const a = await access.scopeFor('team-a', () => REGION);
      const b = await access.scopeFor('team-b', () => REGION);
      await a.port.getApplication('0000unknown');
      await b.keys.describe(key.Arn);
      // Cached: the same key read for another namespace sends nothing.
      await a.keys.describe(key.Arn);
      await a.applications.takenAfter(0);
      expect(events.map((e) => `${e.namespace} ${e.operation}`)).toEqual([
        'team-a GetApplication',
        'team-b DescribeKey',
        '_shared ListApplications',
      ]);
      // Told apart without AsyncLocalStorage, which on Node.js 20 and 22 gives every promise of
      // the process async ids and a store slot once it is used: about 33 MB of RSS at 10,000
      // resources (bench/README.md). A promise made now carries none of them.
      expect(Object.getOwnPropertySymbols(Promise.resolve()).map(String)).toEqual([]);
    } finally {
      clients.close();
    }
  });

  it('without a role: the operator identity (no STS call), or NoAccountMapping when a role is required', async () => {
    const open = setup({});
    const required = setup({}, true);
    try {
      const scope = await open.access.scopeFor('free', () => REGION);
      expect(scope.account).toBeUndefined();
      const err = await rejection(required.access.scopeFor('free', () => REGION));
      expect(err).toMatchObject({ kind: 'noAccountMapping', code: 'NoAccountMapping' });
      expect(err.message).toContain('namespace free has no annotation emrserverless.operator.dev/role-arn');
      expect(await service.control.calls()).toEqual([]);
    } finally {
      open.clients.close();
      required.clients.close();
    }
  });
});
