// Fights with another writer (fights.ts), through the planner: a look is one reconcile (plan;
// when it sends UpdateApplication, plan again on the application as the answer left it, as the
// reconciler does), each fed the status the last one left.
import { describe, expect, it } from 'vitest';
import { FINALIZER, OWNER_NAME_TAG, OWNER_NAMESPACE_TAG, OWNER_UID_TAG } from '../../src/api/constants.js';
import type { EmrServerlessApplication, Spec, Status } from '../../src/api/schema.js';
import type { AwsApplication, KeyFacts } from '../../src/aws/port.js';
import { FIGHT_AFTER_UNDONE, FIGHT_WINDOW_RESYNCS } from '../../src/reconcile/application/fights.js';
import { type Plan, type PlanOptions, plan } from '../../src/reconcile/application/planner.js';
import { intentsAfterFailure, intentsOf } from '../../src/reconcile/application/write-ahead.js';
import { CONDITION_REASONS } from '../../src/reconcile/reasons.js';

const KEY_A = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444';
const KEY_B = 'arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-1111-2222-3333-444444444444';
const UID = '5f0c1a2b-0000-4000-8000-000000000001';
const T0 = Date.parse('2026-11-23T12:00:00Z');
const R = 4_000;
const WINDOW = FIGHT_WINDOW_RESYNCS * R;
const options: PlanOptions = { defaultRegion: 'eu-west-1', verifyKeys: true, resyncPeriodMs: R };
const OWNED = { [OWNER_UID_TAG]: UID, [OWNER_NAMESPACE_TAG]: 'data', [OWNER_NAME_TAG]: 'analytics' };

const specFor = (key: string): Spec => ({
  name: 'analytics',
  type: 'SPARK',
  releaseLabel: 'emr-7.5.0',
  diskEncryptionConfiguration: { encryptionKeyArn: key },
});

function resource(spec: Spec, status: Status, generation = 3): EmrServerlessApplication {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: { name: 'analytics', namespace: 'data', uid: UID, generation, finalizers: [FINALIZER] },
    spec,
    status,
  };
}

function app(diskEncryptionConfiguration: AwsApplication['diskEncryptionConfiguration']): AwsApplication {
  return {
    applicationId: '00fapp1',
    arn: 'arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00fapp1',
    name: 'analytics',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    state: 'STOPPED',
    tags: OWNED,
    diskEncryptionConfiguration,
  };
}

const enabled = (arn: string): KeyFacts => ({
  kind: 'found',
  arn,
  keyState: 'Enabled',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
});

/** What a look finds: the key removed by the other writer, or the declared key. */
type Aws = 'reverted' | 'held';

interface Look {
  at: number;
  plans: Plan[];
  updates: number;
  reason: string | undefined;
  warnings: string[];
  undone: boolean;
  status: Status;
}

/**
 * Looks at the given times (ms after T0), each finding AWS as `aws(at)` says; an update AWS
 * holds (`ignoreUpdates` false) leaves the declared key for the plan after it.
 */
function looks(
  times: number[],
  aws: (at: number) => Aws,
  { key = KEY_A, start = {} as Status, ignoreUpdates = false, generation = 3 } = {},
): Look[] {
  const spec = specFor(key);
  const declared = { encryptionKeyArn: key, encryptionContext: {} };
  let status: Status = {
    applicationId: '00fapp1',
    arn: app(undefined).arn,
    region: 'eu-west-1',
    ...start,
  };
  return times.map((at) => {
    const now = new Date(T0 + at);
    let seen = app(aws(at) === 'held' ? declared : undefined);
    const plans: Plan[] = [];
    for (let step = 0; step < 4; step++) {
      const p = plan({
        resource: resource(spec, status, generation),
        observed: { app: seen, key: enabled(key) },
        options,
        now,
      });
      plans.push(p);
      status = p.status;
      if (!p.actions.some((a) => a.kind === 'UpdateApplication')) break;
      if (!ignoreUpdates) seen = app(declared);
    }
    const last = plans.at(-1)!;
    return {
      at,
      plans,
      updates: plans.filter((p) => p.actions.some((a) => a.kind === 'UpdateApplication')).length,
      reason: last.status.conditions?.find((c) => c.type === 'Ready')?.reason,
      warnings: plans
        .flatMap((p) => p.events)
        .filter((e) => e.type === 'Warning')
        .map((e) => e.reason),
      undone: plans.some((p) => p.undone !== undefined),
      status: last.status,
    };
  });
}

const every = (period: number, until: number, from = 0) =>
  Array.from({ length: Math.floor((until - from) / period) + 1 }, (_, i) => from + i * period);

describe('ExternalChangeFight', () => {
  it('is a Stalled reason', () => {
    expect(CONDITION_REASONS.ExternalChangeFight).toBe('Stalled');
  });

  // Each row: how the other writer behaves, what the operator sends and says.
  const table: Array<{
    name: string;
    times: number[];
    aws: (at: number) => Aws;
    fights: boolean;
    maxUpdatesPerResync: number;
    updates?: number;
    warnings: number;
    endsWith: string;
    /** status.correction is gone at the end (a window after the last correction or undo). */
    forgotten?: boolean;
  }> = [
    {
      name: 'one change out of band: corrected once, no fight',
      times: every(R, 12 * R),
      aws: (at) => (at === R ? 'reverted' : 'held'),
      fights: false,
      maxUpdatesPerResync: 1,
      updates: 1,
      warnings: 0,
      endsWith: 'Reconciled',
      forgotten: true,
    },
    {
      name: `${FIGHT_AFTER_UNDONE - 1} undos, then quiet: no fight`,
      times: every(R, 14 * R),
      aws: (at) => (at >= R && at <= FIGHT_AFTER_UNDONE * R - R ? 'reverted' : 'held'),
      fights: false,
      maxUpdatesPerResync: 1,
      updates: FIGHT_AFTER_UNDONE - 1,
      warnings: 0,
      endsWith: 'Reconciled',
      forgotten: true,
    },
    {
      name: 'undone every resync: a fight, one Warning',
      times: every(R, 20 * R),
      aws: () => 'reverted',
      fights: true,
      maxUpdatesPerResync: 1,
      warnings: 1,
      endsWith: 'ExternalChangeFight',
    },
    {
      name: 'undone every half second, looked at 4 times per resync: still one correction per resync',
      times: every(R / 4, 20 * R),
      aws: () => 'reverted',
      fights: true,
      maxUpdatesPerResync: 1,
      warnings: 1,
      endsWith: 'ExternalChangeFight',
    },
    {
      name: 'undos farther apart than the window allows: no fight',
      times: every(R, 40 * R),
      // The third undo in a row is always one window after the first: never 3 within it.
      aws: (at) => (at > 0 && at % ((FIGHT_WINDOW_RESYNCS / 2) * R) === 0 ? 'reverted' : 'held'),
      fights: false,
      maxUpdatesPerResync: 1,
      warnings: 0,
      endsWith: 'Reconciled',
    },
    {
      name: 'the other writer stops: Ready once a whole window passed without an undo',
      times: every(R, 10 * R + WINDOW + 2 * R),
      aws: (at) => (at <= 10 * R ? 'reverted' : 'held'),
      fights: true,
      maxUpdatesPerResync: 1,
      warnings: 1,
      endsWith: 'Reconciled',
      forgotten: true,
    },
  ];

  it.each(table)('$name', (row) => {
    const seen = looks(row.times, row.aws);
    expect(seen.some((l) => l.reason === 'ExternalChangeFight')).toBe(row.fights);
    expect(seen.flatMap((l) => l.warnings).filter((w) => w === 'ExternalChangeFight')).toHaveLength(
      row.warnings,
    );
    expect(seen.at(-1)!.reason).toBe(row.endsWith);
    if (row.updates !== undefined) expect(seen.reduce((n, l) => n + l.updates, 0)).toBe(row.updates);
    // Within any resync period (from each look on), at most this many corrections while fighting.
    const sent = seen.filter((l) => l.updates > 0).map((l) => l.at);
    const fightStart = seen.find((l) => l.reason === 'ExternalChangeFight')?.at ?? Number.POSITIVE_INFINITY;
    for (const t of sent.filter((s) => s >= fightStart)) {
      expect(sent.filter((s) => s >= t && s < t + R).length).toBeLessThanOrEqual(row.maxUpdatesPerResync);
    }
    // Forgotten once quiet: no record, so in sync means no status change.
    if (row.forgotten) expect(seen.at(-1)!.status.correction).toBeUndefined();
  });

  it('the fight starts at the third undo, says which field, the declared value, how often and what AWS had', () => {
    const seen = looks(every(R, 4 * R), () => 'reverted');
    expect(seen.map((l) => l.undone)).toEqual([false, true, true, true, true]);
    expect(seen.map((l) => l.reason)).toEqual([
      'Reconciled',
      'Reconciled',
      'Reconciled',
      'ExternalChangeFight',
      'ExternalChangeFight',
    ]);
    const entering = seen[3]!;
    // The correction is still sent when entering (the last one was a resync period ago).
    expect(entering.updates).toBe(1);
    expect(entering.status.correction).toMatchObject({
      fields: ['diskEncryptionConfiguration'],
      undone: 3,
      fightSince: new Date(T0 + 3 * R).toISOString(),
    });
    const warning = entering.plans.flatMap((p) => p.events).find((e) => e.reason === 'ExternalChangeFight')!;
    expect(warning.type).toBe('Warning');
    expect(warning.message).toContain('Something else keeps changing application 00fapp1 back');
    expect(warning.message).toContain(
      `diskEncryptionConfiguration (declared {"encryptionContext":{},"encryptionKeyArn":"${KEY_A}"})`,
    );
    expect(warning.message).toContain('was undone 3 times');
    expect(warning.message).toContain('AWS had diskEncryptionConfiguration: nothing.');
    const stalled = entering.status.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled).toMatchObject({ status: 'True', reason: 'ExternalChangeFight' });
    // Ready False with the same reason; the condition does not change between undos.
    expect(seen[4]!.status.correction?.undone).toBe(4);
    expect(seen[4]!.warnings).toEqual([]);
  });

  it('while paced the resource is looked at again when the resync period since the last correction is over', () => {
    const seen = looks([0, R, 2 * R, 3 * R, 3 * R + 1_000], () => 'reverted');
    const held = seen.at(-1)!;
    expect(held.updates).toBe(0);
    expect(held.reason).toBe('ExternalChangeFight');
    expect(held.plans.at(-1)!.requeueAfterMs).toBe(R - 1_000);
  });

  it('a spec change starts over', () => {
    const fight = looks(every(R, 5 * R), () => 'reverted');
    expect(fight.at(-1)!.reason).toBe('ExternalChangeFight');
    // Now key B is declared; the other writer still removes whatever key is there.
    const after = looks([6 * R], () => 'reverted', {
      key: KEY_B,
      start: fight.at(-1)!.status,
      generation: 4,
    });
    expect(after[0]!.updates).toBe(1);
    expect(after[0]!.reason).toBe('Reconciled');
    expect(after[0]!.status.correction).toMatchObject({ undone: 0, accepted: true });
  });

  it('an update AWS never holds is NotConverging, not a fight', () => {
    const seen = looks(every(R / 4, 2 * R), () => 'reverted', { ignoreUpdates: true });
    expect(seen.some((l) => l.reason === 'ExternalChangeFight')).toBe(false);
    expect(seen.at(-1)!.reason).toBe('NotConverging');
    expect(seen.every((l) => !l.undone)).toBe(true);
  });

  it('the count is an intent: written ahead, kept through a failed step and a restart', () => {
    const seen = looks(every(R, 2 * R), () => 'reverted');
    // The plan that finds the second undo sends the correction: its record is what is written ahead.
    const sending = seen[2]!.plans[0]!;
    expect(sending.actions.map((a) => a.kind)).toEqual(['UpdateApplication']);
    expect(intentsOf(sending.status).correction).toMatchObject({ undone: 2, accepted: false });
    const failed = intentsAfterFailure(sending.status, intentsOf(seen[1]!.status), true);
    expect(failed.correction).toEqual(sending.status.correction);
    // A new process plans from status alone: the third undo makes the fight.
    const later = looks([3 * R], () => 'reverted', { start: seen[1]!.status });
    expect(later[0]!.reason).not.toBe('ExternalChangeFight');
    const restarted = looks([3 * R], () => 'reverted', { start: seen[2]!.status });
    expect(restarted[0]!.reason).toBe('ExternalChangeFight');
  });
});
