// Many AWS accounts from one cluster, end to end (contract "Accounts"): ONE operator process
// serves two team namespaces, mapped by the cluster admin to roles in two accounts, and one
// namespace nobody mapped, all on one local AWS service that plays STS and every account.
//
// The operator is restarted between the parts, with the flags each part is about: first as
// installed (resync 2 s), then with a 10-minute resync (so what happens after an annotation
// change can only come from the namespace watch), then with --require-namespace-role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_WRITE_OPERATIONS, type Call } from '../../src/emulator/index.js';
import {
  ACCOUNT,
  baseSpec,
  condition,
  E2e,
  jobRunManifest,
  manifest,
  type OperatorProcess,
  printedOperatorPolicy,
  REGION,
  RESYNC_MS,
  reportFailures,
  sleep,
  waitFor,
} from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

const ACCOUNT_A = '111111111111';
const ACCOUNT_B = '222222222222';
/** Holds a key team A uses; nobody's namespace maps to it. */
const KEY_ACCOUNT = '555555555555';
const ROLE_A = `arn:aws:iam::${ACCOUNT_A}:role/emr-serverless-operator-team`;
const ROLE_B = `arn:aws:iam::${ACCOUNT_B}:role/emr-serverless-operator-team`;
const ROLE_DENIED = 'arn:aws:iam::333333333333:role/emr-serverless-operator-team';
const ROLE_ELSEWHERE = 'arn:aws:iam::444444444444:role/emr-serverless-operator-team';
const ROLE_ARN = 'emrserverless.operator.dev/role-arn';
const EXTERNAL_ID = 'emrserverless.operator.dev/external-id';
const EXTERNAL_ID_A = 'team-a-7f3c9e';
/** Both teams' credentials live 4 s: the tests see several refreshes. */
const LIFETIME_S = 4;

let a: E2e;
let b: E2e;
let unmapped: E2e;

/** The cluster admin writes the mapping on the namespace (tenants cannot edit namespaces). */
async function annotate(e2e: E2e, annotations: Record<string, string | null>): Promise<void> {
  await e2e.kubectl([
    'annotate',
    'namespace',
    e2e.namespace,
    '--overwrite',
    ...Object.entries(annotations).map(([k, v]) => (v === null ? `${k}-` : `${k}=${v}`)),
  ]);
}

const MAPPING_A = { [ROLE_ARN]: ROLE_A, [EXTERNAL_ID]: EXTERNAL_ID_A };
const REGION_ANNOTATION = 'emrserverless.operator.dev/region';

/**
 * A quiet window under a 10 min resync, in which nothing looks again by itself: the namespace's
 * region annotation set to the region in use (a mapping change that changes nothing) makes the
 * operator reconcile the namespace's resources once more; then it is removed again.
 */
async function quietAfterALook(e2e: E2e, controller: string, writes: () => Promise<unknown[]>) {
  await expectQuietWindow({
    during: async () => {
      await annotate(e2e, { [REGION_ANNOTATION]: REGION });
      await sleep(1_000);
    },
    reads: e2e.reconciles({ controller }),
    writes,
  });
  await annotate(e2e, { [REGION_ANNOTATION]: null });
}

/** The one operator, over the three namespaces (leader election and service account in A's). */
async function startOperator(extra: string[] = []): Promise<OperatorProcess> {
  await Promise.all(a.operators.map((op) => op.stop(5_000)));
  return a.startOperator([
    `--namespace=${b.namespace},${unmapped.namespace}`,
    `--adopt-namespaces=${b.namespace}`,
    ...extra,
  ]);
}

/** The statement docs/aws-permissions.md gives the operator's own role for the team roles. */
const ASSUME_TEAM_ROLES = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'AssumeTeamRoles',
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Resource: 'arn:aws:iam::*:role/emr-serverless-operator-team',
    },
  ],
};

beforeAll(async () => {
  a = await E2e.start('e2e-acct-a', { operator: false, iam: { extraPolicies: [ASSUME_TEAM_ROLES] } });
  [b, unmapped] = await Promise.all([a.alsoIn('e2e-acct-b'), a.alsoIn('e2e-acct-none')]);
  // Each team role holds the same printed policy as the operator's own (docs/aws-permissions.md).
  const policies = [await printedOperatorPolicy(await a.clusterUid())];
  await a.aws.declareRole({
    roleArn: ROLE_A,
    externalId: EXTERNAL_ID_A,
    credentialLifetimeSeconds: LIFETIME_S,
    policies,
  });
  await a.aws.declareRole({ roleArn: ROLE_B, credentialLifetimeSeconds: LIFETIME_S, policies });
  await a.aws.declareRole({ roleArn: ROLE_DENIED, denied: true, policies });
  await a.aws.declareRole({ roleArn: ROLE_ELSEWHERE, policies });
  await annotate(a, MAPPING_A);
  await annotate(b, { [ROLE_ARN]: ROLE_B });
  await startOperator();
});

afterAll(async () => {
  await a?.stop();
});

reportFailures(() => a);
reportFailures(() => b);
reportFailures(() => unmapped);

async function created(e2e: E2e, name: string): Promise<{ id: string; arn: string; account: string }> {
  await e2e.apply(manifest(name, baseSpec(name)));
  const r = await e2e.waitForReady(name, 'True', 'Reconciled');
  return { id: r.status!.applicationId!, arn: r.status!.arn!, account: r.status!.account! };
}

/** The service's successful writes since `mark`, with the account each acted in. */
async function writesSince(mark: number): Promise<string[]> {
  return (await a.calls())
    .slice(mark)
    .filter((c) => AWS_WRITE_OPERATIONS.has(c.operation) && c.status === 200)
    .map((c) => `${c.account} ${c.operation} ${c.applicationId ?? ''}`);
}

/** Access key ids STS issued for `roleArn`: a call signed with one of them acted as that role. */
async function keysOf(roleArn: string): Promise<Set<string>> {
  return new Set(
    (await a.aws.issuedCredentials()).filter((c) => c.roleArn === roleArn).map((c) => c.accessKeyId),
  );
}

/** Reconciles of applications the operator has finished, from its metrics. */
async function reconciles(op: OperatorProcess): Promise<number> {
  let total = 0;
  for (const line of (await op.metrics()).split('\n')) {
    const m = /^controller_runtime_reconcile_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1]?.includes('controller="emrserverlessapplication"')) total += Number(m[2]);
  }
  return total;
}

function stalledMessage(r: { status?: { conditions?: Array<{ type: string; message?: string }> } }): string {
  return r.status?.conditions?.find((c) => c.type === 'Stalled')?.message ?? '';
}

let appA: { id: string; arn: string; account: string };
let appB: { id: string; arn: string; account: string };

describe('one operator, three namespaces, three accounts', () => {
  it("creates team A's application in account A, team B's in B, the unmapped one's in the operator's", async () => {
    const mark = await a.mark();
    const own = created(unmapped, 'plain');
    [appA, appB] = await Promise.all([created(a, 'analytics'), created(b, 'reporting')]);
    const appOwn = await own;
    expect(appA.account).toBe(ACCOUNT_A);
    expect(appA.arn).toBe(`arn:aws:emr-serverless:${REGION}:${ACCOUNT_A}:/applications/${appA.id}`);
    expect(appB.account).toBe(ACCOUNT_B);
    expect(appB.arn).toContain(`:${ACCOUNT_B}:/applications/`);
    expect(appOwn.account).toBe(ACCOUNT);
    expect(appOwn.arn).toContain(`:${ACCOUNT}:/applications/`);
    const calls = (await a.calls()).slice(mark);
    const creates = calls.filter((c) => c.operation === 'CreateApplication' && c.status === 200);
    expect(creates.map((c) => c.account).sort()).toEqual([ACCOUNT_A, ACCOUNT_B, ACCOUNT].sort());
    // Each team's calls were signed with credentials STS issued for its own role; the unmapped
    // namespace's with the operator's own (access key `e2e`).
    const [keysA, keysB] = await Promise.all([keysOf(ROLE_A), keysOf(ROLE_B)]);
    const about = (id: string) => calls.filter((c) => c.applicationId === id);
    expect(about(appA.id).every((c) => keysA.has(c.caller ?? ''))).toBe(true);
    expect(about(appB.id).every((c) => keysB.has(c.caller ?? ''))).toBe(true);
    expect(about(appOwn.id).every((c) => c.caller === 'e2e')).toBe(true);
    // STS saw the operator ask for each role once per session, with team A's external id.
    const assumed = calls.filter((c) => c.operation === 'AssumeRole' && c.status === 200);
    expect(assumed.every((c) => c.caller === 'e2e' && c.account === ACCOUNT)).toBe(true);
  });

  it("a resource in team B that names team A's application cannot see or change it", async () => {
    const tagsBefore = (await a.application(appA.id)).tags;
    const mark = await a.mark();
    await b.apply(manifest('borrowed', baseSpec('borrowed', { applicationId: appA.id })));
    const r = await b.waitForStalled('borrowed', 'ApplicationNotFound');
    expect(stalledMessage(r)).toContain(`Application ${appA.id} does not exist`);
    // Nothing was written in any account, and every call about A's application made as team B
    // was answered not found (the operator keeps reading A's application as team A meanwhile).
    expect(await writesSince(mark)).toEqual([]);
    const asB = (await a.calls())
      .slice(mark)
      .filter((c) => c.applicationId === appA.id && c.account === ACCOUNT_B);
    expect(asB.length).toBeGreaterThan(0);
    expect(asB.filter((c) => c.status !== 404)).toEqual([]);
    expect((await a.application(appA.id)).tags).toEqual(tagsBefore);
    await b.kubectl(['delete', 'emrsa', 'borrowed', '--wait=true']);
  });

  it("keys: one in team A's account is verified as team A; one in a third account by ARN, denied, does not block", async () => {
    const ownKey = await a.createKey({ account: ACCOUNT_A });
    const foreignKey = await a.createKey({ account: KEY_ACCOUNT });
    expect(ownKey).toContain(`:${ACCOUNT_A}:key/`);
    expect(foreignKey).toContain(`:${KEY_ACCOUNT}:key/`);
    const withKey = (key: string) =>
      manifest(
        'analytics',
        baseSpec('analytics', { diskEncryptionConfiguration: { encryptionKeyArn: key } }),
      );

    let mark = await a.mark();
    await a.apply(withKey(ownKey));
    let r = await a.waitForResource(
      'analytics',
      'own key verified',
      (x) =>
        x.status?.diskEncryption?.encryptionKeyArn === ownKey &&
        condition(x, 'Ready')?.status === 'True' &&
        x,
    );
    expect(r.status?.diskEncryption?.key).toMatchObject({ verified: true });
    let calls = (await a.calls()).slice(mark);
    const describedOwn = calls.filter((c) => c.operation === 'DescribeKey');
    expect(describedOwn.length).toBeGreaterThan(0);
    expect(describedOwn.every((c) => c.account === ACCOUNT_A && c.status === 200)).toBe(true);
    expect(await writesSince(mark)).toEqual([`${ACCOUNT_A} UpdateApplication ${appA.id}`]);

    // The third account's key policy does not grant team A's role DescribeKey.
    await a.aws.denyKey(foreignKey);
    mark = await a.mark();
    await a.apply(withKey(foreignKey));
    r = await a.waitForResource(
      'analytics',
      'foreign key sent unverified',
      (x) =>
        x.status?.diskEncryption?.encryptionKeyArn === foreignKey &&
        condition(x, 'Ready')?.status === 'True' &&
        x,
    );
    expect(r.status?.diskEncryption?.key).toMatchObject({ verified: false, reason: 'AccessDenied' });
    calls = (await a.calls()).slice(mark);
    const describedForeign = calls.filter((c) => c.operation === 'DescribeKey');
    expect(describedForeign.length).toBeGreaterThan(0);
    expect(
      describedForeign.every((c) => c.account === ACCOUNT_A && c.errorType === 'AccessDeniedException'),
    ).toBe(true);
    expect(await writesSince(mark)).toEqual([`${ACCOUNT_A} UpdateApplication ${appA.id}`]);
    expect((await a.application(appA.id)).diskEncryptionConfiguration).toMatchObject({
      encryptionKeyArn: foreignKey,
    });
    expect((await a.events('analytics')).map((e) => e.reason)).toContain('KeyUnverified');
  });

  it("a job run in team A's namespace runs in account A, submitted with team A's credentials", async () => {
    const mark = await a.mark();
    const jobRole = `arn:aws:iam::${ACCOUNT_A}:role/emr-job`;
    await a.apply(jobRunManifest('nightly', 'analytics', { executionRoleArn: jobRole }));
    const r = await a.waitForJob('nightly', 'submitted', (x) => !!x.status?.jobRunId && x);
    const id = r.status!.jobRunId!;
    expect(r.status?.applicationId).toBe(appA.id);
    expect(r.status?.arn).toBe(
      `arn:aws:emr-serverless:${REGION}:${ACCOUNT_A}:/applications/${appA.id}/jobruns/${id}`,
    );
    const starts = (await a.calls()).slice(mark).filter((c) => c.operation === 'StartJobRun');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({
      status: 200,
      account: ACCOUNT_A,
      applicationId: appA.id,
      jobRunId: id,
    });
    expect((await keysOf(ROLE_A)).has(starts[0]!.caller ?? '')).toBe(true);
    await a.aws.setJobRunState(appA.id, id, 'SUCCESS');
    await a.waitForJobCondition('nightly', 'Ready', 'Succeeded');
    const followed = (await a.calls()).slice(mark).filter((c) => c.jobRunId === id);
    expect(followed.every((c) => c.account === ACCOUNT_A)).toBe(true);
  });

  it('credentials are refreshed across expiry without a failed call: AssumeRole per role per lifetime', async () => {
    const op = a.operator;
    const lifetimes = 4;
    const issuedBefore = await a.aws.issuedCredentials();
    const reconcilesBefore = await reconciles(op);
    const mark = await a.mark();
    // Every resource is reconciled every resync (2 s), for four credential lifetimes.
    await sleep(lifetimes * LIFETIME_S * 1000);
    const calls = (await a.calls()).slice(mark);
    const reconciled = (await reconciles(op)) - reconcilesBefore;
    const issued = (await a.aws.issuedCredentials()).slice(issuedBefore.length);
    const asTeams = calls.filter((c) => c.account === ACCOUNT_A || c.account === ACCOUNT_B);
    // Each resync lists the team's applications or reads its one.
    const looks = ['GetApplication', 'ListApplications'];
    expect(asTeams.filter((c) => looks.includes(c.operation)).length).toBeGreaterThanOrEqual(
      2 * (Math.floor((lifetimes * LIFETIME_S * 1000) / RESYNC_MS) - 2),
    );
    expect(calls.filter((c) => c.status >= 400 && c.operation !== 'DescribeKey')).toEqual([]);
    const perRole = (roleArn: string) => issued.filter((c) => c.roleArn === roleArn).length;
    const sts = calls.filter((c) => c.service === 'sts');
    const figures = {
      seconds: lifetimes * LIFETIME_S,
      lifetimeSeconds: LIFETIME_S,
      assumeRoleA: perRole(ROLE_A),
      assumeRoleB: perRole(ROLE_B),
      stsCalls: sts.length,
      reconciles: reconciled,
      awsCallsBesidesSts: calls.length - sts.length,
      awsCallsPerReconcile: Number(((calls.length - sts.length) / Math.max(1, reconciled)).toFixed(2)),
    };
    console.log(`steady state, one operator, two mapped namespaces: ${JSON.stringify(figures)}`);
    // Renewed before expiry (at 3/4 of a 4 s lifetime here; 55 of 60 minutes by default): about
    // 1.3 AssumeRole per role per lifetime, never one per call.
    for (const roleArn of [ROLE_A, ROLE_B]) {
      expect(perRole(roleArn)).toBeGreaterThanOrEqual(lifetimes - 1);
      expect(perRole(roleArn)).toBeLessThanOrEqual(2 * lifetimes);
    }
    expect(sts.every((c) => c.operation === 'AssumeRole')).toBe(true);
    // Steady state: one GetApplication per reconcile (keys are cached; nothing else is asked).
    expect(figures.awsCallsPerReconcile).toBeLessThanOrEqual(1.2);
    expect(issued.every((c) => c.sessionName.startsWith('emr-serverless-operator-e2e-acct-'))).toBe(true);
    expect(condition(await a.get('analytics'), 'Ready')?.status).toBe('True');
  });
});

describe('the admin changes a mapping under bound resources (resync 10 min: only the namespace watch acts)', () => {
  beforeAll(async () => {
    const op = await startOperator(['--resync-period=10m']);
    // Its start-up reconciles are over before any annotation changes.
    await waitFor('start-up reconciles', async () => (await reconciles(op)) >= 3, { timeoutMs: 30_000 });
    await sleep(1_000);
  });

  it('role removed: Stalled AccountMappingChanged at once, nothing created in the operator account', async () => {
    const mark = await a.mark();
    await annotate(a, { [ROLE_ARN]: null, [EXTERNAL_ID]: null });
    const r = await a.waitForStalled('analytics', 'AccountMappingChanged', 20_000);
    expect(stalledMessage(r)).toContain(`is bound in AWS account ${ACCOUNT_A}`);
    expect(stalledMessage(r)).toContain(`now acts in account ${ACCOUNT}`);
    expect(r.status?.applicationId).toBe(appA.id);
    expect(r.status?.account).toBe(ACCOUNT_A);
    const calls = (await a.calls()).slice(mark);
    expect(await writesSince(mark)).toEqual([]);
    // Looked for as the operator (not found there), then the operator asked STS who it is.
    expect(
      calls.some((c) => c.operation === 'GetApplication' && c.account === ACCOUNT && c.status === 404),
    ).toBe(true);
    expect(calls.filter((c) => c.operation === 'GetCallerIdentity')).toHaveLength(1);
  });

  it('deleted meanwhile: the finalizer stays and the team application is neither deleted nor orphaned', async () => {
    const mark = await a.mark();
    await a.kubectl(['delete', 'emrsa', 'analytics', '--wait=false']);
    const r = await a.waitForResource(
      'analytics',
      'deleting, Stalled AccountMappingChanged',
      (x) =>
        !!x.metadata.deletionTimestamp &&
        condition(x, 'Stalled')?.reason === 'AccountMappingChanged' &&
        stalledMessage(x).includes('the finalizer stays') &&
        x,
      20_000,
    );
    expect(r.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    await quietAfterALook(a, 'emrserverlessapplication', () => writesSince(mark));
    expect(await a.exists('analytics')).toBe(true);
    expect((await a.application(appA.id)).state).not.toBe('TERMINATED');
  });

  it('role restored: the deletion goes on at once, in account A', async () => {
    const mark = await a.mark();
    await annotate(a, MAPPING_A);
    await a.waitGone('analytics', 20_000);
    expect((await a.application(appA.id)).state).toBe('TERMINATED');
    const writes = await writesSince(mark);
    expect(writes).toContain(`${ACCOUNT_A} DeleteApplication ${appA.id}`);
    expect(writes.every((w) => w.startsWith(ACCOUNT_A))).toBe(true);
  });

  it('role changed to one of another account: Stalled AccountMappingChanged with its running job, zero writes; changed back: Ready', async () => {
    await b.apply(
      jobRunManifest('hourly', 'reporting', { executionRoleArn: `arn:aws:iam::${ACCOUNT_B}:role/emr-job` }),
    );
    const job = await b.waitForJob('hourly', 'submitted', (x) => !!x.status?.jobRunId && x);
    await a.aws.setJobRunState(appB.id, job.status!.jobRunId!, 'RUNNING');
    await b.waitForJobCondition('hourly', 'Reconciling', 'InProgress');
    const mark = await a.mark();
    await annotate(b, { [ROLE_ARN]: ROLE_ELSEWHERE });
    const r = await b.waitForStalled('reporting', 'AccountMappingChanged', 20_000);
    expect(stalledMessage(r)).toContain(`is bound in AWS account ${ACCOUNT_B}`);
    expect(stalledMessage(r)).toContain('now acts in account 444444444444');
    expect(r.status?.account).toBe(ACCOUNT_B);
    const stalledJob = await b.waitForJobCondition('hourly', 'Stalled', 'AccountMappingChanged', 20_000);
    expect(stalledMessage(stalledJob)).toContain(`is in AWS account ${ACCOUNT_B}`);
    expect(await writesSince(mark)).toEqual([]);
    await annotate(b, { [ROLE_ARN]: ROLE_B });
    await b.waitForReady('reporting', 'True', 'Reconciled', 20_000);
    await b.waitForJobCondition('hourly', 'Reconciling', 'InProgress', 20_000);
    expect(await writesSince(mark)).toEqual([]);
  });

  it('role removed before a job run is submitted: Stalled AccountMappingChanged, zero StartJobRun; restored: submitted once, in account A', async () => {
    const app = await created(a, 'batch');
    expect(app.account).toBe(ACCOUNT_A);
    // The job run is created and the role removed while the operator is down: at start it sees
    // the application still Ready in account A and a namespace on the operator's own identity.
    await Promise.all(a.operators.map((op) => op.stop(5_000)));
    await a.apply(
      jobRunManifest('weekly', 'batch', { executionRoleArn: `arn:aws:iam::${ACCOUNT_A}:role/emr-job` }),
    );
    await annotate(a, { [ROLE_ARN]: null, [EXTERNAL_ID]: null });
    const mark = await a.mark();
    await startOperator(['--resync-period=10m']);
    const job = await a.waitForJobCondition('weekly', 'Stalled', 'AccountMappingChanged', 20_000);
    expect(stalledMessage(job)).toContain(`is bound in AWS account ${ACCOUNT_A}`);
    expect(stalledMessage(job)).toContain(`now acts in account ${ACCOUNT}`);
    expect(job.status?.jobRunId).toBeUndefined();
    await quietAfterALook(a, 'emrserverlessjobrun', () => writesSince(mark));
    const calls = (await a.calls()).slice(mark);
    expect(calls.filter((c) => c.operation === 'StartJobRun')).toEqual([]);

    await annotate(a, MAPPING_A);
    const r = await a.waitForJob('weekly', 'submitted', (x) => !!x.status?.jobRunId && x, 20_000);
    expect(r.status?.account).toBe(ACCOUNT_A);
    const starts = (await a.calls()).slice(mark).filter((c) => c.operation === 'StartJobRun');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({ status: 200, account: ACCOUNT_A, applicationId: app.id });
    await a.aws.setJobRunState(app.id, r.status!.jobRunId!, 'SUCCESS');
    await a.waitForJobCondition('weekly', 'Ready', 'Succeeded');
  });
});

describe('--require-namespace-role: one operator sees all three namespaces', () => {
  beforeAll(async () => {
    await startOperator(['--require-namespace-role']);
  });

  it('refuses the unmapped namespace (Stalled NoAccountMapping, nothing sent); the mapped ones are Ready', async () => {
    const mark = await a.mark();
    await unmapped.apply(manifest('stray', baseSpec('stray')));
    const [stray, plain] = await Promise.all([
      unmapped.waitForStalled('stray', 'NoAccountMapping'),
      unmapped.waitForStalled('plain', 'NoAccountMapping'),
    ]);
    for (const r of [stray, plain]) {
      expect(stalledMessage(r)).toContain(`namespace ${unmapped.namespace} has no annotation ${ROLE_ARN}`);
    }
    expect((await unmapped.events('stray')).map((e) => e.reason)).toContain('NoAccountMapping');
    const fresh = await created(a, 'etl');
    expect(fresh.account).toBe(ACCOUNT_A);
    await b.waitForReady('reporting', 'True', 'Reconciled');
    const calls: Call[] = (await a.calls()).slice(mark);
    expect(calls.filter((c) => c.service !== 'sts' && c.account === ACCOUNT)).toEqual([]);
    expect(await writesSince(mark)).toEqual([`${ACCOUNT_A} CreateApplication ${fresh.id}`]);
  });

  it('a role that refuses the operator is Stalled AccessDenied naming the role', async () => {
    await annotate(unmapped, { [ROLE_ARN]: ROLE_DENIED });
    const r = await unmapped.waitForStalled('stray', 'AccessDenied', 20_000);
    expect(stalledMessage(r)).toContain(`AssumeRole of ${ROLE_DENIED}`);
    expect(stalledMessage(r)).toContain(`session emr-serverless-operator-${unmapped.namespace}`);
    const assumed = (await a.calls()).filter((c) => c.operation === 'AssumeRole' && c.status === 403);
    expect(assumed.length).toBeGreaterThan(0);
  });
});

describe('secrets', () => {
  it('no credential appears in any log line, event or status', async () => {
    const issued = await a.aws.issuedCredentials();
    expect(issued.length).toBeGreaterThan(2);
    const secrets = issued.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]);
    const texts: string[] = [];
    for (const op of a.operators) texts.push(...op.lines.map((l) => JSON.stringify(l)), op.stderr);
    for (const e2e of [a, b, unmapped]) {
      texts.push((await e2e.kubectl(['get', 'events', '-o', 'json'])).stdout);
      texts.push((await e2e.kubectl(['get', 'emrsa,emrjob', '-o', 'json'])).stdout);
    }
    expect(texts.join('\n').length).toBeGreaterThan(1000);
    const leaks = secrets.filter((s) => texts.some((t) => t.includes(s)));
    expect(leaks).toEqual([]);
  });
});
