import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { API_VERSION } from '../../src/api/constants.js';
import {
  ANY_KEY,
  ANY_ROLE,
  JOB_SUBMISSION_ACTIONS,
  jobSubmissionResources,
  keyPolicyStatements,
  OPERATOR_ACTIONS,
  operatorIamPolicy,
  unionOfPatterns,
} from '../../src/aws/policies.js';
import { keyPolicyCommand } from '../../src/cli/key-policy.js';
import { AWS_WRITE_OPERATIONS } from '../../src/emulator/control-client.js';
import { runCommand } from '../support/cli.js';

describe('the operator IAM policy', () => {
  it('allows every AWS operation the port calls, and nothing it never calls', () => {
    const source = readFileSync(new URL('../../src/aws/sdk-port.ts', import.meta.url), 'utf8');
    const called = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]));
    const kmsOps = new Set(['DescribeKey', 'GetKeyPolicy']);
    const needed = [...called].map((op) => (kmsOps.has(op!) ? `kms:${op}` : `emr-serverless:${op}`));
    const allowed = operatorIamPolicy().Statement.flatMap((s) => s.Action as string[]);
    for (const action of needed) expect(allowed).toContain(action);
    // ListTagsForResource is allowed for troubleshooting with the same role; the job submission
    // actions are used by the service on the submitter's behalf; all others are called.
    const unused = [...new Set(allowed.filter((a) => !needed.includes(a)))];
    expect(unused).toEqual([
      'emr-serverless:ListTagsForResource',
      'iam:PassRole',
      'kms:GenerateDataKey',
      'kms:Decrypt',
    ]);
    expect(OPERATOR_ACTIONS.kms).toEqual(['kms:DescribeKey', 'kms:GetKeyPolicy']);
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
        'TagNewOrUnclaimedResources',
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
      // CreateApplication alone: a TagResource here would also allow claims (see the claim table
      // in iam-authorization.test.ts).
      expect(create.Action).toEqual(['emr-serverless:CreateApplication']);
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
      if (clusterId) {
        expect(writing[3]!.Condition).toMatchObject({
          StringEqualsIfExists: { 'aws:ResourceTag/emrserverless.operator.dev/cluster': clusterId },
        });
      }
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

describe('key-policy --operator-iam-policy narrows the job submission statements', () => {
  const fixtures = fileURLToPath(new URL('../fixtures/policies/', import.meta.url));
  const teamA = join(fixtures, 'team-a.yaml');
  const teamB = join(fixtures, 'team-b.yaml');
  const roleA = 'arn:aws:iam::111111111111:role/emr/team-a/*';
  const roleB = 'arn:aws:iam::222222222222:role/emr-job-runtime';
  const keyA = 'arn:aws:kms:eu-west-1:111111111111:key/*';
  const keyB = 'arn:aws:kms:eu-central-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'key-policy-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A YAML file of EmrServerlessPolicy objects (name -> spec) in the temporary directory. */
  function policyFile(file: string, specs: Record<string, unknown>): string {
    const path = join(dir, file);
    const documents = Object.entries(specs).map(([name, spec]) =>
      stringify({ apiVersion: API_VERSION, kind: 'EmrServerlessPolicy', metadata: { name }, spec }),
    );
    writeFileSync(path, documents.join('---\n'));
    return path;
  }

  async function print(args: string[]) {
    const out = await runCommand('key-policy', ['--operator-iam-policy', ...args]);
    expect(out.code, out.stderr).toBe(0);
    const policy = JSON.parse(out.stdout) as ReturnType<typeof operatorIamPolicy>;
    const bySid = Object.fromEntries(policy.Statement.map((s) => [s.Sid as string, s]));
    return { policy, bySid, notes: out.stderr };
  }

  /** Every statement but the two job submission ones, as without flags. */
  function expectOthersUnchanged(policy: ReturnType<typeof operatorIamPolicy>) {
    const others = (p: ReturnType<typeof operatorIamPolicy>) =>
      p.Statement.filter(
        (s) => !['PassJobExecutionRoles', 'UseJobLevelDiskEncryptionKeys'].includes(s.Sid as string),
      );
    expect(others(policy)).toEqual(others(operatorIamPolicy()));
  }

  it('prints the wide default without flags, and no note', async () => {
    const { policy, bySid, notes } = await print([]);
    expect(policy).toEqual(operatorIamPolicy());
    expect(bySid.PassJobExecutionRoles!.Resource).toBe(ANY_ROLE);
    expect(bySid.UseJobLevelDiskEncryptionKeys!.Resource).toBe(ANY_KEY);
    expect(notes).toBe('');
  });

  it("narrows PassRole and the job-level keys to one policy's lists", async () => {
    const { policy, bySid, notes } = await print(['--policies', teamA]);
    // The policy's spark-job role is under team-a/*, so only the pattern is printed.
    expect(bySid.PassJobExecutionRoles).toEqual({
      Sid: 'PassJobExecutionRoles',
      Effect: 'Allow',
      Action: ['iam:PassRole'],
      Resource: [roleA],
      Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
    });
    expect(bySid.UseJobLevelDiskEncryptionKeys).toEqual({
      Sid: 'UseJobLevelDiskEncryptionKeys',
      Effect: 'Allow',
      Action: ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: [keyA],
      Condition: { StringLike: { 'kms:ViaService': 'emr-serverless.*.amazonaws.com' } },
    });
    expectOthersUnchanged(policy);
    expect(notes).toBe('');
  });

  it('prints for the fixtures the two statements docs/aws-permissions.md shows', async () => {
    const docs = readFileSync(new URL('../../docs/aws-permissions.md', import.meta.url), 'utf8');
    const narrowing = docs.slice(docs.indexOf("### Narrowing iam:PassRole to the policies' roles"));
    const shown = JSON.parse(/```json\n([\s\S]*?)```/.exec(narrowing)![1]!);
    const { bySid } = await print(['--policies', fixtures]);
    expect(shown).toEqual([bySid.PassJobExecutionRoles, bySid.UseJobLevelDiskEncryptionKeys]);
  });

  it('takes the union over two policy files, or over a directory of them', async () => {
    const twoFiles = await print(['--policies', teamA, '--policies', teamB]);
    expect(twoFiles.bySid.PassJobExecutionRoles!.Resource).toEqual([roleA, roleB]);
    expect(twoFiles.bySid.UseJobLevelDiskEncryptionKeys!.Resource).toEqual([keyA, keyB]);
    expectOthersUnchanged(twoFiles.policy);
    const directory = await print(['--policies', fixtures, '--cluster-id', 'prod-eu']);
    expect(directory.policy).toEqual(
      operatorIamPolicy({
        clusterId: 'prod-eu',
        passRoleResources: [roleA, roleB],
        jobKeyResources: [keyA, keyB],
      }),
    );
  });

  it('reads a List as kubectl get -o yaml prints it, and skips other kinds', async () => {
    const list = join(dir, 'list.yaml');
    writeFileSync(
      list,
      stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: {} },
          {
            apiVersion: API_VERSION,
            kind: 'EmrServerlessPolicy',
            metadata: { name: 'listed' },
            spec: { namespaces: ['a'], jobRuns: { allowedExecutionRoleArns: [roleB] } },
          },
        ],
      }),
    );
    const { bySid, notes } = await print(['--policies', list]);
    expect(bySid.PassJobExecutionRoles!.Resource).toEqual([roleB]);
    expect(bySid.UseJobLevelDiskEncryptionKeys!.Resource).toBe(ANY_KEY);
    expect(notes).toMatch(/^note: EmrServerlessPolicy "listed" .* sets no encryption.allowedKeyArns/m);
  });

  it('keeps the wide PassRole Resource, with a note naming it, for a policy without allowedExecutionRoleArns', async () => {
    const open = policyFile('open.yaml', {
      'no-roles': { namespaces: ['c'], encryption: { allowedKeyArns: [keyB] } },
    });
    const { policy, bySid, notes } = await print([
      '--policies',
      teamA,
      '--policies',
      open,
      '--pass-role-arn',
      roleB,
    ]);
    expect(bySid.PassJobExecutionRoles!.Resource).toBe(ANY_ROLE);
    expect(bySid.UseJobLevelDiskEncryptionKeys!.Resource).toEqual([keyA, keyB]);
    expectOthersUnchanged(policy);
    expect(notes).toContain(
      `note: EmrServerlessPolicy "no-roles" (${open}) sets no jobRuns.allowedExecutionRoleArns (any role): PassJobExecutionRoles keeps Resource ${ANY_ROLE}`,
    );
    expect(notes).not.toContain('team-a');
  });

  it('leaves the job-level key statement out when every policy forbids job-level keys', async () => {
    const forbidden = policyFile('forbidden.yaml', {
      one: {
        namespaces: ['a'],
        encryption: { jobRunKeyOverride: 'Forbidden' },
        jobRuns: { allowedExecutionRoleArns: [roleA] },
      },
      two: {
        namespaces: ['b'],
        encryption: { jobRunKeyOverride: 'Forbidden' },
        jobRuns: { allowedExecutionRoleArns: [roleB] },
      },
    });
    const { policy, bySid, notes } = await print(['--policies', forbidden]);
    expect(bySid.UseJobLevelDiskEncryptionKeys).toBeUndefined();
    expect(bySid.PassJobExecutionRoles!.Resource).toEqual([roleA, roleB]);
    expectOthersUnchanged(policy);
    expect(notes).toMatch(/jobRunKeyOverride: Forbidden: UseJobLevelDiskEncryptionKeys is left out/);
  });

  it('a policy forbidding job-level keys does not widen them by leaving allowedKeyArns absent', () => {
    const { options, notes } = jobSubmissionResources({
      policies: [
        { name: 'forbids', spec: { namespaces: ['a'], encryption: { jobRunKeyOverride: 'Forbidden' } } },
        { name: 'lists', spec: { namespaces: ['b'], encryption: { allowedKeyArns: [keyA] } } },
      ],
    });
    expect(options.jobKeyResources).toEqual([keyA]);
    expect(options.passRoleResources).toBeUndefined();
    expect(notes).toEqual([
      expect.stringMatching(/"forbids", "lists" sets no jobRuns.allowedExecutionRoleArns/),
    ]);
  });

  it('leaves PassRole out, with a note, when the policies allow no role at all', () => {
    const { options, notes } = jobSubmissionResources({
      policies: [{ name: 'none', spec: { namespaces: ['a'], jobRuns: { allowedExecutionRoleArns: [] } } }],
    });
    expect(options.passRoleResources).toEqual([]);
    expect(operatorIamPolicy(options).Statement.map((s) => s.Sid)).not.toContain('PassJobExecutionRoles');
    expect(notes.join('\n')).toMatch(/PassJobExecutionRoles is left out/);
  });

  it('--role-path allows the roles under the path', async () => {
    const { policy, bySid, notes } = await print(['--role-path', '/teams/analytics/']);
    expect(bySid.PassJobExecutionRoles!.Resource).toEqual(['arn:aws:iam::*:role/teams/analytics/*']);
    // Keys are narrowed by policies only.
    expect(bySid.UseJobLevelDiskEncryptionKeys!.Resource).toBe(ANY_KEY);
    expectOthersUnchanged(policy);
    expect(notes).toBe('');
  });

  it('--pass-role-arn repeated, with --role-path and --policies, allows their union', async () => {
    const { bySid } = await print([
      '--pass-role-arn',
      'arn:aws:iam::333333333333:role/etl',
      '--pass-role-arn',
      'arn:aws:iam::333333333333:role/ml-*',
      '--pass-role-arn',
      'arn:aws:iam::333333333333:role/ml-training',
      '--role-path',
      '/shared/',
      '--policies',
      teamB,
    ]);
    expect(bySid.PassJobExecutionRoles!.Resource).toEqual([
      roleB,
      'arn:aws:iam::333333333333:role/etl',
      'arn:aws:iam::333333333333:role/ml-*',
      'arn:aws:iam::*:role/shared/*',
    ]);
    expect(bySid.UseJobLevelDiskEncryptionKeys!.Resource).toEqual([keyB]);
  });

  it('refuses an invalid policy file, naming the file and the policy, exit status 2', async () => {
    const invalid = policyFile('invalid.yaml', {
      fine: { namespaces: ['a'] },
      broken: { jobRuns: { allowedExecutionRoleArns: 'arn:aws:iam::111111111111:role/x' } },
    });
    const out = await runCommand('key-policy', [
      '--operator-iam-policy',
      '--policies',
      teamA,
      '--policies',
      invalid,
    ]);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^error: /);
    expect(out.stderr).toContain(
      `${invalid}: EmrServerlessPolicy "broken" is invalid: spec.jobRuns.allowedExecutionRoleArns: `,
    );
  });

  it.each([
    ['a missing file', () => join(dir, 'missing.yaml'), /missing\.yaml: ENOENT/],
    [
      'YAML that does not parse',
      () => {
        writeFileSync(join(dir, 'bad.yaml'), 'kind: [EmrServerlessPolicy\n');
        return join(dir, 'bad.yaml');
      },
      /bad\.yaml: not valid YAML/,
    ],
    [
      'no policy at all',
      () => {
        writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
        return join(dir, 'cm.yaml');
      },
      /no EmrServerlessPolicy/,
    ],
    [
      'a role pattern with ?',
      () =>
        policyFile('question.yaml', {
          q: { namespaces: ['a'], jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::1:role/job-?'] } },
        }),
      /EmrServerlessPolicy "q" \(.*question\.yaml\) jobRuns\.allowedExecutionRoleArns: arn:aws:iam::1:role\/job-\? contains "\?", which IAM reads as a wildcard/,
    ],
  ])('refuses %s with exit status 2', async (_, file, reason) => {
    const out = await runCommand('key-policy', ['--operator-iam-policy', '--policies', file()]);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(reason);
  });

  it.each([
    [['--role-path', 'teams'], /--role-path must be \/ or start and end with \//],
    [['--role-path', '/teams'], /--role-path must be/],
    [['--role-path', '/te?ms/'], /contains "\?"/],
    [['--pass-role-arn', 'arn:aws:iam::111111111111:role/job?'], /--pass-role-arn .* contains "\?"/],
    [['--pass-role-arn', 'role/job'], /is not an ARN/],
    [['--pass-role-arn', `arn:aws:iam::\${aws:PrincipalAccount}:role/x`], /policy variable/],
  ])('refuses %j with the reason and the usage, exit status 2', async (args, reason) => {
    const out = await runCommand('key-policy', ['--operator-iam-policy', ...args]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(reason);
    expect(out.stderr).toContain('Usage: emr-serverless-operator key-policy');
    expect(out.stdout).toBe('');
  });

  it.each(['--policies', '--pass-role-arn', '--role-path'])(
    'refuses %s without --operator-iam-policy',
    async (flag) => {
      const out = await runCommand('key-policy', [
        '--application-arn',
        'arn:aws:emr-serverless:eu-west-1:111122223333:/applications/*',
        flag,
        '/x/',
      ]);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(`${flag} only goes with --operator-iam-policy`);
    },
  );

  it('keeps one of the patterns that cover each other', () => {
    expect(
      unionOfPatterns([
        'arn:aws:iam::1:role/a/b',
        'arn:aws:iam::1:role/a/*',
        'arn:aws:iam::1:role/a/**',
        'arn:aws:iam::1:role/c',
        'arn:aws:iam::1:role/a/b',
        '*',
      ]),
    ).toEqual(['*']);
    expect(
      unionOfPatterns(['arn:aws:iam::1:role/a/b', 'arn:aws:iam::1:role/a/*', 'arn:aws:iam::1:role/a/**']),
    ).toEqual(['arn:aws:iam::1:role/a/*']);
    expect(unionOfPatterns(['arn:aws:iam::1:role/a*c', 'arn:aws:iam::1:role/ab*'])).toEqual([
      'arn:aws:iam::1:role/a*c',
      'arn:aws:iam::1:role/ab*',
    ]);
  });
});
