import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import {
  JOB_SUBMISSION_ACTIONS,
  keyPolicyStatements,
  OPERATOR_ACTIONS,
  operatorIamPolicy,
} from '../../src/aws/policies.js';
import { keyPolicyCommand } from '../../src/cli/key-policy.js';
import { AWS_WRITE_OPERATIONS } from '../../src/emulator/control-client.js';

describe('the operator IAM policy', () => {
  it('allows every AWS operation the port calls, and nothing it never calls', () => {
    const source = readFileSync(new URL('../../src/aws/sdk-port.ts', import.meta.url), 'utf8');
    const called = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]));
    const kmsOps = new Set(['DescribeKey']);
    const needed = [...called].map((op) => (kmsOps.has(op!) ? `kms:${op}` : `emr-serverless:${op}`));
    const allowed = operatorIamPolicy().Statement.flatMap((s) => s.Action as string[]);
    for (const action of needed) expect(allowed).toContain(action);
    // ListTagsForResource is allowed for troubleshooting with the same role; the job submission
    // actions are used by the service on the submitter's behalf; all others are called.
    const unused = allowed.filter((a) => !needed.includes(a));
    expect(unused).toEqual([
      'emr-serverless:ListTagsForResource',
      'iam:PassRole',
      'kms:GenerateDataKey',
      'kms:Decrypt',
    ]);
    expect(OPERATOR_ACTIONS.kms).toEqual(['kms:DescribeKey']);
    expect(needed).toEqual(
      expect.arrayContaining([
        'emr-serverless:StartJobRun',
        'emr-serverless:GetJobRun',
        'emr-serverless:CancelJobRun',
      ]),
    );
  });

  it('passes execution roles only to EMR Serverless, and uses job-level keys only through it', () => {
    const byId = Object.fromEntries(operatorIamPolicy().Statement.map((s) => [s.Sid, s]));
    expect(byId.PassJobExecutionRoles).toEqual({
      Sid: 'PassJobExecutionRoles',
      Effect: 'Allow',
      Action: ['iam:PassRole'],
      Resource: 'arn:aws:iam::*:role/*',
      Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
    });
    expect(byId.UseJobLevelDiskEncryptionKeys).toMatchObject({
      Action: [...JOB_SUBMISSION_ACTIONS.jobLevelKey],
      Condition: { StringLike: { 'kms:ViaService': 'emr-serverless.*.amazonaws.com' } },
    });
  });
});

describe('the operator IAM policy follows the ownership tags', () => {
  const writes = [...AWS_WRITE_OPERATIONS].map((op) => `emr-serverless:${op}`);

  it.each([[undefined], ['prod-eu']])(
    'every write is conditioned on the uid tag (cluster %s)',
    (clusterId) => {
      const policy = operatorIamPolicy(clusterId ? { clusterId } : {});
      const writing = policy.Statement.filter((s) => (s.Action as string[]).some((a) => writes.includes(a)));
      expect(writing.map((s) => s.Sid)).toEqual([
        'CreateOwnedApplications',
        'ManageOwnedApplications',
        'UntagOwnedApplicationsButNotTheClaim',
        'ClaimUnclaimedApplications',
        'SubmitJobRunsToOwnedApplications',
        'CancelOwnedJobRuns',
      ]);
      for (const statement of writing) {
        const condition = JSON.stringify(statement.Condition);
        expect(condition).toContain('emrserverless.operator.dev/resource-uid');
        if (clusterId) expect(condition).toContain(`"${clusterId}"`);
        else expect(condition).not.toContain('emrserverless.operator.dev/cluster');
      }
      const create = writing[0]!;
      expect(create.Condition).toMatchObject({
        Null: { 'aws:RequestTag/emrserverless.operator.dev/resource-uid': 'false' },
        'ForAnyValue:StringEquals': { 'aws:TagKeys': ['emrserverless.operator.dev/resource-uid'] },
      });
      expect(writing[1]!.Condition).toMatchObject({
        Null: { 'aws:ResourceTag/emrserverless.operator.dev/resource-uid': 'false' },
      });
      // Never removes a claim; claims only what nobody claimed.
      expect(writing[2]!.Condition).toMatchObject({
        'ForAllValues:StringNotLike': { 'aws:TagKeys': ['emrserverless.operator.dev/*'] },
      });
      expect(writing[3]!.Condition).toMatchObject({
        Null: { 'aws:ResourceTag/emrserverless.operator.dev/resource-uid': 'true' },
      });
      // A job run goes only to an owned application, claimed in its own request; a cancel only to
      // an owned run.
      expect(writing[4]!.Condition).toMatchObject({
        Null: {
          'aws:ResourceTag/emrserverless.operator.dev/resource-uid': 'false',
          'aws:RequestTag/emrserverless.operator.dev/resource-uid': 'false',
        },
      });
      expect(writing[5]!.Condition).toMatchObject({
        Null: { 'aws:ResourceTag/emrserverless.operator.dev/resource-uid': 'false' },
      });
    },
  );
});

describe('key-policy', () => {
  const app = 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/00fabc123';

  it('scopes the service principal to the application and its account', () => {
    const [statement] = keyPolicyStatements({ applicationArn: app });
    expect(statement).toEqual({
      Sid: 'AllowEmrServerlessDiskEncryption',
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' }, ArnLike: { 'aws:SourceArn': app } },
    });
  });

  it('adds the encryption context as a condition, and the optional roles', () => {
    const statements = keyPolicyStatements({
      applicationArn: app,
      encryptionContext: { project: 'analytics' },
      runtimeRoleArn: 'arn:aws:iam::111122223333:role/job',
      operatorRoleArn: 'arn:aws:iam::999999999999:role/operator',
    });
    expect(statements.map((s) => s.Sid)).toEqual([
      'AllowEmrServerlessDiskEncryption',
      'AllowJobRuntimeRole',
      'AllowOperatorToVerifyKey',
    ]);
    expect(statements[0]?.Condition).toMatchObject({
      StringEquals: { 'kms:EncryptionContext:project': 'analytics' },
    });
    expect(statements[1]?.Condition).toEqual({
      StringEquals: { 'kms:EncryptionContext:project': 'analytics' },
    });
  });

  it('refuses something that is not an application ARN', () => {
    expect(() => keyPolicyStatements({ applicationArn: 'arn:aws:kms:eu-west-1:111122223333:key/x' })).toThrow(
      /--application-arn must look like/,
    );
  });

  it('prints valid JSON from the command line', () => {
    const out = execFileSync(
      'npx',
      [
        'tsx',
        'src/cli/main.ts',
        'key-policy',
        '--application-arn',
        app,
        '--encryption-context',
        'project=analytics',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out).Statement[0].Condition.StringEquals['kms:EncryptionContext:project']).toBe(
      'analytics',
    );
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--application-arn'], /argument missing/],
    [['--application-arn', app, 'extra'], /Unexpected argument 'extra'/],
    [[], /--application-arn is required/],
    [['--application-arn', 'not-an-arn'], /--application-arn must look like/],
    [['--application-arn', app, '--encryption-context', 'no-equals'], /takes key=value/],
  ])('refuses %j with the reason and the usage, exit status 2', async (args, reason) => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => {});
    const stdout = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await keyPolicyCommand(args)).toBe(2);
      const said = stderr.mock.calls.map((c) => String(c[0])).join('\n');
      expect(said).toMatch(reason);
      expect(said).toMatch(/^error: /);
      expect(said).toContain('Usage: emr-serverless-operator key-policy');
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
  });
});
