// IAM in the local service, through the real SDK clients: off by default; switched on, every call
// is judged by the caller's policies and the KMS key policies, as AWS documents it. The operator's
// printed least-privilege policy is attached as written, so its gaps and its holes both show.
import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  ListApplicationsCommand,
  StartJobRunCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { OWNER_CLUSTER_TAG, OWNER_UID_TAG } from '../../src/api/constants.js';
import {
  AWS_PARTITION,
  jobLevelKeyIamStatement,
  keyPolicyStatements,
  operatorIamPolicy,
} from '../../src/aws/policies.js';
import { type AccessRequest, evaluate, parsePolicy, type RequestPrincipal } from '../../src/emulator/iam.js';
import { ACCOUNT, REGION, rejection, useHarness, waitForState } from './helpers.js';

const h = useHarness();
const OTHER_ACCOUNT = '210987654321';
const OPERATOR_KEY = 'AKIDOPERATOR';
const OPERATOR_ARN = `arn:aws:iam::${ACCOUNT}:user/operator`;
const JOB_ROLE = `arn:aws:iam::${ACCOUNT}:role/emr-job`;

function clientsOf(accessKeyId: string) {
  const credentials = { accessKeyId, secretAccessKey: 'x' };
  return {
    emr: new EMRServerlessClient({ endpoint: h.emulator.endpoint, region: REGION, credentials }),
    kms: new KMSClient({ endpoint: h.emulator.endpoint, region: REGION, credentials }),
    sts: new STSClient({ endpoint: h.emulator.endpoint, region: REGION, credentials }),
  };
}

/** The operator as a user of its own under the printed policy (cluster c1), with IAM enforced. */
async function operatorUnderPrintedPolicy(extra: object[] = []) {
  await h.control.declareUser({
    userName: 'operator',
    accessKeyId: OPERATOR_KEY,
    policies: [operatorIamPolicy({ clusterId: 'c1' }), ...extra],
  });
  await h.control.enforceIam(true);
  return clientsOf(OPERATOR_KEY);
}

const claim = (uid: string, cluster = 'c1') => ({ [OWNER_UID_TAG]: uid, [OWNER_CLUSTER_TAG]: cluster });

/** An application made by the administrator (the built-in caller), with these tags. */
async function adminApplication(tags: Record<string, string> = {}): Promise<{ id: string; arn: string }> {
  const out = await h.emr.send(
    new CreateApplicationCommand({ name: 'app', type: 'SPARK', releaseLabel: 'emr-7.5.0', tags }),
  );
  return { id: out.applicationId!, arn: out.arn! };
}

describe('switched off (the default)', () => {
  it('lets a declared user without any policy call everything', async () => {
    await h.control.declareUser({ userName: 'nobody', accessKeyId: 'AKIDNOBODY', policies: [] });
    const { emr } = clientsOf('AKIDNOBODY');
    await expect(emr.send(new ListApplicationsCommand({}))).resolves.toBeDefined();
  });
});

describe('switched on', () => {
  it('refuses a user without policies with AccessDeniedException, and keeps the built-in caller an administrator', async () => {
    await h.control.declareUser({ userName: 'nobody', accessKeyId: 'AKIDNOBODY', policies: [] });
    await h.control.enforceIam(true);
    const { emr } = clientsOf('AKIDNOBODY');
    const e = await rejection(emr.send(new ListApplicationsCommand({})));
    expect(e.name).toBe('AccessDeniedException');
    expect(e.$metadata?.httpStatusCode).toBe(403);
    expect(e.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/nobody is not authorized to perform: emr-serverless:ListApplications on resource: * because no identity-based policy allows the emr-serverless:ListApplications action`,
    );
    await expect(h.emr.send(new ListApplicationsCommand({}))).resolves.toBeDefined();
    const denied = (await h.control.calls()).filter((c) => c.errorType === 'AccessDeniedException');
    expect(denied.map((c) => [c.operation, c.status, c.caller])).toEqual([
      ['ListApplications', 403, 'AKIDNOBODY'],
    ]);
  });

  it('lets the printed policy create claimed applications, and only claimed ones', async () => {
    const { emr } = await operatorUnderPrintedPolicy();
    const create = (tags?: Record<string, string>) =>
      emr.send(
        new CreateApplicationCommand({
          name: 'a',
          type: 'SPARK',
          releaseLabel: 'emr-7.5.0',
          ...(tags && { tags }),
        }),
      );
    await expect(create(claim('u1'))).resolves.toMatchObject({ applicationId: expect.any(String) });
    expect((await rejection(create())).name).toBe('AccessDeniedException');
    expect((await rejection(create(claim('u1', 'c2')))).name).toBe('AccessDeniedException');
  });

  it('denies a claim of an application another cluster claimed, and allows one nobody claimed', async () => {
    const { emr } = await operatorUnderPrintedPolicy();
    const theirs = await adminApplication(claim('their-uid', 'c2'));
    const e = await rejection(
      emr.send(new TagResourceCommand({ resourceArn: theirs.arn, tags: claim('u1') })),
    );
    expect(e.name).toBe('AccessDeniedException');
    expect(
      (await h.emr.send(new GetApplicationCommand({ applicationId: theirs.id }))).application!.tags,
    ).toEqual(claim('their-uid', 'c2'));
    const unclaimed = await adminApplication({ team: 'a' });
    await waitForState(h.emr, unclaimed.id, 'CREATED');
    await emr.send(new TagResourceCommand({ resourceArn: unclaimed.arn, tags: claim('u1') }));
    // Claimed by this cluster now: the operator may change it, but never drop its claim.
    await emr.send(
      new UpdateApplicationCommand({
        applicationId: unclaimed.id,
        maximumCapacity: { cpu: '4 vCPU', memory: '16 GB' },
      }),
    );
    const untag = (tagKeys: string[]) =>
      emr.send(new UntagResourceCommand({ resourceArn: unclaimed.arn, tagKeys }));
    expect((await rejection(untag([OWNER_UID_TAG]))).name).toBe('AccessDeniedException');
    await expect(untag(['team'])).resolves.toBeDefined();
  });

  it('denies changes to an application the operator does not own', async () => {
    const { emr } = await operatorUnderPrintedPolicy();
    const other = await adminApplication({ team: 'a' });
    await expect(emr.send(new GetApplicationCommand({ applicationId: other.id }))).resolves.toBeDefined();
    const e = await rejection(
      emr.send(
        new UpdateApplicationCommand({
          applicationId: other.id,
          maximumCapacity: { cpu: '4 vCPU', memory: '16 GB' },
        }),
      ),
    );
    expect(e.name).toBe('AccessDeniedException');
  });

  it('needs sts:AssumeRole in the caller policy as well as the role trust', async () => {
    const roleArn = `arn:aws:iam::${OTHER_ACCOUNT}:role/team`;
    await h.control.declareRole({ roleArn, trustedAccounts: [ACCOUNT] });
    const { sts } = await operatorUnderPrintedPolicy();
    const assume = () => sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'op' }));
    expect((await rejection(assume())).name).toBe('AccessDenied');
    await h.control.attachPolicies(OPERATOR_ARN, [
      operatorIamPolicy({ clusterId: 'c1' }),
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn }],
      },
    ]);
    await expect(assume()).resolves.toMatchObject({ Credentials: expect.anything() });
  });
});

describe('KMS key policies', () => {
  it('answers the default key policy and refuses one that locks the caller out', async () => {
    const key = await h.control.createKey({});
    const got = await h.kms.send(new GetKeyPolicyCommand({ KeyId: key.Arn }));
    expect(got.PolicyName).toBe('default');
    expect(JSON.parse(got.Policy!)).toMatchObject({
      Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*' }],
    });
    await h.control.enforceIam(true);
    const lockout = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: JOB_ROLE }, Action: 'kms:Decrypt', Resource: '*' }],
    });
    const e = await rejection(h.kms.send(new PutKeyPolicyCommand({ KeyId: key.Arn, Policy: lockout })));
    expect(e.name).toBe('MalformedPolicyDocumentException');
    const bad = await rejection(
      h.kms.send(
        new PutKeyPolicyCommand({
          KeyId: key.Arn,
          Policy: '{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}',
        }),
      ),
    );
    expect(bad.name).toBe('MalformedPolicyDocumentException');
  });

  it('makes data keys bound to their encryption context', async () => {
    const key = await h.control.createKey({});
    const EncryptionContext = { applicationId: 'a1' };
    const made = await h.kms.send(
      new GenerateDataKeyCommand({ KeyId: key.Arn, EncryptionContext, KeySpec: 'AES_256' }),
    );
    expect(made.Plaintext).toHaveLength(32);
    const opened = await h.kms.send(
      new DecryptCommand({ CiphertextBlob: made.CiphertextBlob, EncryptionContext }),
    );
    expect(Buffer.from(opened.Plaintext!).equals(Buffer.from(made.Plaintext!))).toBe(true);
    const wrong = await rejection(
      h.kms.send(
        new DecryptCommand({
          CiphertextBlob: made.CiphertextBlob,
          EncryptionContext: { applicationId: 'a2' },
        }),
      ),
    );
    expect(wrong.name).toBe('InvalidCiphertextException');
  });

  it('lets a caller of another account describe a key only when the key policy names it', async () => {
    const { kms } = await operatorUnderPrintedPolicy();
    const key = await h.control.createKey({ account: OTHER_ACCOUNT });
    const e = await rejection(kms.send(new DescribeKeyCommand({ KeyId: key.Arn })));
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain('because no resource-based policy allows the kms:DescribeKey action');
    const statements = keyPolicyStatements({
      applicationArn: `arn:aws:emr-serverless:${REGION}:${OTHER_ACCOUNT}:/applications/*`,
      operatorRoleArn: OPERATOR_ARN,
    });
    const policy = await h.control.keyPolicy(key.Arn);
    await h.control.putKeyPolicy(key.Arn, {
      ...policy,
      Statement: [...(policy as { Statement: object[] }).Statement, ...statements],
    });
    await expect(kms.send(new DescribeKeyCommand({ KeyId: key.Arn }))).resolves.toBeDefined();
  });
});

describe('StartJobRun with a job-level key', () => {
  async function ownedStartedApplication(emr: EMRServerlessClient): Promise<string> {
    const out = await emr.send(
      new CreateApplicationCommand({
        name: 'a',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        tags: claim('u1'),
      }),
    );
    await waitForState(h.emr, out.applicationId!, 'CREATED');
    return out.applicationId!;
  }
  const submit = (emr: EMRServerlessClient, applicationId: string, keyArn: string) =>
    emr.send(
      new StartJobRunCommand({
        applicationId,
        executionRoleArn: JOB_ROLE,
        jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
        configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: keyArn } },
        tags: claim('job-uid'),
      }),
    );

  it('rejects a submitter whose key policy in the other account does not grant it, and accepts it once granted', async () => {
    const { emr } = await operatorUnderPrintedPolicy();
    const appId = await ownedStartedApplication(emr);
    const key = await h.control.createKey({ account: OTHER_ACCOUNT });
    const e = await rejection(submit(emr, appId, key.Arn));
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain(key.Arn);
    expect(e.message).toContain('kms:DescribeKey');
    const policy = (await h.control.keyPolicy(key.Arn)) as { Statement: object[] };
    const grant = keyPolicyStatements({
      applicationArn: `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${appId}`,
      operatorRoleArn: OPERATOR_ARN,
      jobLevelKey: true,
    });
    await h.control.putKeyPolicy(key.Arn, { ...policy, Statement: [...policy.Statement, ...grant] });
    await expect(submit(emr, appId, key.Arn)).resolves.toMatchObject({ jobRunId: expect.any(String) });
  });

  it('rejects a submitter whose own policy lacks the key actions, even with a key policy of its account', async () => {
    const { emr } = await operatorUnderPrintedPolicy();
    const appId = await ownedStartedApplication(emr);
    const key = await h.control.createKey({});
    await expect(submit(emr, appId, key.Arn)).resolves.toBeDefined();
    const narrowed = operatorIamPolicy({ clusterId: 'c1', jobKeyResources: [] });
    await h.control.attachPolicies(OPERATOR_ARN, [narrowed]);
    expect((await rejection(submit(emr, appId, key.Arn))).name).toBe('AccessDeniedException');
    await h.control.attachPolicies(OPERATOR_ARN, [narrowed, jobLevelKeyIamStatementPolicy(key.Arn)]);
    await expect(submit(emr, appId, key.Arn)).resolves.toBeDefined();
  });
});

describe('the workers of a run on a customer-managed key', () => {
  async function runOn(key: string): Promise<{ appId: string; jobRunId: string }> {
    const app = await h.emr.send(
      new CreateApplicationCommand({
        name: 'w',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: key, encryptionContext: { team: 'data' } },
      }),
    );
    await waitForState(h.emr, app.applicationId!, 'CREATED');
    const run = await h.emr.send(
      new StartJobRunCommand({
        applicationId: app.applicationId!,
        executionRoleArn: JOB_ROLE,
        jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
      }),
    );
    return { appId: app.applicationId!, jobRunId: run.jobRunId! };
  }
  const stateOf = async (appId: string, jobRunId: string) =>
    (await h.emr.send(new GetJobRunCommand({ applicationId: appId, jobRunId }))).jobRun!;

  it('fail the run with the reason KMS gives when the key policy does not let EMR Serverless use the key', async () => {
    await h.control.enforceIam(true);
    const key = await h.control.createKey({});
    const { appId, jobRunId } = await runOn(key.Arn);
    await h.control.setJobRunState(appId, jobRunId, 'RUNNING');
    const run = await stateOf(appId, jobRunId);
    expect(run.state).toBe('FAILED');
    expect(run.stateDetails).toContain(key.Arn);
    expect(run.stateDetails).toContain(
      'emr-serverless.amazonaws.com is not authorized to perform: kms:GenerateDataKey',
    );
  });

  it('start the run when the key policy holds the statement key-policy prints', async () => {
    await h.control.enforceIam(true);
    const key = await h.control.createKey({});
    const { appId, jobRunId } = await runOn(key.Arn);
    const policy = (await h.control.keyPolicy(key.Arn)) as { Statement: object[] };
    const grant = keyPolicyStatements({
      applicationArn: `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${appId}`,
      encryptionContext: { team: 'data' },
    });
    await h.control.putKeyPolicy(key.Arn, { ...policy, Statement: [...policy.Statement, ...grant] });
    await h.control.setJobRunState(appId, jobRunId, 'RUNNING');
    expect((await stateOf(appId, jobRunId)).state).toBe('RUNNING');
  });

  it('are not judged while IAM is off', async () => {
    const key = await h.control.createKey({});
    const { appId, jobRunId } = await runOn(key.Arn);
    await h.control.setJobRunState(appId, jobRunId, 'RUNNING');
    expect((await stateOf(appId, jobRunId)).state).toBe('RUNNING');
  });
});

const jobLevelKeyIamStatementPolicy = (keyArn: string) => ({
  Version: '2012-10-17',
  Statement: [jobLevelKeyIamStatement(keyArn, AWS_PARTITION, REGION)],
});

describe('the evaluator', () => {
  const who: RequestPrincipal = { arn: OPERATOR_ARN, account: ACCOUNT };
  const decide = (statement: object, request: Partial<AccessRequest> = {}, principal?: RequestPrincipal) =>
    evaluate(
      [parsePolicy({ Statement: [statement] }, principal ? 'resource' : 'identity')],
      {
        action: 'kms:Decrypt',
        resource: 'arn:aws:kms:eu-west-1:123456789012:key/k',
        context: {},
        ...request,
      },
      principal,
    ).decision;
  const allow = (extra: object) => ({ Effect: 'Allow', Action: 'kms:*', Resource: '*', ...extra });
  const ctx = (context: Record<string, string | string[]>) => ({
    context: Object.fromEntries(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v])),
  });

  it.each([
    [
      'an absent key fails StringEquals',
      { Condition: { StringEquals: { 'kms:ViaService': 'x' } } },
      {},
      'ImplicitDeny',
    ],
    [
      'an absent key passes StringNotEquals',
      { Condition: { StringNotEquals: { 'kms:ViaService': 'x' } } },
      {},
      'Allow',
    ],
    [
      'an absent key passes ...IfExists',
      { Condition: { StringEqualsIfExists: { 'kms:ViaService': 'x' } } },
      {},
      'Allow',
    ],
    [
      'a present key is checked by ...IfExists',
      { Condition: { StringEqualsIfExists: { 'kms:ViaService': 'x' } } },
      { 'kms:ViaService': 'y' },
      'ImplicitDeny',
    ],
    [
      'Null true holds for an absent key',
      { Condition: { Null: { 'aws:ResourceTag/a': 'true' } } },
      {},
      'Allow',
    ],
    [
      'Null false fails for an absent key',
      { Condition: { Null: { 'aws:ResourceTag/a': 'false' } } },
      {},
      'ImplicitDeny',
    ],
    [
      'ForAllValues holds over no values',
      { Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a'] } } },
      {},
      'Allow',
    ],
    [
      'ForAnyValue fails over no values',
      { Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a'] } } },
      {},
      'ImplicitDeny',
    ],
    [
      'ForAllValues:StringNotLike refuses one matching key',
      { Condition: { 'ForAllValues:StringNotLike': { 'aws:TagKeys': ['op/*'] } } },
      { 'aws:TagKeys': ['team', 'op/uid'] },
      'ImplicitDeny',
    ],
    [
      'condition key names ignore case',
      { Condition: { StringEquals: { 'KMS:VIASERVICE': 'x' } } },
      { 'kms:ViaService': 'x' },
      'Allow',
    ],
    [
      'values are case-sensitive',
      { Condition: { StringEquals: { 'kms:ViaService': 'X' } } },
      { 'kms:ViaService': 'x' },
      'ImplicitDeny',
    ],
    [
      'StringLike takes ? and *',
      { Condition: { StringLike: { 'kms:ViaService': 'emr-serverless.?u-*.amazonaws.com' } } },
      { 'kms:ViaService': 'emr-serverless.eu-west-1.amazonaws.com' },
      'Allow',
    ],
    [
      'ArnLike matches an ARN part by part',
      {
        Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:emr-serverless:*:111122223333:/applications/*' } },
      },
      { 'aws:SourceArn': 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/a' },
      'Allow',
    ],
    [
      'ArnLike tells another account apart',
      {
        Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:emr-serverless:*:111122223333:/applications/*' } },
      },
      { 'aws:SourceArn': 'arn:aws:emr-serverless:eu-west-1:444455556666:/applications/a' },
      'ImplicitDeny',
    ],
    [
      'values of one key are ORed',
      { Condition: { StringEquals: { 'kms:CallerAccount': ['1', '2'] } } },
      { 'kms:CallerAccount': '2' },
      'Allow',
    ],
    [
      'keys and operators are ANDed',
      { Condition: { StringEquals: { 'kms:CallerAccount': '2' }, Null: { 'kms:ViaService': 'false' } } },
      { 'kms:CallerAccount': '2' },
      'ImplicitDeny',
    ],
  ])('%s', (_name, extra, context, decision) => {
    expect(decide(allow(extra), ctx(context))).toBe(decision);
  });

  it('lets a Deny win over any Allow, and reads NotAction and NotResource as complements', () => {
    const policies = [
      parsePolicy(
        { Statement: [allow({}), { Effect: 'Deny', NotAction: 'kms:Describe*', Resource: '*' }] },
        'identity',
      ),
    ];
    const request = (action: string): AccessRequest => ({
      action,
      resource: 'arn:aws:kms:eu-west-1:1:key/k',
    });
    expect(evaluate(policies, request('kms:Decrypt')).decision).toBe('ExplicitDeny');
    expect(evaluate(policies, request('kms:DescribeKey')).decision).toBe('Allow');
    expect(decide({ Effect: 'Allow', Action: 'kms:*', NotResource: 'arn:aws:kms:*:*:key/k' })).toBe(
      'ImplicitDeny',
    );
  });

  it('matches principals: an account, a role for its sessions, a service, *, and NotPrincipal', () => {
    const session: RequestPrincipal = {
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/team/s`,
      account: ACCOUNT,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/team`,
    };
    const service: RequestPrincipal = {
      arn: 'emr-serverless.amazonaws.com',
      service: 'emr-serverless.amazonaws.com',
    };
    const by = (principal: object, p: RequestPrincipal) => decide(allow({ ...principal }), {}, p);
    expect(by({ Principal: { AWS: ACCOUNT } }, who)).toBe('Allow');
    expect(by({ Principal: { AWS: `arn:aws:iam::${OTHER_ACCOUNT}:root` } }, who)).toBe('ImplicitDeny');
    expect(by({ Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/team` } }, session)).toBe('Allow');
    expect(by({ Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/team` } }, who)).toBe('ImplicitDeny');
    expect(by({ Principal: { Service: 'emr-serverless.amazonaws.com' } }, service)).toBe('Allow');
    expect(by({ Principal: { AWS: '*' } }, service)).toBe('Allow');
    expect(by({ Principal: { AWS: ACCOUNT } }, service)).toBe('ImplicitDeny');
    expect(by({ Principal: '*' }, service)).toBe('Allow');
    expect(by({ NotPrincipal: { AWS: OPERATOR_ARN } }, who)).toBe('ImplicitDeny');
    expect(by({ NotPrincipal: { AWS: OPERATOR_ARN } }, session)).toBe('Allow');
  });

  it('refuses a policy IAM would refuse, instead of ignoring what it cannot read', () => {
    expect(() =>
      parsePolicy({ Statement: [allow({ Condition: { StringEqualz: { a: 'b' } } })] }, 'identity'),
    ).toThrow(/Unknown condition operator StringEqualz/);
    expect(() =>
      parsePolicy(
        { Statement: [{ Effect: 'Allow', Action: 'a:b', NotAction: 'a:c', Resource: '*' }] },
        'identity',
      ),
    ).toThrow(/exactly one of Action and NotAction/);
    expect(() => parsePolicy({ Statement: [allow({})] }, 'resource')).toThrow(/needs a Principal/);
  });
});
