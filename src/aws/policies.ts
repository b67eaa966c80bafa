// The AWS permissions the operator and its applications need, as data: printed by the CLI,
// shipped in docs, and checked by tests against what the code calls.

/** Every EMR Serverless action the operator's port calls, and KMS DescribeKey to verify keys. */
export const OPERATOR_ACTIONS = {
  emrServerless: [
    'emr-serverless:CreateApplication',
    'emr-serverless:GetApplication',
    'emr-serverless:UpdateApplication',
    'emr-serverless:DeleteApplication',
    'emr-serverless:ListApplications',
    'emr-serverless:StartApplication',
    'emr-serverless:StopApplication',
    'emr-serverless:ListJobRuns',
    'emr-serverless:TagResource',
    'emr-serverless:UntagResource',
    'emr-serverless:ListTagsForResource',
  ],
  kms: ['kms:DescribeKey'],
} as const;

type Statement = Record<string, unknown>;

/** The IAM policy for the operator's role (IRSA or EKS Pod Identity). */
export function operatorIamPolicy(): { Version: string; Statement: Statement[] } {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ManageEmrServerlessApplications',
        Effect: 'Allow',
        Action: [...OPERATOR_ACTIONS.emrServerless],
        Resource: '*',
      },
      {
        Sid: 'VerifyDiskEncryptionKeys',
        Effect: 'Allow',
        Action: [...OPERATOR_ACTIONS.kms],
        Resource: 'arn:aws:kms:*:*:key/*',
      },
    ],
  };
}

export interface KeyPolicyOptions {
  /** The application's ARN, or a pattern such as arn:aws:emr-serverless:REGION:ACCOUNT:/applications/* before it exists. */
  applicationArn: string;
  encryptionContext?: Record<string, string>;
  /** The job runtime role, which needs the key too. */
  runtimeRoleArn?: string;
  /** The operator's role, so DescribeKey verification works for keys in other accounts. */
  operatorRoleArn?: string;
}

const APPLICATION_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):emr-serverless:([a-z0-9-]+):([0-9]{12}):\/applications\/([0-9a-z*]+)$/;

/** The statements to add to the KMS key policy so EMR Serverless can encrypt the workers' disks. */
export function keyPolicyStatements(options: KeyPolicyOptions): Statement[] {
  const match = APPLICATION_ARN.exec(options.applicationArn);
  if (!match) {
    throw new Error(
      `--application-arn must look like arn:aws:emr-serverless:REGION:ACCOUNT:/applications/ID (or /applications/*), got ${options.applicationArn}`,
    );
  }
  const account = match[3]!;
  const contextConditions = Object.fromEntries(
    Object.entries(options.encryptionContext ?? {}).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]),
  );
  const withContext = (conditions: Record<string, unknown>) =>
    Object.keys(contextConditions).length > 0
      ? { ...conditions, StringEquals: { ...(conditions.StringEquals as object), ...contextConditions } }
      : conditions;
  const statements: Statement[] = [
    {
      Sid: 'AllowEmrServerlessDiskEncryption',
      Effect: 'Allow',
      Principal: { Service: 'emr-serverless.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: withContext({
        StringEquals: { 'aws:SourceAccount': account },
        ArnLike: { 'aws:SourceArn': options.applicationArn },
      }),
    },
  ];
  if (options.runtimeRoleArn) {
    statements.push({
      Sid: 'AllowJobRuntimeRole',
      Effect: 'Allow',
      Principal: { AWS: options.runtimeRoleArn },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      ...(Object.keys(contextConditions).length ? { Condition: { StringEquals: contextConditions } } : {}),
    });
  }
  if (options.operatorRoleArn) {
    statements.push({
      Sid: 'AllowOperatorToVerifyKey',
      Effect: 'Allow',
      Principal: { AWS: options.operatorRoleArn },
      Action: 'kms:DescribeKey',
      Resource: '*',
    });
  }
  return statements;
}
