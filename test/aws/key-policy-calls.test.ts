// What the key policy check costs in AWS calls, from the local service's calls log: a cold
// reconcile reads the key policy once with DescribeKey; within the cache period no reconcile of
// any resource on that key calls KMS again; once it expires both are read again.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { operatorIdentity } from '../../src/aws/index.js';
import { diskEncryptionKeyPolicy } from '../../src/aws/policies.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import { useReconcilerService } from './local-service.js';
import { Store } from './resource-store.js';

const REGION = 'eu-west-1';

describe('the key policy check, in AWS calls', () => {
  const service = useReconcilerService(REGION);

  it('cold: one DescribeKey and one GetKeyPolicy per key; cached: no KMS call, for every resource on the key', async () => {
    let clock = 1_000_000;
    const key = await service.control.createKey({ region: REGION });
    await service.control.putKeyPolicy(key.Arn, diskEncryptionKeyPolicy(key.AWSAccountId));
    // One AwsAccess (so one key cache) for every resource, as in the operator.
    const aws = operatorIdentity(service.clients, {
      ttlMs: 180_000,
      negativeTtlMs: 30_000,
      now: () => clock,
    });
    const reconcile = (store: Store) =>
      new ApplicationReconciler({
        aws,
        writer: store,
        events: { record: () => undefined },
        logger: pino({ level: 'silent' }),
        options: {
          defaultRegion: REGION,
          verifyKeys: true,
          verifyKeyPolicies: true,
          resyncPeriodMs: 600_000,
        },
      }).reconcile(store.obj);
    const kmsCalls = async (mark: number) => {
      const calls = (await service.control.calls()).slice(mark);
      return {
        DescribeKey: calls.filter((c) => c.operation === 'DescribeKey').length,
        GetKeyPolicy: calls.filter((c) => c.operation === 'GetKeyPolicy').length,
        all: calls.length,
      };
    };
    const spec = { name: 'kp', type: 'SPARK' as const, releaseLabel: 'emr-7.5.0' };
    const stores = Array.from(
      { length: 5 },
      (_, i) =>
        new Store(
          { ...spec, name: `kp-${i}`, diskEncryptionConfiguration: { encryptionKeyArn: key.Arn } },
          `kp-${i}`,
        ),
    );
    const plan = async (store: Store) => {
      await reconcile(store);
      expect(store.obj.status?.diskEncryption?.key?.policy).toEqual({ verdict: 'Allows' });
    };

    let mark = await service.mark();
    await plan(stores[0]!);
    const cold = await kmsCalls(mark);
    expect(cold).toMatchObject({ DescribeKey: 1, GetKeyPolicy: 1 });

    mark = await service.mark();
    for (const store of stores) await plan(store);
    const cached = await kmsCalls(mark);
    expect(cached).toMatchObject({ DescribeKey: 0, GetKeyPolicy: 0 });

    // The resync of a resource already in sync, within the cache period: no KMS call either.
    mark = await service.mark();
    await plan(stores[0]!);
    const steady = await kmsCalls(mark);
    expect(steady).toMatchObject({ DescribeKey: 0, GetKeyPolicy: 0 });

    clock += 180_000;
    mark = await service.mark();
    await plan(stores[1]!);
    expect(await kmsCalls(mark)).toMatchObject({ DescribeKey: 1, GetKeyPolicy: 1 });
    console.log(
      `AWS calls: cold create ${JSON.stringify(cold)}, 5 creates cached ${JSON.stringify(cached)}, a resync in sync ${JSON.stringify(steady)}`,
    );
  });
});
