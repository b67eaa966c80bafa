// An application that accepts UpdateApplication and changes nothing (the local service's
// `ignoreUpdates` control): the same update is sent 3 times, then the resource is Stalled
// NotConverging, naming the field and the values sent and seen, and nothing more is sent until
// the spec changes or a resync period (2 s in this suite) has passed since the last attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseSpec,
  condition,
  E2e,
  manifest,
  RESYNC_MS,
  reportFailures,
  sleep,
  waitFor,
} from '../support/e2e.js';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-notconverging');
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

describe('NotConverging', () => {
  it('stalls after 3 identical updates, retries once per resync, recovers on a spec change', async () => {
    const name = 'stubborn';
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    const spec = (key: string) =>
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: key } }));
    await e2e.apply(spec(keyA));
    const id = (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
    await e2e.aws.patchApplication(id, { ignoreUpdates: true });

    const mark = await e2e.mark();
    await e2e.apply(spec(keyB));
    const stalled = await e2e.waitForStalled(name, 'NotConverging');
    const message = condition(stalled, 'Stalled')!.message;
    expect(message).toContain('diskEncryptionConfiguration');
    expect(message).toContain(`sent {"encryptionContext":{},"encryptionKeyArn":"${keyB}"}`);
    expect(message).toContain(`AWS has {"encryptionKeyArn":"${keyA}"}`);
    expect(await e2e.writesSince(mark)).toEqual([
      'UpdateApplication',
      'UpdateApplication',
      'UpdateApplication',
    ]);
    expect((await e2e.events(name)).filter((e) => e.reason === 'NotConverging')).toHaveLength(1);

    // Stalled: one more attempt per resync period at most, none in between.
    await sleep(3 * RESYNC_MS + 500);
    const updates = (await e2e.callsSince(mark)).filter((c) => c.operation === 'UpdateApplication');
    const later = updates.slice(3).map((c) => Date.parse(c.at));
    expect(later.length).toBeGreaterThanOrEqual(1);
    expect(later.length).toBeLessThanOrEqual(4);
    // Spaced by the resync period, counted from when each attempt was planned; the calls log
    // shows arrival, which trails planning by a status write (hence the 500 ms allowance).
    const attempts = [Date.parse(updates[2]!.at), ...later];
    for (let i = 1; i < attempts.length; i++) {
      expect(attempts[i]! - attempts[i - 1]!, 'spacing of attempts while stalled').toBeGreaterThanOrEqual(
        RESYNC_MS - 500,
      );
    }
    expect(condition(await e2e.get(name), 'Stalled')?.reason).toBe('NotConverging');

    // A spec change ends it: back to key A, which AWS holds, is in sync with no write. Changed
    // right after a retry, so that the next one (a resync period away) cannot land in the window
    // before the operator sees the change.
    const retries = async () =>
      (await e2e.callsSince(mark)).filter((c) => c.operation === 'UpdateApplication').length;
    const seen = await retries();
    await waitFor('the next retry while stalled', async () => (await retries()) > seen, {
      timeoutMs: 2 * RESYNC_MS + 5_000,
    });
    const back = await e2e.mark();
    await e2e.apply(spec(keyA));
    const synced = await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(synced.status?.updateAttempts).toBeUndefined();
    expect(await e2e.writesSince(back)).toEqual([]);

    // And once AWS takes updates again, key B lands with one call.
    await e2e.aws.patchApplication(id, { ignoreUpdates: false });
    const fixed = await e2e.mark();
    await e2e.apply(spec(keyB));
    await e2e.waitForResource(
      name,
      'Ready with key B',
      (x) =>
        condition(x, 'Ready')?.status === 'True' && x.status?.diskEncryption?.encryptionKeyArn === keyB && x,
    );
    expect(await e2e.writesSince(fixed)).toEqual(['UpdateApplication']);
  });
});
