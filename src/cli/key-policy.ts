import { parseArgs } from 'node:util';
import { keyPolicyStatements, operatorIamPolicy } from '../aws/policies.js';

const usage = `Usage: emr-serverless-operator key-policy --application-arn ARN [flags]

Prints the KMS key policy statements an EMR Serverless application needs to encrypt its
workers' disks with a customer-managed key. Add them to the key policy's Statement list.

Flags:
  --application-arn ARN         the application (or arn:aws:emr-serverless:REGION:ACCOUNT:/applications/*)
  --encryption-context k=v      the application's encryption context (repeatable); adds a condition
  --runtime-role-arn ARN        also allow the job runtime role to use the key
  --operator-role-arn ARN       also allow the operator's role to DescribeKey (cross-account keys)
  --operator-iam-policy         print instead the IAM policy for the operator's own role
  --cluster-id ID               with --operator-iam-policy: allow writes only to applications
                                tagged with this cluster (the operator's run --cluster-id)
  -h, --help                    show this help

Exit status: 0, or 2 for invalid flags.`;

const options = {
  'application-arn': { type: 'string' },
  'encryption-context': { type: 'string', multiple: true },
  'runtime-role-arn': { type: 'string' },
  'operator-role-arn': { type: 'string' },
  'operator-iam-policy': { type: 'boolean' },
  'cluster-id': { type: 'string' },
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
    const clusterId = values['cluster-id'];
    console.log(JSON.stringify(operatorIamPolicy(clusterId ? { clusterId } : {}), null, 2));
    return 0;
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
    });
  } catch (error) {
    // keyPolicyStatements only throws for input it cannot use, such as a malformed ARN.
    return refuse((error as Error).message);
  }
  console.log(JSON.stringify({ Statement: statements }, null, 2));
  return 0;
}
