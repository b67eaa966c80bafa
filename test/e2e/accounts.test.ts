// Many AWS accounts from one cluster, end to end (contract "Accounts"): two team namespaces
// mapped by the cluster admin to roles in two accounts, and one namespace nobody mapped. Each
// namespace has its own operator (run --namespace, --require-namespace-role), all on one local
// AWS service that plays STS and the three accounts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_WRITE_OPERATIONS } from '../../src/emulator/index.js';
import { baseSpec, E2e, manifest, REGION, RESYNC_MS, reportFailures, sleep } from '../support/e2e.js';

const ACCOUNT_A = '111111111111';
const ACCOUNT_B = '222222222222';
const ROLE_A = `arn:aws:iam::${ACCOUNT_A}:role/emr-serverless-operator-team`;
const ROLE_B = `arn:aws:iam::${ACCOUNT_B}:role/emr-serverless-operator-team`;
const ROLE_DENIED = 'arn:aws:iam::333333333333:role/emr-serverless-operator-team';
const ROLE_ELSEWHERE = 'arn:aws:iam::444444444444:role/emr-serverless-operator-team';
const EXTERNAL_ID_A = 'team-a-7f3c9e';
/** Team A's credentials live 4 s: the test sees several refreshes. */
const LIFETIME_A_S = 4;

let a: E2e;
let b: E2e;
let unmapped: E2e;

/** The cluster admin writes the mapping on the namespace (tenants cannot edit namespaces). */
async function annotate(e2e: E2e, annotations: Record<string, string>): Promise<void> {
  await e2e.kubectl([
    'annotate',
    'namespace',
    e2e.namespace,
    '--overwrite',
    ...Object.entries(annotations).map(([k, v]) => `${k}=${v}`),
  ]);
}

beforeAll(async () => {
  [a, b, unmapped] = await Promise.all([
    E2e.start('e2e-acct-a', { operator: false }),
    E2e.start('e2e-acct-b', { operator: false }),
    E2e.start('e2e-acct-none', { operator: false }),
  ]);
  const aws = a.aws;
  await aws.declareRole({
    roleArn: ROLE_A,
    externalId: EXTERNAL_ID_A,
    credentialLifetimeSeconds: LIFETIME_A_S,
  });
  await aws.declareRole({ roleArn: ROLE_B });
  await aws.declareRole({ roleArn: ROLE_DENIED, denied: true });
  await aws.declareRole({ roleArn: ROLE_ELSEWHERE });
  await annotate(a, {
    'emrserverless.operator.dev/role-arn': ROLE_A,
    'emrserverless.operator.dev/external-id': EXTERNAL_ID_A,
  });
  await annotate(b, { 'emrserverless.operator.dev/role-arn': ROLE_B });
  const shared = ['--aws-endpoint', a.emulator.endpoint, '--require-namespace-role'];
  await Promise.all([
    a.startOperator(shared),
    b.startOperator([...shared, `--adopt-namespaces=${b.namespace}`]),
    unmapped.startOperator(shared),
  ]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), unmapped?.stop()]);
});

reportFailures(() => a);
reportFailures(() => b);
reportFailures(() => unmapped);

async function created(e2e: E2e, name: string): Promise<{ id: string; arn: string; account: string }> {
  await e2e.apply(manifest(name, baseSpec(name)));
  const r = await e2e.waitForReady(name, 'True', 'Reconciled');
  return {
    id: r.status!.applicationId!,
    arn: r.status!.arn!,
    account: (r.status as { account?: string }).account!,
  };
}

/** The shared service's writes since `mark`, with the account each acted in. */
async function writesSince(mark: number): Promise<string[]> {
  return (await a.calls())
    .slice(mark)
    .filter((c) => AWS_WRITE_OPERATIONS.has(c.operation) && c.status === 200)
    .map((c) => `${c.account} ${c.operation} ${c.applicationId ?? ''}`);
}

let appA: { id: string; arn: string; account: string };

describe('each team in its own account', () => {
  it("creates team A's application in account A and team B's in account B", async () => {
    const mark = await a.mark();
    appA = await created(a, 'analytics');
    const appB = await created(b, 'reporting');
    expect(appA.account).toBe(ACCOUNT_A);
    expect(appA.arn).toBe(`arn:aws:emr-serverless:${REGION}:${ACCOUNT_A}:/applications/${appA.id}`);
    expect(appB.account).toBe(ACCOUNT_B);
    expect(appB.arn).toContain(`:${ACCOUNT_B}:/applications/`);
    const calls = (await a.calls()).slice(mark);
    const creates = calls.filter((c) => c.operation === 'CreateApplication' && c.status === 200);
    expect(creates.map((c) => c.account).sort()).toEqual([ACCOUNT_A, ACCOUNT_B]);
    // Every AWS call but AssumeRole (and GetCallerIdentity) was signed with a team role.
    const signedByOperator = calls.filter(
      (c) => c.service !== 'sts' && c.account !== ACCOUNT_A && c.account !== ACCOUNT_B,
    );
    expect(signedByOperator).toEqual([]);
  });

  it("a resource in team B that names team A's application cannot see or change it", async () => {
    const tagsBefore = (await a.application(appA.id)).tags;
    const mark = await a.mark();
    await b.apply(manifest('borrowed', baseSpec('borrowed', { applicationId: appA.id })));
    const r = await b.waitForStalled('borrowed', 'ApplicationNotFound');
    expect(condition(r)).toContain(`Application ${appA.id} does not exist`);
    // Team B's operator wrote nothing, and every call it made about A's application was answered
    // not found. (Team A's operator keeps reading its own application meanwhile.)
    expect((await writesSince(mark)).filter((w) => w.startsWith(ACCOUNT_B))).toEqual([]);
    const fromB = (await a.calls())
      .slice(mark)
      .filter((c) => c.applicationId === appA.id && c.account === ACCOUNT_B);
    expect(fromB.length).toBeGreaterThan(0);
    expect(fromB.filter((c) => c.status !== 404)).toEqual([]);
    expect((await a.application(appA.id)).tags).toEqual(tagsBefore);
  });
});

describe('the admin decides', () => {
  it('--require-namespace-role refuses the unmapped namespace: Stalled NoAccountMapping, nothing sent', async () => {
    const mark = await a.mark();
    await unmapped.apply(manifest('stray', baseSpec('stray')));
    const r = await unmapped.waitForStalled('stray', 'NoAccountMapping');
    expect(condition(r)).toContain(
      `namespace ${unmapped.namespace} has no annotation emrserverless.operator.dev/role-arn`,
    );
    expect(await writesSince(mark)).toEqual([]);
    expect((await unmapped.events('stray')).map((e) => e.reason)).toContain('NoAccountMapping');
  });

  it('a role that refuses the operator is Stalled AccessDenied naming the role', async () => {
    await annotate(unmapped, { 'emrserverless.operator.dev/role-arn': ROLE_DENIED });
    const r = await unmapped.waitForStalled('stray', 'AccessDenied', 40_000);
    expect(condition(r)).toContain(`AssumeRole of ${ROLE_DENIED}`);
    expect(condition(r)).toContain(`session emr-serverless-operator-${unmapped.namespace}`);
    const assumed = (await a.calls()).filter((c) => c.operation === 'AssumeRole' && c.status === 403);
    expect(assumed.length).toBeGreaterThan(0);
  });

  it('credentials are refreshed across expiry without a failed call', async () => {
    const issuedBefore = (await a.aws.issuedCredentials()).filter((c) => c.roleArn === ROLE_A).length;
    const mark = await a.mark();
    // Team A's resource is reconciled every resync (2 s) for three credential lifetimes.
    await sleep(3 * LIFETIME_A_S * 1000);
    const calls = (await a.calls()).slice(mark).filter((c) => c.account === ACCOUNT_A);
    expect(calls.filter((c) => c.operation === 'GetApplication').length).toBeGreaterThanOrEqual(
      Math.floor((3 * LIFETIME_A_S * 1000) / RESYNC_MS) - 2,
    );
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    const issued = (await a.aws.issuedCredentials()).filter((c) => c.roleArn === ROLE_A);
    // Renewed before expiry: at least one AssumeRole per lifetime, and not one per call.
    expect(issued.length - issuedBefore).toBeGreaterThanOrEqual(2);
    expect(issued.length - issuedBefore).toBeLessThan(calls.length);
    expect(issued.every((c) => c.sessionName === `emr-serverless-operator-${a.namespace}`)).toBe(true);
    expect((await a.get('analytics')).status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe(
      'True',
    );
  });

  it('a bound resource is never moved to another account: Stalled, zero writes', async () => {
    const mark = await a.mark();
    await annotate(b, { 'emrserverless.operator.dev/role-arn': ROLE_ELSEWHERE });
    const r = await b.waitForStalled('reporting', 'ImmutableFieldConflict', 40_000);
    expect(condition(r)).toContain(`is bound in AWS account ${ACCOUNT_B}`);
    expect(condition(r)).toContain('444444444444');
    expect((r.status as { account?: string }).account).toBe(ACCOUNT_B);
    expect(await writesSince(mark)).toEqual([]);
  });
});

describe('secrets', () => {
  it('no credential appears in any log line, event or status', async () => {
    const issued = await a.aws.issuedCredentials();
    expect(issued.length).toBeGreaterThan(2);
    const secrets = issued.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]);
    const texts: string[] = [];
    for (const e2e of [a, b, unmapped]) {
      for (const op of e2e.operators) texts.push(...op.lines.map((l) => JSON.stringify(l)), op.stderr);
      texts.push((await e2e.kubectl(['get', 'events', '-o', 'json'])).stdout);
      texts.push((await e2e.kubectl(['get', 'emrsa', '-o', 'json'])).stdout);
    }
    expect(texts.join('\n').length).toBeGreaterThan(1000);
    const leaks = secrets.filter((s) => texts.some((t) => t.includes(s)));
    expect(leaks).toEqual([]);
  });
});

function condition(r: { status?: { conditions?: Array<{ type: string; message?: string }> } }): string {
  return r.status?.conditions?.find((c) => c.type === 'Stalled')?.message ?? '';
}
