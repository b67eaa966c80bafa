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
import { expectQuietWindow } from '../support/quiet.js';

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
    // Three updates, then nothing until a resync period later (a slow machine may already see
    // that retry here: the spacing is checked below).
    const first = await e2e.writesSince(mark);
    expect(first.slice(0, 3)).toEqual(['UpdateApplication', 'UpdateApplication', 'UpdateApplication']);
    expect(new Set(first)).toEqual(new Set(['UpdateApplication']));
    // One Warning as it stalls. Each retry that does not land stalls it again, with a Warning of its
    // own ("sent 4 times", ...): never two for the same attempt.
    const sentTimes = (await e2e.events(name))
      .filter((e) => e.reason === 'NotConverging')
      .map((e) => Number(/was sent (\d+) times/.exec(e.message)?.[1]))
      .sort((x, y) => x - y);
    expect(sentTimes[0]).toBe(3);
    expect(sentTimes).toEqual([...new Set(sentTimes)]);

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
    // (Each retry shows Updating until its answer is seen: wait for the stall after it.)
    await e2e.waitForStalled(name, 'NotConverging');

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
    const logMark = e2e.operator.lines.length;
    await e2e.apply(spec(keyA));
    const synced = await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(synced.status?.updateAttempts).toBeUndefined();
    // A retry may still be sent after the mark on a slow machine, planned for generation 2 before
    // the change reached the operator (its intent, written ahead, would otherwise be refused):
    // nothing is ever planned for generation 3.
    const plannedFor = e2e.operator
      .since(logMark, 'intents written ahead')
      .map((l) => (l.intents as { updateAttempts?: { generation?: number } }).updateAttempts?.generation);
    expect(plannedFor.filter((g) => g !== 2)).toEqual([]);
    expect((await e2e.writesSince(back)).length).toBeLessThanOrEqual(plannedFor.length);
    // And once it has seen generation 3: resyncs look, and send nothing.
    const inSync = await e2e.mark();
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(inSync),
    });

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
