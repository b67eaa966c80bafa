// The local AWS service misbehaving: throttling on 30% of calls, and bursts of 5xx. The operator
// converges anyway, without a retry storm (the number of calls stays bounded).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, RESYNC_MS, reportFailures } from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

let e2e: E2e;
let key: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-aws-faults');
  key = await e2e.createKey();
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const spec = (name: string, extra: Record<string, unknown> = {}) =>
  manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: key }, ...extra }));

describe('AWS faults', () => {
  it('30% ThrottlingException (429): three resources converge, calls stay bounded', async () => {
    // The first 3 calls are throttled for sure, then 30% of them at random.
    await e2e.aws.fault({
      operation: '*',
      status: 429,
      errorType: 'ThrottlingException',
      count: 3,
      rate: 0.3,
    });
    const mark = await e2e.mark();
    const names = ['throttled-1', 'throttled-2', 'throttled-3'];
    await e2e.apply(names.map((n) => spec(n)).join('---\n'));
    for (const n of names) await e2e.waitForReady(n, 'True', 'Reconciled', 60_000);

    const calls = await e2e.callsSince(mark);
    const throttled = calls.filter((c) => c.status === 429).length;
    console.log(`throttling: ${calls.length} calls until converged, ${throttled} throttled`);
    expect(throttled).toBeGreaterThanOrEqual(3);
    // Without faults: one DescribeKey (shared), then CreateApplication and GetApplication per
    // resource, ~8 calls; each throttled call costs one retry, not a storm.
    expect(calls.length, `${calls.length} calls, ${throttled} throttled`).toBeLessThan(40);
    // Each application was created exactly once, whatever was retried.
    const creates = calls.filter((c) => c.operation === 'CreateApplication' && c.status === 200);
    expect(creates).toHaveLength(3);
    expect(new Set(creates.map((c) => c.applicationId)).size).toBe(3);

    // Steady state under throttling: no storm, at most one look (a listing or a GetApplication)
    // per resource per resync.
    const steady = await e2e.mark();
    await expectQuietWindow({ during: 3 * RESYNC_MS, reads: e2e.awsReads({ atLeast: 2 }) });
    const later = await e2e.callsSince(steady);
    expect(later.length, later.map((c) => `${c.operation} ${c.status}`).join('\n')).toBeLessThan(25);
    const reads = ['ListApplications', 'GetApplication', 'DescribeKey'];
    expect(later.filter((c) => c.status === 200 && !reads.includes(c.operation))).toEqual([]);
    await e2e.aws.clearFaults();
  });

  it('bursts of 5xx: converges, calls stay bounded', async () => {
    await e2e.aws.clearFaults();
    const mark = await e2e.mark();
    // Eight consecutive InternalServerException answers, whatever the operation.
    await e2e.aws.fault({ operation: '*', status: 500, count: 8 });
    await e2e.apply(spec('burst'));
    const r = await e2e.waitForReady('burst', 'True', 'Reconciled', 60_000);
    expect(r.status?.diskEncryption?.encryptionKeyArn).toBe(key);

    // Another burst, this time on UpdateApplication (503), while changing the context.
    await e2e.aws.fault({ operation: 'UpdateApplication', status: 503, count: 5 });
    await e2e.apply(
      spec('burst', {
        diskEncryptionConfiguration: { encryptionKeyArn: key, encryptionContext: { a: 'b' } },
      }),
    );
    await e2e.waitForResource(
      'burst',
      'the context applied',
      (x) =>
        x.status?.diskEncryption?.encryptionContext?.a === 'b' &&
        x.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        x,
      60_000,
    );
    const calls = await e2e.callsSince(mark);
    const failed = calls.filter((c) => c.status >= 500).length;
    console.log(`5xx bursts: ${calls.length} calls, ${failed} failed`);
    expect(failed).toBe(13);
    // A CreateApplication that failed with a 5xx may have taken effect: the operator searches for
    // it (ListApplications) and sends it again only once a search a listing lag (10 s) after the
    // first empty one finds nothing either; at the suite's 2 s resync that wait searches every 1-2 s.
    const searches = calls.filter((c) => c.operation === 'ListApplications' && c.status === 200).length;
    console.log(`5xx bursts: ${searches} searches (ListApplications)`);
    expect(searches).toBeLessThanOrEqual(18);
    expect(calls.length - searches, calls.map((c) => `${c.operation} ${c.status}`).join('\n')).toBeLessThan(
      35,
    );
    expect(calls.filter((c) => c.operation === 'CreateApplication' && c.status === 200)).toHaveLength(1);
    expect(calls.filter((c) => c.operation === 'UpdateApplication' && c.status === 200)).toHaveLength(1);
  });
});
