// KeyVerifier's own logic (routing, TTLs, de-duplication) over a port that only answers
// describeKey; the same behaviour end to end through the SDK is in sdk-port.test.ts.
import { describe, expect, it } from 'vitest';
import { KeyVerifier, regionOfKeyArn } from '../../src/aws/keys.js';
import { AwsError, type AwsPort, type KeyFacts } from '../../src/aws/port.js';

const ARN_EU = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN_US = 'arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';

/** Ports that answer describeKey from a script and record who asked where. */
function scriptedPorts(answer: (region: string, keyArn: string) => Promise<KeyFacts>) {
  const asked: Array<{ region: string; keyArn: string }> = [];
  const ports = {
    forRegion(region: string): AwsPort {
      return {
        region,
        describeKey: (keyArn: string) => {
          asked.push({ region, keyArn });
          return answer(region, keyArn);
        },
      } as AwsPort;
    },
  };
  return { ports, asked };
}

const found = (arn: string): KeyFacts => ({
  kind: 'found',
  arn,
  keyState: 'Enabled',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
});

describe('regionOfKeyArn', () => {
  it.each([
    [ARN_EU, 'eu-west-1'],
    ['arn:aws-cn:kms:cn-north-1:111122223333:key/abc', 'cn-north-1'],
    ['arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abc', 'us-gov-west-1'],
    ['arn:aws:kms:eu-west-1:111122223333:alias/mine', undefined],
    ['arn:aws:kms::111122223333:key/abc', undefined],
    ['1234abcd-12ab-34cd-56ef-1234567890ab', undefined],
  ])('%s -> %s', (arn, region) => {
    expect(regionOfKeyArn(arn)).toBe(region);
  });
});

describe('KeyVerifier', () => {
  it("asks the port of the key's own region", async () => {
    const { ports, asked } = scriptedPorts(async (_region, arn) => found(arn));
    const verifier = new KeyVerifier(ports);
    await verifier.describe(ARN_EU);
    await verifier.describe(ARN_US);
    expect(asked).toEqual([
      { region: 'eu-west-1', keyArn: ARN_EU },
      { region: 'us-east-1', keyArn: ARN_US },
    ]);
  });

  it('reuses a found key for ttlMs, a missing one for negativeTtlMs', async () => {
    let clock = 0;
    const { ports, asked } = scriptedPorts(async (_region, arn) =>
      arn === ARN_EU ? found(arn) : { kind: 'notFound', message: 'no such key' },
    );
    const verifier = new KeyVerifier(ports, { ttlMs: 180_000, negativeTtlMs: 30_000, now: () => clock });
    await verifier.describe(ARN_EU);
    await verifier.describe(ARN_US);
    clock = 29_999;
    await verifier.describe(ARN_EU);
    await verifier.describe(ARN_US);
    expect(asked).toHaveLength(2);
    clock = 30_000;
    await verifier.describe(ARN_US);
    expect(asked).toHaveLength(3);
    clock = 180_000;
    await verifier.describe(ARN_EU);
    expect(asked).toHaveLength(4);
  });

  it('makes one request for many concurrent callers of the same key', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { ports, asked } = scriptedPorts(async (_region, arn) => {
      await gate;
      return found(arn);
    });
    const verifier = new KeyVerifier(ports);
    const answers = Array.from({ length: 20 }, () => verifier.describe(ARN_EU));
    release();
    const facts = await Promise.all(answers);
    expect(asked).toHaveLength(1);
    expect(new Set(facts.map((f) => f.kind))).toEqual(new Set(['found']));
  });

  it('does not cache failures: every waiter gets the AwsError, the next call asks again', async () => {
    let fail = true;
    const { ports, asked } = scriptedPorts(async (_region, arn) => {
      if (fail) throw new AwsError('throttled', 'ThrottlingException', 'slow down', 'DescribeKey');
      return found(arn);
    });
    const verifier = new KeyVerifier(ports);
    const results = await Promise.allSettled([verifier.describe(ARN_EU), verifier.describe(ARN_EU)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(asked).toHaveLength(1);
    fail = false;
    expect((await verifier.describe(ARN_EU)).kind).toBe('found');
    expect(asked).toHaveLength(2);
  });

  it('forget() makes the next call ask again', async () => {
    const { ports, asked } = scriptedPorts(async (_region, arn) => found(arn));
    const verifier = new KeyVerifier(ports);
    await verifier.describe(ARN_EU);
    verifier.forget(ARN_EU);
    await verifier.describe(ARN_EU);
    expect(asked).toHaveLength(2);
  });

  it('refuses a string that is not a key ARN with a region, without asking', async () => {
    const { ports, asked } = scriptedPorts(async (_region, arn) => found(arn));
    const verifier = new KeyVerifier(ports);
    await expect(verifier.describe('alias/mine')).rejects.toMatchObject({
      kind: 'invalid',
      code: 'InvalidKeyArn',
    });
    expect(asked).toHaveLength(0);
  });
});
