// Two replicas with leader election: only the leader reconciles and writes; after the leader is
// SIGKILLed the other takes over within 20 s and reconciles what changed meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, reportFailures, sleep } from '../support/e2e.js';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-leader', { operator: false, operatorArgs: ['--leader-elect'] });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Log lines that mean "this process wrote something". */
const wrote = (msg: string | undefined) => msg === 'acting' || msg === 'status written';

describe('two replicas with --leader-elect', () => {
  it('only the leader writes; the standby takes over within 20 s of a SIGKILL', async () => {
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    const a = await e2e.startOperator();
    await a.waitForLog('acquired leader lease');
    const b = await e2e.startOperator();
    await b.waitForLog('attempting to acquire leader lease');

    const spec = (key: string) =>
      manifest('shared', baseSpec('shared', { diskEncryptionConfiguration: { encryptionKeyArn: key } }));
    await e2e.apply(spec(keyA));
    await e2e.waitForReady('shared', 'True', 'Reconciled');
    await sleep(2_500); // a resync on both, if the standby were (wrongly) reconciling
    expect(a.lines.filter((l) => wrote(l.msg)).length).toBeGreaterThan(0);
    expect(b.lines.filter((l) => wrote(l.msg) || l.msg === 'starting workers')).toEqual([]);
    expect(b.find('acquired leader lease')).toBeUndefined();
    const creates = (await e2e.calls()).filter((c) => c.operation === 'CreateApplication');
    expect(creates).toHaveLength(1);

    // The leader dies without releasing its lease.
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const mark = await e2e.mark();
    await e2e.apply(spec(keyB)); // changed while nobody leads
    await b.waitForLog('acquired leader lease', 30_000);
    const tookMs = Date.now() - killedAt;
    expect(tookMs, `take-over took ${tookMs} ms`).toBeLessThan(20_000);
    console.log(`leader take-over after SIGKILL: ${tookMs} ms`);

    const r = await e2e.waitForResource(
      'shared',
      'key B applied by the new leader',
      (x) =>
        x.status?.diskEncryption?.encryptionKeyArn === keyB &&
        x.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        x,
    );
    expect(r.status?.observedGeneration).toBe(2);
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect(b.lines.filter((l) => wrote(l.msg)).length).toBeGreaterThan(0);
  });
});
