// A resource stalled unbound with its finalizer set (AWS refused its CreateApplication) searches
// for an application it may have created on every reconcile. The search comes from the scope's
// shared listing, so reconciling it again and again (a label or annotation loop, resyncs) costs
// no ListApplications pages of its own. Against the local AWS service through the real SDK.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { operatorIdentity } from '../../src/aws/index.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import { useReconcilerService } from './local-service.js';
import { Store } from './resource-store.js';

const REGION = 'eu-west-1';

describe('the search of an unbound resource', () => {
  const service = useReconcilerService(REGION);

  it('is served from the shared listing: ten reconciles of a refused create list the account once', async () => {
    // 120 other applications: a listing is 3 pages of 50.
    const port = service.clients.forRegion(REGION);
    for (let i = 0; i < 120; i++) {
      await port.createApplication({
        name: `other-${i}`,
        type: 'SPARK',
        releaseLabel: 'emr-7.5.0',
        tags: {},
        clientToken: `other-${i}`,
      });
    }
    // A release label the API server lets through and AWS refuses.
    const store = new Store({ name: 'refused', type: 'SPARK', releaseLabel: 'emr 7.5.0' }, 'refused');
    const reconciler = new ApplicationReconciler({
      aws: operatorIdentity(service.clients),
      writer: {
        addFinalizer: (o) => store.addFinalizer(o),
        removeFinalizer: async () => {},
        applyStatus: (o, s) => store.applyStatus(o, s),
      },
      events: { record: () => {} },
      logger: pino({ level: 'silent' }),
      options: { defaultRegion: REGION, verifyKeys: true, resyncPeriodMs: 600_000 },
    });
    const mark = await service.mark();
    for (let i = 0; i < 10; i++) await reconciler.reconcile(store.obj).catch(() => undefined);
    const calls = (await service.control.calls()).slice(mark);
    const count = (operation: string) => calls.filter((c) => c.operation === operation).length;
    expect(store.obj.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('AwsRejected');
    expect(store.obj.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    expect(count('CreateApplication')).toBe(10);
    // One listing of 3 pages, shared; each search before it listed for itself (27 pages).
    expect(count('ListApplications')).toBe(3);
  });
});
