// A fight with another writer, on a real API server with the operator as a process: a loop
// removes the customer-managed key through the local service's control API several times per
// resync period. After 3 undone corrections the resource is Stalled ExternalChangeFight with one
// Warning event and the undone-corrections counter; the correction goes out at most once per
// resync period (the reads show the resyncs went on meanwhile); once the loop stops, Ready returns
// after a quiet window (10 resync periods of 2 s in this suite).
//
// `FIGHT_RESYNC_S=4 FIGHT_SECONDS=40` measures another resync period and fight length; the
// figures are printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIGHT_AFTER_UNDONE, FIGHT_WINDOW_RESYNCS } from '../../src/reconcile/application/fights.js';
import { baseSpec, condition, E2e, manifest, RESYNC_MS, reportFailures, sleep } from '../support/e2e.js';

const resyncMs = Number(process.env.FIGHT_RESYNC_S ?? RESYNC_MS / 1000) * 1000;
/** How long the fight is watched once it is reported. */
const fightMs = Number(process.env.FIGHT_SECONDS ?? (6 * resyncMs) / 1000) * 1000;
/** The other writer's pace: several reverts per resync period. */
const REVERT_EVERY_MS = Math.round(resyncMs / 3);

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-fights', { operatorArgs: ['--resync-period', `${resyncMs / 1000}s`] });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e, 'contested');

describe('a fight with another writer', () => {
  it('is reported once, paced to one correction per resync period, and ends after a quiet window', async () => {
    const name = 'contested';
    const key = await e2e.createKey();
    await e2e.apply(
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: key } })),
    );
    const id = (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;

    // The other writer: removes the key, again and again.
    let reverting = true;
    const other = (async () => {
      while (reverting) {
        await e2e.aws.patchApplication(id, { diskEncryptionConfiguration: {} });
        await sleep(REVERT_EVERY_MS);
      }
    })();
    try {
      const start = await e2e.mark();
      const stalled = await e2e.waitForStalled(
        name,
        'ExternalChangeFight',
        (FIGHT_AFTER_UNDONE + 4) * resyncMs + 10_000,
      );
      const message = condition(stalled, 'Stalled')!.message;
      expect(message).toContain(`Something else keeps changing application ${id} back`);
      expect(message).toContain(
        `diskEncryptionConfiguration (declared {"encryptionContext":{},"encryptionKeyArn":"${key}"})`,
      );
      expect(stalled.status?.correction).toMatchObject({ fields: ['diskEncryptionConfiguration'] });
      expect(stalled.status!.correction!.undone).toBeGreaterThanOrEqual(FIGHT_AFTER_UNDONE);
      const untilFight = (await e2e.callsSince(start, id)).filter((c) => c.operation === 'UpdateApplication');
      expect(untilFight.length).toBeGreaterThanOrEqual(FIGHT_AFTER_UNDONE);

      // Fighting: at most one correction per resync period, while the resyncs go on.
      const mark = await e2e.mark();
      const began = Date.now();
      await sleep(fightMs);
      const elapsed = Date.now() - began;
      const calls = await e2e.callsSince(mark, id);
      const updates = calls.filter((c) => c.operation === 'UpdateApplication');
      const reads = calls.filter((c) => c.operation === 'GetApplication');
      const periods = elapsed / resyncMs;
      console.log(
        `fight at a ${resyncMs / 1000} s resync for ${(elapsed / 1000).toFixed(1)} s: ${updates.length} UpdateApplication, ${reads.length} GetApplication`,
      );
      expect(updates.length).toBeGreaterThanOrEqual(Math.floor(periods) - 2);
      expect(updates.length).toBeLessThanOrEqual(Math.ceil(periods) + 1);
      // Spaced by the resync period, counted from when each was planned; the calls log shows
      // arrival, which trails planning by the status write ahead of it (hence the allowance).
      const at = updates.map((c) => Date.parse(c.at));
      for (let i = 1; i < at.length; i++) {
        expect(at[i]! - at[i - 1]!, 'spacing of corrections while fighting').toBeGreaterThanOrEqual(
          resyncMs - 500,
        );
      }
      // Every correction was read first (a look found the key gone): the resyncs happened.
      expect(reads.length).toBeGreaterThanOrEqual(updates.length);

      const warnings = (await e2e.events(name)).filter((e) => e.reason === 'ExternalChangeFight');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.type).toBe('Warning');
      expect(warnings[0]!.count ?? 1).toBe(1);
      expect(warnings[0]!.message).toContain('AWS had diskEncryptionConfiguration');
      expect(condition(await e2e.get(name), 'Stalled')?.reason).toBe('ExternalChangeFight');

      const undone = (await e2e.operator.metrics())
        .split('\n')
        .find((l) => l.startsWith('emr_serverless_operator_undone_corrections_total{'));
      expect(undone).toContain('field="diskEncryptionConfiguration"');
      expect(undone).toContain('kind="EmrServerlessApplication"');
      expect(Number(undone!.split(' ').at(-1))).toBeGreaterThanOrEqual(FIGHT_AFTER_UNDONE);
      const resources = (await e2e.operator.metrics())
        .split('\n')
        .find(
          (l) =>
            l.startsWith('emr_serverless_operator_resources{') && l.includes('reason="ExternalChangeFight"'),
        );
      expect(resources).toMatch(/ 1$/);
    } finally {
      reverting = false;
      await other;
    }

    // The other writer stopped: the key is put back, and after a whole quiet window Ready returns.
    const stopped = Date.now();
    const ready = await e2e.waitForReady(
      name,
      'True',
      'Reconciled',
      FIGHT_WINDOW_RESYNCS * resyncMs * 1.5 + 10_000,
    );
    expect(Date.now() - stopped).toBeGreaterThanOrEqual((FIGHT_WINDOW_RESYNCS - 2) * resyncMs);
    expect(ready.status?.correction).toBeUndefined();
    expect(ready.status?.diskEncryption?.encryptionKeyArn).toBe(key);
    expect((await e2e.events(name)).filter((e) => e.reason === 'ExternalChangeFight')).toHaveLength(1);
  });
});
