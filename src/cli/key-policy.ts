import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { GROUP, POLICY_KIND } from '../api/constants.js';
import { PolicySpec } from '../api/policy-schema.js';
import {
  iamResourceProblem,
  jobLevelKeyIamStatement,
  jobSubmissionResources,
  keyPolicyStatements,
  operatorIamPolicy,
  type PolicyFromFile,
  partitionOfArn,
  partitionOfRegion,
  rolePathPattern,
} from '../aws/policies.js';

const usage = `Usage: emr-serverless-operator key-policy --application-arn ARN [flags]

Prints the KMS key policy statements an EMR Serverless application needs to encrypt its
workers' disks with a customer-managed key. Add them to the key policy's Statement list.

Flags:
  --application-arn ARN         the application (or arn:aws:emr-serverless:REGION:ACCOUNT:/applications/*);
                                its partition and region name the service principal (aws-cn: .amazonaws.com.cn)
  --encryption-context k=v      the application's encryption context (repeatable); adds a condition
  --runtime-role-arn ARN        also allow the job runtime role to use the key
  --operator-role-arn ARN       also allow the operator's role to DescribeKey (cross-account keys)
  --job-level-key               with --operator-role-arn: job runs name this key themselves, so also
                                allow the operator's role (their submitter) GenerateDataKey and
                                Decrypt through EMR Serverless; the statement its own IAM policy
                                needs goes to stderr
  --key-arn ARN                 with --job-level-key: the key, named in that IAM statement
  --operator-iam-policy         print instead the IAM policy for the operator's own role
  --region REGION               with --operator-iam-policy: the region the operator runs in; its
                                partition (cn-*: aws-cn, us-gov-*: aws-us-gov) names the ARNs and
                                service names (default: the aws partition)
  --cluster-id ID               with --operator-iam-policy: allow writes only to applications
                                tagged with this cluster (the operator's run --cluster-id)
  --policies PATH               with --operator-iam-policy: allow iam:PassRole only on the roles
                                (and the job-level KMS actions only on the keys) that these
                                EmrServerlessPolicy objects allow; a YAML file or a directory of
                                them (repeatable)
  --pass-role-arn ARN           with --operator-iam-policy: allow iam:PassRole on this role ARN
                                or pattern (* as in IAM) (repeatable)
  --role-path /PATH/            with --operator-iam-policy: allow iam:PassRole on the roles under
                                this IAM path (repeatable)
  --key-usage                   with --operator-iam-policy: also allow cloudtrail:LookupEvents, for
                                the key-usage command (optional)
  -h, --help                    show this help

The narrowing flags add up: iam:PassRole is allowed on the union of what they name. Notes on
what stays wide, or is left out, go to stderr.

Exit status: 0, or 2 for invalid flags or an invalid policy file.`;

const options = {
  'application-arn': { type: 'string' },
  'encryption-context': { type: 'string', multiple: true },
  'runtime-role-arn': { type: 'string' },
  'operator-role-arn': { type: 'string' },
  'job-level-key': { type: 'boolean' },
  'key-arn': { type: 'string' },
  'operator-iam-policy': { type: 'boolean' },
  region: { type: 'string' },
  'cluster-id': { type: 'string' },
  policies: { type: 'string', multiple: true },
  'pass-role-arn': { type: 'string', multiple: true },
  'role-path': { type: 'string', multiple: true },
  'key-usage': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Invalid input: the reason and the usage on stderr, exit status 2 (as `run` and `emulator`). */
function refuse(message: string): number {
  console.error(`error: ${message}\n\n${usage}`);
  return 2;
}

export async function keyPolicyCommand(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>['values'];
  try {
    ({ values } = parseArgs({ args, options }));
  } catch (error) {
    // An unknown flag, a missing value or a stray argument.
    return refuse((error as Error).message);
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values['operator-iam-policy']) {
    for (const flag of ['job-level-key', 'key-arn'] as const) {
      if (values[flag] !== undefined) return refuse(`--${flag} does not go with --operator-iam-policy`);
    }
    return operatorIamPolicyCommand(values);
  }
  for (const flag of ['policies', 'pass-role-arn', 'role-path', 'region', 'key-usage'] as const) {
    if (values[flag] !== undefined) return refuse(`--${flag} only goes with --operator-iam-policy`);
  }
  if (values['key-arn'] !== undefined && !values['job-level-key']) {
    return refuse('--key-arn only goes with --job-level-key');
  }
  if (!values['application-arn']) {
    return refuse('--application-arn is required');
  }
  const context: Record<string, string> = {};
  for (const pair of values['encryption-context'] ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) {
      return refuse(`--encryption-context takes key=value, got ${pair}`);
    }
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  let statements: ReturnType<typeof keyPolicyStatements>;
  try {
    statements = keyPolicyStatements({
      applicationArn: values['application-arn'],
      encryptionContext: context,
      runtimeRoleArn: values['runtime-role-arn'],
      operatorRoleArn: values['operator-role-arn'],
      jobLevelKey: values['job-level-key'] ?? false,
    });
  } catch (error) {
    // keyPolicyStatements only throws for input it cannot use, such as a malformed ARN.
    return refuse((error as Error).message);
  }
  if (values['job-level-key']) {
    // The other half: a cross-account use needs the caller's IAM policy to allow it too.
    const applicationArn = values['application-arn'];
    const partition = partitionOfArn(applicationArn)!;
    const region = applicationArn.split(':')[3]!;
    const keyArn = values['key-arn'] ?? `arn:${partition.name}:kms:${region}:KEY_ACCOUNT:key/KEY_ID`;
    if (values['key-arn'] !== undefined && !KEY_ARN.test(keyArn)) {
      return refuse(
        `--key-arn must be a KMS key ARN (arn:${partition.name}:kms:${region}:ACCOUNT:key/ID), got ${keyArn}`,
      );
    }
    if (partitionOfArn(keyArn)?.name !== partition.name) {
      return refuse(`--key-arn ${keyArn} is not in the application's partition (${partition.name})`);
    }
    const iam = jobLevelKeyIamStatement(keyArn, partition, region);
    console.error(
      `note: the operator's role's IAM policy must allow the job-level key too (key-policy --operator-iam-policy does, in UseJobLevelDiskEncryptionKeys, unless --policies narrows it to other keys):\n${JSON.stringify(iam, null, 2)}`,
    );
  }
  console.log(JSON.stringify({ Statement: statements }, null, 2));
  return 0;
}

const KEY_ARN = /^arn:[a-z0-9-]+:kms:[a-z0-9-]+:[0-9]{12}:key\/[a-zA-Z0-9-]+$/;

/** A managed policy holds at most this many characters, whitespace aside. */
const MANAGED_POLICY_LIMIT = 6144;

async function operatorIamPolicyCommand(values: {
  region?: string;
  'cluster-id'?: string;
  policies?: string[];
  'pass-role-arn'?: string[];
  'role-path'?: string[];
  'key-usage'?: boolean;
}): Promise<number> {
  const passRoleArns = values['pass-role-arn'] ?? [];
  const rolePaths = values['role-path'] ?? [];
  const region = values.region;
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region)) {
    return refuse(`--region must be a region name such as eu-west-1 or cn-north-1, got ${region}`);
  }
  const partition = partitionOfRegion(region ?? 'us-east-1');
  for (const arn of passRoleArns) {
    const problem = iamResourceProblem(arn);
    if (problem) return refuse(`--pass-role-arn ${arn} ${problem}`);
  }
  for (const path of rolePaths) {
    try {
      rolePathPattern(path, partition);
    } catch (error) {
      return refuse((error as Error).message);
    }
  }
  let narrowed: ReturnType<typeof jobSubmissionResources>;
  try {
    const policies = values.policies ? await readPolicies(values.policies) : undefined;
    narrowed = jobSubmissionResources({ policies, passRoleArns, rolePaths, partition });
  } catch (error) {
    // A file that cannot be read, or a policy that is invalid or cannot be written as IAM.
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  const clusterId = values['cluster-id'];
  const policy = operatorIamPolicy({
    ...(clusterId && { clusterId }),
    ...(region !== undefined && { partition }),
    ...narrowed.options,
    ...(values['key-usage'] && { keyUsage: true }),
  });
  // A role or key of another partition can never be passed or used from this one.
  const foreign = [
    ...(narrowed.options.passRoleResources ?? []),
    ...(narrowed.options.jobKeyResources ?? []),
  ].filter((arn) => arn !== '*' && partitionOfArn(arn)?.name !== partition.name);
  if (foreign.length > 0) {
    narrowed.notes.push(
      `not in partition ${partition.name} (${region ? `--region ${region}` : 'the default; set --region'}), so IAM never matches them: ${foreign.join(', ')}`,
    );
  }
  const size = JSON.stringify(policy).length;
  if (size > MANAGED_POLICY_LIMIT) {
    narrowed.notes.push(
      `the policy is ${size} characters, more than the ${MANAGED_POLICY_LIMIT} of a managed policy: attach it inline (up to 10240), or use broader patterns or --role-path`,
    );
  }
  for (const note of narrowed.notes) console.error(`note: ${note}`);
  console.log(JSON.stringify(policy, null, 2));
  return 0;
}

/**
 * The EmrServerlessPolicy objects in these YAML files, or in the .yaml/.yml/.json files of these
 * directories (not their subdirectories). Documents may be several to a file, or a List (as
 * `kubectl get -o yaml` prints); other kinds are skipped. Throws, naming the file, for unreadable
 * YAML, an invalid policy, or no policy at all.
 */
export async function readPolicies(paths: readonly string[]): Promise<PolicyFromFile[]> {
  const files: string[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch (error) {
      throw new Error(`--policies ${path}: ${(error as Error).message}`);
    }
    if (!isDirectory) files.push(path);
    else {
      const names = (await readdir(path)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
      files.push(...names.map((n) => join(path, n)));
    }
  }
  const policies: PolicyFromFile[] = [];
  for (const file of files) {
    for (const document of parseAllDocuments(await readFile(file, 'utf8'))) {
      const error = document.errors[0];
      if (error) throw new Error(`${file}: not valid YAML: ${error.message}`);
      const content: unknown = document.toJS();
      const objects =
        isObject(content) && Array.isArray(content.items) && /List$/.test(String(content.kind))
          ? (content.items as unknown[])
          : [content];
      for (const object of objects) {
        if (!isObject(object) || object.kind !== POLICY_KIND) continue;
        if (!String(object.apiVersion).startsWith(`${GROUP}/`)) continue;
        const name = isObject(object.metadata) ? object.metadata.name : undefined;
        if (typeof name !== 'string' || name === '') {
          throw new Error(`${file}: an ${POLICY_KIND} without metadata.name`);
        }
        const parsed = PolicySpec.safeParse(object.spec);
        if (!parsed.success) {
          const problems = parsed.error.issues
            .map((i) => `spec${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`)
            .join('; ');
          throw new Error(`${file}: ${POLICY_KIND} "${name}" is invalid: ${problems}`);
        }
        policies.push({ name, spec: parsed.data, file });
      }
    }
  }
  if (policies.length === 0) {
    throw new Error(`--policies: no ${POLICY_KIND} (${GROUP}) in ${paths.join(', ')}`);
  }
  return policies;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
