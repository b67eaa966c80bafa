// The key policy check end to end, against the local service's key policies: a key whose policy
// does not let EMR Serverless use it is refused before AWS hears of the change (the statement to
// paste in the message); the same key with the statement goes through; a policy the operator
// cannot decide proceeds with `unknown`. Keys are re-read every 2 s here (--key-cache-ttl).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPolicyStatements } from '../../src/aws/policies.js';
import {
  baseSpec,
  condition,
  E2e,
  type JobRunResource,
  jobRunManifest,
  manifest,
  reportFailures,
} from '../support/e2e.js';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-keypol', { operatorArgs: ['--key-cache-ttl', '2s'] });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const CONTEXT = { project: 'analytics' };
const withKey = (name: string, encryptionKeyArn: string) =>
  manifest(
    name,
    baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn, encryptionContext: CONTEXT } }),
  );
const accountOf = (arn: string) => arn.split(':')[4]!;
/** AWS's default key policy: the key's account, through IAM; no service. */
const defaultPolicy = (keyArn: string) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${accountOf(keyArn)}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
});

describe('key policy', () => {
  it('a key change to a key whose policy lacks the service statement is refused with the fix; with it, Ready', async () => {
    await e2e.apply(manifest('kp-change', baseSpec('kp-change')));
    const created = await e2e.waitForReady('kp-change', 'True', 'Reconciled');
    const appArn = created.status?.arn as string;
    const appId = created.status?.applicationId as string;
    const key = await e2e.createKey();
    await e2e.aws.putKeyPolicy(key, defaultPolicy(key));

    const mark = await e2e.mark();
    await e2e.apply(withKey('kp-change', key));
    const stalled = await e2e.waitForStalled('kp-change', 'KeyPolicyDenied');
    const statements = keyPolicyStatements({ applicationArn: appArn, encryptionContext: CONTEXT });
    const message = stalled.status?.conditions?.find((c) => c.type === 'Stalled')?.message ?? '';
    expect(message).toContain(JSON.stringify(statements));
    expect(message).toContain(key);
    expect(stalled.status?.diskEncryption?.key).toMatchObject({
      reason: 'KeyPolicyDenied',
      policy: { verdict: 'Denies' },
    });
    const refused = await e2e.callsSince(mark);
    expect(refused.filter((c) => c.operation === 'GetKeyPolicy' && c.status === 200).length).toBeGreaterThan(
      0,
    );
    expect(refused.filter((c) => c.operation === 'UpdateApplication')).toEqual([]);
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.waitForEvent('kp-change', 'KeyPolicyDenied')).type).toBe('Warning');

    // The statement the message quotes, pasted into the key policy: the change goes through.
    const fixed = defaultPolicy(key);
    await e2e.aws.putKeyPolicy(key, { ...fixed, Statement: [...fixed.Statement, ...statements] });
    const ready = await e2e.waitForReady('kp-change', 'True', 'Reconciled');
    expect(ready.status?.diskEncryption).toMatchObject({
      encryptionKeyArn: key,
      key: { verified: true, policy: { verdict: 'Allows' } },
    });
    expect(await e2e.writesSince(mark, appId)).toEqual(['UpdateApplication']);
  });

  it('a policy the operator cannot decide: the key is sent, with unknown and a Warning', async () => {
    const key = await e2e.createKey();
    const base = defaultPolicy(key);
    await e2e.aws.putKeyPolicy(key, {
      ...base,
      Statement: [
        ...base.Statement,
        {
          Sid: 'OnlyOverTls',
          Effect: 'Allow',
          Principal: { Service: 'emr-serverless.amazonaws.com' },
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': 'true' } },
        },
      ],
    });
    const mark = await e2e.mark();
    await e2e.apply(withKey('kp-unknown', key));
    const ready = await e2e.waitForReady('kp-unknown', 'True', 'Reconciled');
    expect(ready.status?.diskEncryption?.key).toMatchObject({
      verified: true,
      policy: { verdict: 'Unknown' },
    });
    expect(ready.status?.diskEncryption?.key?.policy?.message).toContain('aws:SecureTransport');
    expect(await e2e.writesSince(mark)).toContain('CreateApplication');
    expect((await e2e.waitForEvent('kp-unknown', 'KeyPolicyUnverified')).type).toBe('Warning');
  });

  it('without the check (--verify-key-policies=false) the key is set, and the job run fails in AWS with its reason', async () => {
    const unchecked = await E2e.start('e2e-keypol-off', { operatorArgs: ['--verify-key-policies=false'] });
    try {
      const key = await unchecked.createKey();
      await unchecked.aws.putKeyPolicy(key, defaultPolicy(key));
      await unchecked.apply(withKey('kp-off', key));
      const ready = await unchecked.waitForReady('kp-off', 'True', 'Reconciled');
      const appId = ready.status?.applicationId as string;
      await unchecked.apply(jobRunManifest('kp-off-run', 'kp-off'));
      const submitted = await unchecked.waitForJob(
        'kp-off-run',
        'submitted',
        (r) => !!r.status?.jobRunId && (r as JobRunResource),
      );
      // Its workers come up: EMR Serverless cannot make a data key with this key.
      await unchecked.aws.setJobRunState(appId, submitted.status!.jobRunId!, 'RUNNING');
      const failed = await unchecked.waitForJobCondition('kp-off-run', 'Stalled', 'JobRunFailed');
      const message = condition(failed, 'Stalled')?.message ?? '';
      expect(message).toContain(key);
      expect(message).toContain(
        'emr-serverless.amazonaws.com is not authorized to perform: kms:GenerateDataKey',
      );
    } finally {
      await unchecked.stop();
    }
  });
});
