import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OWNER_CLUSTER_TAG, OWNER_UID_TAG } from '../../src/api/constants.js';
import {
  keyPolicyStatements,
  type OperatorIamPolicyOptions,
  operatorIamPolicy,
  partitionOfRegion,
} from '../../src/aws/policies.js';
import { evaluate, parsePolicy } from '../../src/emulator/iam.js';
import { runCommand } from '../support/cli.js';

type Statement = Record<string, unknown>;
type Conditions = Record<string, Record<string, string | string[]>>;

// ---------------------------------------------------------------------------------------------
// Which Allow statements match a request, by the local service's IAM evaluator (one statement at
// a time, so each statement that would allow is named). Resources are all "*" in these statements.

/** The request context: values of condition keys; a key absent from the map is absent. */
type Context = Record<string, string | string[]>;

const lowerKeys = (context: Context): Context =>
  Object.fromEntries(Object.entries(context).map(([k, v]) => [k.toLowerCase(), v]));

/** The Sids of the Allow statements that match: any one of them allows the request. */
const matching = (statements: Statement[], action: string, context: Context) =>
  statements
    .filter(
      (s) =>
        s.Effect === 'Allow' &&
        evaluate([parsePolicy({ Statement: [s] }, 'identity')], {
          action,
          resource: '*',
          context: lowerKeys(context),
        }).decision === 'Allow',
    )
    .map((s) => s.Sid);

// ---------------------------------------------------------------------------------------------

const uid = (value: string) => ({ [`aws:ResourceTag/${OWNER_UID_TAG}`]: value });
const cluster = (value: string) => ({ [`aws:ResourceTag/${OWNER_CLUSTER_TAG}`]: value });
/** What a claim (or tag-on-create) of this cluster sends: the uid and cluster tags. */
const claimRequest = (ours: string): Context => ({
  [`aws:RequestTag/${OWNER_UID_TAG}`]: 'our-uid',
  [`aws:RequestTag/${OWNER_CLUSTER_TAG}`]: ours,
  'aws:TagKeys': [OWNER_UID_TAG, OWNER_CLUSTER_TAG],
});

describe('which statements of the operator IAM policy allow a claim (TagResource of the ownership tags)', () => {
  const scoped = operatorIamPolicy({ clusterId: 'prod-eu' }).Statement;
  const unscoped = operatorIamPolicy().Statement;

  it.each<[string, Statement[], Context, string[]]>([
    [
      'an application another cluster claimed: nothing',
      scoped,
      { ...claimRequest('prod-eu'), ...uid('their-uid'), ...cluster('prod-us') },
      [],
    ],
    [
      'an application another cluster claimed, claim naming that cluster: nothing',
      scoped,
      { ...claimRequest('prod-us'), ...uid('their-uid'), ...cluster('prod-us') },
      [],
    ],
    [
      'an application carrying only another cluster tag (no uid): nothing',
      scoped,
      { ...claimRequest('prod-eu'), ...cluster('prod-us') },
      [],
    ],
    [
      'an application claimed by an older version (uid only): nothing in the scoped policy',
      scoped,
      { ...claimRequest('prod-eu'), ...uid('their-uid') },
      [],
    ],
    [
      'an application of this cluster: the owned statement',
      scoped,
      { ...claimRequest('prod-eu'), ...uid('other-uid'), ...cluster('prod-eu') },
      ['ManageOwnedApplications'],
    ],
    ['an unclaimed application: the claim', scoped, claimRequest('prod-eu'), ['TagNewOrUnclaimedResources']],
    [
      'an unclaimed application carrying this cluster tag: the claim',
      scoped,
      { ...claimRequest('prod-eu'), ...cluster('prod-eu') },
      ['TagNewOrUnclaimedResources'],
    ],
    ['an unclaimed application, claim naming another cluster: nothing', scoped, claimRequest('prod-us'), []],
    [
      'unscoped: an application claimed by anyone counts as owned (no cluster to compare)',
      unscoped,
      { ...claimRequest('prod-eu'), ...uid('their-uid'), ...cluster('prod-us') },
      ['ManageOwnedApplications'],
    ],
    ['unscoped: an unclaimed application', unscoped, claimRequest('x'), ['TagNewOrUnclaimedResources']],
  ])('%s', (_case, statements, context, sids) => {
    expect(matching(statements, 'emr-serverless:TagResource', context)).toEqual(sids);
  });

  it('tagging at creation is allowed only with the claim, and CreateApplication only by its own statement', () => {
    // CreateApplication has no resource: no aws:ResourceTag in its context, nor in the
    // TagResource that authorises its tags (the application does not exist yet).
    expect(matching(scoped, 'emr-serverless:CreateApplication', claimRequest('prod-eu'))).toEqual([
      'CreateOwnedApplications',
    ]);
    expect(matching(scoped, 'emr-serverless:TagResource', claimRequest('prod-eu'))).toEqual([
      'TagNewOrUnclaimedResources',
    ]);
    expect(matching(scoped, 'emr-serverless:CreateApplication', claimRequest('prod-us'))).toEqual([]);
    expect(matching(scoped, 'emr-serverless:CreateApplication', { 'aws:TagKeys': ['team'] })).toEqual([]);
  });

  it('no statement but TagResource ones can add tags, and the claim is never removed', () => {
    for (const statements of [scoped, unscoped]) {
      const untagClaim = {
        ...uid('our-uid'),
        ...cluster('prod-eu'),
        'aws:TagKeys': [OWNER_UID_TAG],
      };
      expect(matching(statements, 'emr-serverless:UntagResource', untagClaim)).toEqual([]);
      expect(
        matching(statements, 'emr-serverless:UntagResource', { ...untagClaim, 'aws:TagKeys': ['team'] }),
      ).toEqual(['UntagOwnedApplicationsButNotTheClaim']);
    }
  });
});

// ---------------------------------------------------------------------------------------------

interface Authorization {
  resourceTypes: Record<string, { conditionKeys: string[] }>;
  actions: Record<string, { resourceTypes: string[]; conditionKeys: string[] }>;
}
const authorization = JSON.parse(
  readFileSync(new URL('../../src/aws/authorization.json', import.meta.url), 'utf8'),
) as Authorization;

/** A reference key (`aws:RequestTag/${TagKey}`, `kms:EncryptionContext:${EncryptionContextKey}`) as a test. */
const keyPattern = (key: string) =>
  new RegExp(
    `^${key
      .split(/\$\{[^}]+\}|<[^>]+>/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.+')}$`,
    'i',
  );
const TAG_KEYS = /^aws:(RequestTag\/|ResourceTag\/|TagKeys$)/i;

/** Why a statement's condition keys do not all apply to all its actions (empty: they do). */
function unsupported(statement: Statement): string[] {
  const problems: string[] = [];
  const actions = ([] as string[]).concat(statement.Action as string | string[]);
  const keys = Object.values((statement.Condition ?? {}) as Conditions).flatMap((k) => Object.keys(k));
  for (const action of actions) {
    const entry = authorization.actions[action];
    if (!entry) {
      problems.push(`${statement.Sid}: ${action} is not in authorization.json`);
      continue;
    }
    const supported = [
      ...entry.conditionKeys,
      ...entry.resourceTypes.flatMap((t) => authorization.resourceTypes[t]!.conditionKeys),
    ];
    for (const key of keys) {
      const global = key.startsWith('aws:') && !TAG_KEYS.test(key);
      if (!global && !supported.some((s) => keyPattern(s).test(key))) {
        problems.push(`${statement.Sid}: ${action} does not support ${key}`);
      }
    }
  }
  return problems;
}

const iamVariants: [string, OperatorIamPolicyOptions][] = [
  ['default', {}],
  ['--cluster-id', { clusterId: 'prod-eu' }],
  [
    'narrowed',
    { clusterId: 'prod-eu', passRoleResources: ['arn:aws:iam::1:role/x'], jobKeyResources: ['k'] },
  ],
  ['cn-north-1', { partition: partitionOfRegion('cn-north-1') }],
  ['us-gov-west-1', { partition: partitionOfRegion('us-gov-west-1') }],
];
const app = 'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/00fabc123';

describe('the printed policies use only actions and condition keys AWS supports for them', () => {
  it('every action the reference data lists has its resource types described', () => {
    for (const [action, entry] of Object.entries(authorization.actions)) {
      for (const type of entry.resourceTypes) expect(authorization.resourceTypes[type], action).toBeDefined();
    }
  });

  it.each(iamVariants)('the operator IAM policy (%s)', (_name, options) => {
    const statements = operatorIamPolicy(options).Statement;
    expect(statements.flatMap(unsupported)).toEqual([]);
  });

  it('the key policy statements, with every option', () => {
    const statements = keyPolicyStatements({
      applicationArn: app,
      encryptionContext: { project: 'analytics' },
      runtimeRoleArn: 'arn:aws:iam::111122223333:role/job',
      operatorRoleArn: 'arn:aws:iam::999999999999:role/operator',
      jobLevelKey: true,
    });
    expect(statements.map((s) => s.Sid)).toEqual([
      'AllowEmrServerlessDiskEncryption',
      'AllowJobRuntimeRole',
      'AllowOperatorToVerifyKey',
      'AllowOperatorToSubmitJobRunsWithKey',
    ]);
    expect(statements.flatMap(unsupported)).toEqual([]);
  });

  it('the check catches a key an action does not support', () => {
    expect(
      unsupported({
        Sid: 'Bad',
        Action: ['emr-serverless:CreateApplication', 'kms:DescribeKey', 'ec2:RunInstances'],
        Condition: {
          Null: { [`aws:ResourceTag/${OWNER_UID_TAG}`]: 'true' },
          StringEquals: { 'kms:EncryptionContext:a': 'b', 'aws:SourceAccount': '1' },
        },
      }),
    ).toEqual([
      `Bad: emr-serverless:CreateApplication does not support aws:ResourceTag/${OWNER_UID_TAG}`,
      'Bad: emr-serverless:CreateApplication does not support kms:EncryptionContext:a',
      'Bad: kms:DescribeKey does not support kms:EncryptionContext:a',
      'Bad: ec2:RunInstances is not in authorization.json',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('partitions', () => {
  it.each([
    ['eu-west-1', 'aws', 'amazonaws.com'],
    ['cn-north-1', 'aws-cn', 'amazonaws.com.cn'],
    ['us-gov-west-1', 'aws-us-gov', 'amazonaws.com'],
  ])('key-policy --operator-iam-policy --region %s prints arn:%s: and %s', async (region, name, domain) => {
    const out = await runCommand('key-policy', [
      '--operator-iam-policy',
      '--region',
      region,
      '--role-path',
      '/teams/',
    ]);
    expect(out.code, out.stderr).toBe(0);
    const policy = JSON.parse(out.stdout) as { Statement: Statement[] };
    const bySid = Object.fromEntries(policy.Statement.map((s) => [s.Sid as string, s]));
    expect(bySid.VerifyDiskEncryptionKeys!.Resource).toBe(`arn:${name}:kms:*:*:key/*`);
    expect(bySid.PassJobExecutionRoles).toMatchObject({
      Resource: [`arn:${name}:iam::*:role/teams/*`],
      Condition: { StringEquals: { 'iam:PassedToService': `emr-serverless.${domain}` } },
    });
    expect(bySid.UseJobLevelDiskEncryptionKeys).toMatchObject({
      Action: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: `arn:${name}:kms:*:*:key/*`,
      Condition: { StringLike: { 'kms:ViaService': `emr-serverless.*.${domain}` } },
    });
    const text = JSON.stringify(policy);
    if (name !== 'aws') expect(text).not.toContain('arn:aws:');
  });

  it.each([
    ['cn-north-1', 'aws-cn', 'amazonaws.com.cn'],
    ['us-gov-west-1', 'aws-us-gov', 'amazonaws.com'],
  ])('the key policy of an application in %s names the service of its partition', (region, name, domain) => {
    const arn = `arn:${name}:emr-serverless:${region}:111122223333:/applications/00fabc123`;
    const statements = keyPolicyStatements({
      applicationArn: arn,
      operatorRoleArn: `arn:${name}:iam::999999999999:role/operator`,
      jobLevelKey: true,
    });
    expect(statements[0]).toMatchObject({
      Principal: { Service: `emr-serverless.${domain}` },
      Condition: { ArnLike: { 'aws:SourceArn': arn } },
    });
    expect(statements[2]).toMatchObject({
      Sid: 'AllowOperatorToSubmitJobRunsWithKey',
      Condition: { StringEquals: { 'kms:ViaService': `emr-serverless.${region}.${domain}` } },
    });
  });

  it('refuses an application ARN whose region is not in its partition, or an unknown partition', () => {
    expect(() =>
      keyPolicyStatements({
        applicationArn: 'arn:aws:emr-serverless:cn-north-1:111122223333:/applications/a',
      }),
    ).toThrow(/not in partition aws/);
    expect(() =>
      keyPolicyStatements({
        applicationArn: 'arn:aws-xx:emr-serverless:eu-west-1:111122223333:/applications/a',
      }),
    ).toThrow(/--application-arn must look like/);
  });

  it('notes roles and keys of another partition than the region', async () => {
    const out = await runCommand('key-policy', [
      '--operator-iam-policy',
      '--region',
      'cn-north-1',
      '--pass-role-arn',
      'arn:aws:iam::111122223333:role/job',
    ]);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('not in partition aws-cn (--region cn-north-1)');
  });
});

describe('key-policy --job-level-key', () => {
  it('prints the submitter statement in the key policy, and the IAM statement on stderr', async () => {
    const out = await runCommand('key-policy', [
      '--application-arn',
      app,
      '--operator-role-arn',
      'arn:aws:iam::999999999999:role/operator',
      '--job-level-key',
      '--key-arn',
      'arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ]);
    expect(out.code, out.stderr).toBe(0);
    const statements = (JSON.parse(out.stdout) as { Statement: Statement[] }).Statement;
    expect(statements.at(-1)).toEqual({
      Sid: 'AllowOperatorToSubmitJobRunsWithKey',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::999999999999:role/operator' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 'emr-serverless.eu-west-1.amazonaws.com' } },
    });
    const iam = JSON.parse(out.stderr.slice(out.stderr.indexOf('{'))) as Statement;
    expect(iam).toEqual({
      Sid: 'UseJobLevelDiskEncryptionKeys',
      Effect: 'Allow',
      Action: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: 'arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      Condition: { StringEquals: { 'kms:ViaService': 'emr-serverless.eu-west-1.amazonaws.com' } },
    });
    expect(unsupported(iam)).toEqual([]);
  });

  it.each([
    [['--application-arn', app, '--job-level-key'], /--job-level-key needs --operator-role-arn/],
    [
      ['--application-arn', app, '--key-arn', 'arn:aws:kms:eu-west-1:1:key/x'],
      /only goes with --job-level-key/,
    ],
    [['--application-arn', app, '--region', 'eu-west-1'], /--region only goes with --operator-iam-policy/],
    [['--operator-iam-policy', '--job-level-key'], /does not go with --operator-iam-policy/],
    [['--operator-iam-policy', '--region', 'nowhere'], /--region must be a region name/],
  ])('refuses %j', async (args, reason) => {
    const out = await runCommand('key-policy', args);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(reason);
  });
});
