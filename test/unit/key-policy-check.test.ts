import { describe, expect, it } from 'vitest';
import {
  evaluateKeyPolicy,
  type KeyPolicyRequest,
  serviceUseVerdict,
  submitterUseVerdict,
} from '../../src/aws/key-policy-check.js';
import { AWS_PARTITION, keyPolicyStatements, partitionOfRegion } from '../../src/aws/policies.js';
import {
  ACCOUNT,
  APPLICATION_ARN,
  APPLICATION_ID,
  KEY_ARN,
  KEY_POLICY_CASES,
  OPERATOR_ROLE,
  OTHER_ACCOUNT,
  REGION,
} from '../fixtures/key-policies/cases.js';

const text = (policy: Record<string, unknown> | string) =>
  typeof policy === 'string' ? policy : JSON.stringify(policy);

describe('the key policy table', () => {
  it('has at least 40 policies, with every verdict', () => {
    expect(new Set(KEY_POLICY_CASES.map((c) => text(c.policy))).size).toBeGreaterThanOrEqual(40);
    expect(new Set(KEY_POLICY_CASES.map((c) => c.name)).size).toBe(KEY_POLICY_CASES.length);
    for (const verdict of ['allow', 'deny', 'unknown']) {
      expect(KEY_POLICY_CASES.filter((c) => c.expected === verdict).length).toBeGreaterThanOrEqual(5);
    }
  });

  it.each(KEY_POLICY_CASES)('$name: $expected', (c) => {
    const result = evaluateKeyPolicy(text(c.policy), c.request as KeyPolicyRequest);
    expect(result.decision, JSON.stringify(result)).toBe(c.expected);
    if (c.expected === 'unknown') expect(result.unknown?.length).toBeGreaterThan(0);
  });
});

const policy = (...Statement: Record<string, unknown>[]) =>
  JSON.stringify({ Version: '2012-10-17', Statement });
const root = {
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
  Action: 'kms:*',
  Resource: '*',
};
const printed = (context?: Record<string, string>) =>
  keyPolicyStatements({
    applicationArn: APPLICATION_ARN,
    ...(context ? { encryptionContext: context } : {}),
  });
const query = {
  keyArn: KEY_ARN,
  partition: AWS_PARTITION,
  region: REGION,
  account: ACCOUNT,
  applicationId: APPLICATION_ID,
  encryptionContext: { project: 'analytics' },
};

describe('serviceUseVerdict', () => {
  it('allows with the statement key-policy prints, for the same context', () => {
    expect(
      serviceUseVerdict({ ...query, policy: policy(root, ...printed({ project: 'analytics' })) }),
    ).toEqual({
      verdict: 'allows',
    });
  });

  it('denies the default policy, with the statement key-policy prints to paste', () => {
    const verdict = serviceUseVerdict({ ...query, policy: policy(root) });
    expect(verdict).toMatchObject({
      verdict: 'denies',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      statements: printed({ project: 'analytics' }),
    });
    if (verdict.verdict !== 'denies') throw new Error('denies expected');
    expect(verdict.message).toContain(JSON.stringify(printed({ project: 'analytics' })));
    expect(verdict.message).toContain('emr-serverless.amazonaws.com');
  });

  it('denies when the statement names another context, and says which action', () => {
    const verdict = serviceUseVerdict({
      ...query,
      encryptionContext: { project: 'billing' },
      policy: policy(...printed({ project: 'analytics' })),
    });
    expect(verdict).toMatchObject({ verdict: 'denies', actions: ['kms:GenerateDataKey', 'kms:Decrypt'] });
  });

  it('names the Deny that refuses, which adding a statement does not undo', () => {
    const deny = { Sid: 'NoDecrypt', Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*' };
    const verdict = serviceUseVerdict({
      ...query,
      policy: policy(...printed({ project: 'analytics' }), deny),
    });
    expect(verdict).toMatchObject({ verdict: 'denies', actions: ['kms:Decrypt'], deniedBy: 'NoDecrypt' });
    if (verdict.verdict === 'denies')
      expect(verdict.message).toContain('Statement NoDecrypt of the key policy denies it');
  });

  it('is unknown, not allowed, for a condition it cannot evaluate', () => {
    const statement = { ...printed()[0], Condition: { Bool: { 'aws:SecureTransport': 'true' } } };
    const verdict = serviceUseVerdict({ ...query, policy: policy(statement) });
    expect(verdict).toMatchObject({ verdict: 'unknown' });
    if (verdict.verdict === 'unknown') expect(verdict.reason).toContain('aws:SecureTransport');
  });

  it('before a create: unknown for a statement scoped to the application, denied without any', () => {
    const create = { ...query, applicationId: undefined, account: undefined };
    const pattern = `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/*`;
    expect(
      serviceUseVerdict({ ...create, policy: policy(...keyPolicyStatements({ applicationArn: pattern })) })
        .verdict,
    ).toBe('unknown');
    const denied = serviceUseVerdict({ ...create, policy: policy(root) });
    // The fix names every application of the key's account: the id is not known yet.
    expect(denied).toMatchObject({
      verdict: 'denies',
      statements: keyPolicyStatements({
        applicationArn: pattern,
        encryptionContext: { project: 'analytics' },
      }),
    });
    // Unconditioned: decided even before the create.
    const open = {
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: 'kms:*',
      Resource: '*',
    };
    expect(serviceUseVerdict({ ...create, policy: policy(open) }).verdict).toBe('allows');
  });

  it("follows the partition's service principal", () => {
    const cnKey = `arn:aws-cn:kms:cn-north-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const cn = { ...query, keyArn: cnKey, region: 'cn-north-1', partition: partitionOfRegion('cn-north-1') };
    const statements = keyPolicyStatements({
      applicationArn: `arn:aws-cn:emr-serverless:cn-north-1:${ACCOUNT}:/applications/${APPLICATION_ID}`,
    });
    expect(serviceUseVerdict({ ...cn, encryptionContext: {}, policy: policy(...statements) }).verdict).toBe(
      'allows',
    );
    expect(serviceUseVerdict({ ...cn, encryptionContext: {}, policy: policy(...printed()) }).verdict).toBe(
      'denies',
    );
  });
});

describe('submitterUseVerdict', () => {
  const submitter = {
    keyArn: KEY_ARN,
    partition: AWS_PARTITION,
    region: REGION,
    account: OTHER_ACCOUNT,
    roleArn: OPERATOR_ROLE,
  };
  const forOperator = keyPolicyStatements({
    applicationArn: `arn:aws:emr-serverless:${REGION}:${OTHER_ACCOUNT}:/applications/*`,
    operatorRoleArn: OPERATOR_ROLE,
    jobLevelKey: true,
  });

  it('allows with the statements key-policy --operator-role-arn --job-level-key prints', () => {
    expect(submitterUseVerdict({ ...submitter, policy: policy(root, ...forOperator) })).toEqual({
      verdict: 'allows',
    });
  });

  it('denies the default policy of the key account, with the statements to add', () => {
    const verdict = submitterUseVerdict({ ...submitter, policy: policy(root) });
    expect(verdict).toMatchObject({
      verdict: 'denies',
      actions: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      statements: forOperator.filter((s) => s.Sid !== 'AllowEmrServerlessDiskEncryption'),
    });
  });

  it('without the role ARN: a statement naming a role of the account is unknown, the account root allows', () => {
    const { roleArn: _, ...byAccount } = submitter;
    expect(submitterUseVerdict({ ...byAccount, policy: policy(...forOperator) }).verdict).toBe('unknown');
    const accountRoot = {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${OTHER_ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    };
    expect(submitterUseVerdict({ ...byAccount, policy: policy(accountRoot) }).verdict).toBe('allows');
  });
});
