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
  --operator-iam-policy         print instead the IAM policy for the operator's own role`;

export async function keyPolicyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'application-arn': { type: 'string' },
      'encryption-context': { type: 'string', multiple: true },
      'runtime-role-arn': { type: 'string' },
      'operator-role-arn': { type: 'string' },
      'operator-iam-policy': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values['operator-iam-policy']) {
    console.log(JSON.stringify(operatorIamPolicy(), null, 2));
    return 0;
  }
  if (!values['application-arn']) {
    console.error(`--application-arn is required\n\n${usage}`);
    return 2;
  }
  const context: Record<string, string> = {};
  for (const pair of values['encryption-context'] ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) {
      console.error(`--encryption-context takes key=value, got ${pair}`);
      return 2;
    }
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const statements = keyPolicyStatements({
    applicationArn: values['application-arn'],
    encryptionContext: context,
    runtimeRoleArn: values['runtime-role-arn'],
    operatorRoleArn: values['operator-role-arn'],
  });
  console.log(JSON.stringify({ Statement: statements }, null, 2));
  return 0;
}
