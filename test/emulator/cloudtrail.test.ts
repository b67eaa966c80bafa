// CloudTrail's event history in the local service, through the real SDK clients: every KMS call
// served is an event with its caller, key and encryption context; a run's workers leave theirs;
// LookupEvents filters by one attribute, pages by 50 and keeps CloudTrail's 2 calls per second.
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CreateApplicationCommand, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { DescribeKeyCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  credentials,
  REGION,
  ROLE_ARN,
  rejection,
  sleep,
  useHarness,
  waitForState,
} from './helpers.js';

const h = useHarness();

function cloudtrail(): CloudTrailClient {
  // No retries: the test sees the throttling answer itself.
  return new CloudTrailClient({ endpoint: h.emulator.endpoint, region: REGION, credentials, maxAttempts: 1 });
}

const record = (e: { CloudTrailEvent?: string }) =>
  JSON.parse(e.CloudTrailEvent!) as {
    eventName: string;
    userIdentity: { type: string; arn?: string; invokedBy?: string };
    requestParameters: { keyId: string; encryptionContext?: Record<string, string> };
    resources: Array<{ ARN: string; type: string }>;
    recipientAccountId: string;
  };

describe('LookupEvents', () => {
  it('answers the KMS calls served, newest first, with the caller, the key and the context', async () => {
    const key = await h.control.createKey({});
    await h.kms.send(new DescribeKeyCommand({ KeyId: key.Arn }));
    await h.kms.send(
      new GenerateDataKeyCommand({ KeyId: key.Arn, KeySpec: 'AES_256', EncryptionContext: { a: 'b' } }),
    );
    const client = cloudtrail();
    const out = await client.send(new LookupEventsCommand({}));
    expect(out.Events!.map((e) => e.EventName)).toEqual(['GenerateDataKey', 'DescribeKey']);
    const [made] = out.Events!;
    expect(made).toMatchObject({
      EventSource: 'kms.amazonaws.com',
      ReadOnly: 'false',
      Username: 'emulator',
      Resources: [{ ResourceType: 'AWS::KMS::Key', ResourceName: key.Arn }],
    });
    expect(made!.EventTime).toBeInstanceOf(Date);
    expect(record(made!)).toMatchObject({
      eventName: 'GenerateDataKey',
      userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::${ACCOUNT}:user/emulator` },
      requestParameters: { keyId: key.Arn, encryptionContext: { a: 'b' } },
      resources: [{ ARN: key.Arn, type: 'AWS::KMS::Key' }],
      recipientAccountId: ACCOUNT,
    });
    client.destroy();
  });

  it('records the workers of a run: GenerateDataKey and Decrypt by EMR Serverless, with the application id in the context', async () => {
    const key = await h.control.createKey({});
    const app = await h.emr.send(
      new CreateApplicationCommand({
        name: 'w',
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        diskEncryptionConfiguration: { encryptionKeyArn: key.Arn, encryptionContext: { team: 'data' } },
      }),
    );
    await waitForState(h.emr, app.applicationId!, 'CREATED');
    const run = await h.emr.send(
      new StartJobRunCommand({
        applicationId: app.applicationId!,
        executionRoleArn: ROLE_ARN,
        jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
      }),
    );
    await h.control.setJobRunState(app.applicationId!, run.jobRunId!, 'RUNNING');
    const client = cloudtrail();
    const out = await client.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: key.Arn }],
      }),
    );
    expect(out.Events!.map((e) => e.EventName)).toEqual(['Decrypt', 'GenerateDataKey']);
    for (const e of out.Events!) {
      expect(record(e)).toMatchObject({
        userIdentity: { type: 'AWSService', invokedBy: 'emr-serverless.amazonaws.com' },
        requestParameters: {
          keyId: key.Arn,
          encryptionContext: { team: 'data', applicationId: app.applicationId },
        },
      });
    }
    client.destroy();
  });

  it('filters by one attribute, pages by MaxResults, and refuses a third call within a second', async () => {
    const key = await h.control.createKey({});
    for (let i = 0; i < 5; i++) await h.kms.send(new DescribeKeyCommand({ KeyId: key.Arn }));
    await h.kms.send(new GenerateDataKeyCommand({ KeyId: key.Arn, KeySpec: 'AES_256' }));
    const client = cloudtrail();
    const byName = {
      LookupAttributes: [{ AttributeKey: 'EventName' as const, AttributeValue: 'DescribeKey' }],
    };
    const first = await client.send(new LookupEventsCommand({ ...byName, MaxResults: 3 }));
    expect(first.Events).toHaveLength(3);
    const second = await client.send(
      new LookupEventsCommand({ ...byName, MaxResults: 3, NextToken: first.NextToken }),
    );
    expect(second.Events).toHaveLength(2);
    expect(second.NextToken).toBeUndefined();
    const throttled = await rejection(client.send(new LookupEventsCommand({})));
    expect(throttled.name).toBe('ThrottlingException');
    await sleep(1_000);
    await expect(client.send(new LookupEventsCommand({}))).resolves.toBeDefined();
    client.destroy();
  });
});
