// The application reconciler with a policy source, against the local AWS service: the policies
// reach the planner, a refused spec sends no AWS write at all, the refusing policies are reported
// for the metric, and a deleting resource does not even wait for the policies.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { NamedPolicy } from '../../src/api/policy-rules.js';
import { operatorIdentity } from '../../src/aws/index.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import type { NamespacePolicies } from '../../src/reconcile/policies.js';
import { useReconcilerService } from '../aws/local-service.js';
import { Store } from '../aws/resource-store.js';

const REGION = 'eu-west-1';
const CMK: NamedPolicy = {
  name: 'cmk',
  spec: { namespaces: ['data'], encryption: { requireCustomerManagedKey: true } },
};

describe('the application reconciler under namespace policies', () => {
  const service = useReconcilerService(REGION);

  function reconcilerFor(store: Store, current: { policies: NamespacePolicies }, refusals: string[][]) {
    let lookups = 0;
    const reconciler = new ApplicationReconciler({
      aws: operatorIdentity(service.clients, { ttlMs: 0, negativeTtlMs: 0 }),
      writer: store,
      events: { record: () => undefined },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: false, resyncPeriodMs: 600_000 },
      policies: {
        policiesFor: async (namespace) => {
          expect(namespace).toBe('data');
          lookups++;
          return current.policies;
        },
      },
      onPolicyRefusals: (_key, policies) => refusals.push([...policies]),
    });
    return { reconciler, lookups: () => lookups };
  }

  const { writesSince } = service;

  it('refuses with no AWS write, then creates once the policy no longer refuses', async () => {
    const store = new Store({ name: 'refused', type: 'SPARK', releaseLabel: 'emr-7.5.0' });
    const current = { policies: { policies: [CMK], invalid: [] } as NamespacePolicies };
    const refusals: string[][] = [];
    const { reconciler, lookups } = reconcilerFor(store, current, refusals);
    const mark = await service.mark();

    await reconciler.reconcile(store.obj);
    expect(await writesSince(mark)).toEqual([]);
    expect(store.obj.metadata.finalizers).toEqual([]);
    expect(store.obj.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'PolicyViolation',
    });
    expect(refusals).toEqual([['cmk']]);
    expect(lookups()).toBe(1);

    // The admin withdraws the policy: the next reconcile creates the application.
    current.policies = { policies: [], invalid: [] };
    await reconciler.reconcile(store.obj);
    expect(await writesSince(mark)).toEqual(['CreateApplication']);
    expect(refusals.at(-1)).toEqual([]);

    // Deleting: the policies are not looked up (nor could they hold it up).
    current.policies = { policies: [CMK], invalid: [] };
    store.delete();
    const before = lookups();
    for (let i = 0; i < 20 && !store.gone; i++) {
      await reconciler.reconcile(store.obj);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(store.gone).toBe(true);
    expect(lookups()).toBe(before);
  });
});
