// The crash table: the operator killed (SIGKILL) inside both windows of every AWS write of each
// scenario, then started again.
//
// The writes are not listed here: each scenario first runs clean, and its writes become the
// cases, so a write added to the code is covered without a new test. The two windows:
//   before: the call is in flight and never takes effect (the local service holds it with
//           `latencyMs`, then fails it); the restarted operator has to make it.
//   after:  the call took effect but its answer never arrives (`holdAnswerMs`); the restarted
//           operator must see that and not make it again.
// After each restart: exactly one application, the declared key and state (started again where
// it was started), Ready, and the same successful writes as the clean run: nothing repeated
// (a call that never took effect, sent again, is not a repeat; the contract allows no more).
import { ListApplicationsCommand } from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseSpec,
  condition,
  E2e,
  manifest,
  type Resource,
  reportFailures,
  waitFor,
} from '../support/e2e.js';

let e2e: E2e;
let keyA: string;
let keyB: string;
/** One row per case, printed at the end: scenario × write × window -> outcome. */
const table: string[] = [];

beforeAll(async () => {
  e2e = await E2e.start('e2e-crash');
  [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
});

afterAll(async () => {
  if (table.length) console.log(`crash table\n${table.join('\n')}`);
  await e2e?.stop();
});

reportFailures(() => e2e);

type Window = 'before' | 'after';

interface Scenario {
  name: string;
  /** The end state, as the crash table shows it. */
  declared: string;
  /** Brings resource `name` to where the scenario starts (Ready); answers its application's id. */
  setup(name: string): Promise<string | undefined>;
  /** What the user does: the apply or delete that makes the writes. */
  change(name: string): Promise<void>;
  /** Waits for the declared end state; answers the application's id. */
  settled(name: string, idBefore: string | undefined): Promise<string>;
}

const withKey = (name: string, key: string | Record<string, never>, extra: Record<string, unknown> = {}) =>
  manifest(
    name,
    baseSpec(name, {
      diskEncryptionConfiguration: typeof key === 'string' ? { encryptionKeyArn: key } : key,
      ...extra,
    }),
  );

const stopWhenIdle = { updateStrategy: 'StopWhenIdle', autoStopConfiguration: { enabled: false } };

async function readyWith(name: string, what: string, probe: (r: Resource) => boolean): Promise<string> {
  const r = await e2e.waitForResource(
    name,
    `Ready and ${what}`,
    (x) =>
      condition(x, 'Ready')?.status === 'True' &&
      condition(x, 'Ready')?.observedGeneration === x.metadata.generation &&
      !x.status?.restartAfterUpdate &&
      probe(x) &&
      x,
    40_000,
  );
  return r.status!.applicationId!;
}

async function createReady(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  await e2e.apply(withKey(name, keyA, extra));
  return readyWith(name, 'key A', (r) => r.status?.diskEncryption?.encryptionKeyArn === keyA);
}

async function startedReady(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await createReady(name, extra);
  await e2e.aws.patchApplication(id, { state: 'STARTED' });
  return readyWith(name, 'STARTED', (r) => r.status?.state === 'STARTED');
}

const scenarios: Scenario[] = [
  {
    name: 'create with a key',
    declared: 'Ready, key A, CREATED',
    setup: async () => undefined,
    change: async (name) => {
      await e2e.apply(withKey(name, keyA));
    },
    settled: (name) =>
      readyWith(name, 'key A, CREATED', (r) => r.status?.diskEncryption?.encryptionKeyArn === keyA),
  },
  {
    name: 'key change',
    declared: 'Ready, key B',
    setup: (name) => createReady(name),
    change: async (name) => {
      await e2e.apply(withKey(name, keyB));
    },
    settled: (name) => readyWith(name, 'key B', (r) => r.status?.diskEncryption?.encryptionKeyArn === keyB),
  },
  {
    name: '{} (back to the AWS-owned key)',
    declared: 'Ready, AWS-owned key',
    setup: (name) => createReady(name),
    change: async (name) => {
      await e2e.apply(withKey(name, {}));
    },
    settled: (name) => readyWith(name, 'AWS-owned key', (r) => r.status?.diskEncryption?.mode === 'AwsOwned'),
  },
  {
    // The repro: a tag, the key and the release label at once on a STARTED application.
    name: 'StopWhenIdle stop-update-start',
    declared: 'Ready, key B, emr-7.6.0, tag b, STARTED again',
    setup: (name) => startedReady(name, { ...stopWhenIdle, tags: { team: 'a' } }),
    change: async (name) => {
      await e2e.apply(
        withKey(name, keyB, { ...stopWhenIdle, tags: { team: 'b' }, releaseLabel: 'emr-7.6.0' }),
      );
    },
    settled: (name) =>
      readyWith(
        name,
        'key B, STARTED again',
        (r) => r.status?.diskEncryption?.encryptionKeyArn === keyB && r.status?.state === 'STARTED',
      ).then(async (id) => {
        expect(await e2e.application(id)).toMatchObject({ releaseLabel: 'emr-7.6.0', tags: { team: 'b' } });
        return id;
      }),
  },
  {
    name: 'deletion of a STARTED application',
    declared: 'resource gone, application TERMINATED',
    setup: (name) => startedReady(name),
    change: async (name) => {
      await e2e.kubectl(['delete', 'emrsa', name, '--wait=false']);
    },
    settled: async (name, id) => {
      await e2e.waitGone(name, 40_000);
      await waitFor(
        'the application TERMINATED',
        async () => (await e2e.application(id!)).state === 'TERMINATED',
      );
      return id!;
    },
  },
];

async function applicationsNamed(name: string): Promise<Array<{ id: string; state: string }>> {
  const client = e2e.emrClient();
  try {
    const out = await client.send(new ListApplicationsCommand({ maxResults: 50 }));
    return (out.applications ?? [])
      .filter((a) => a.name === name)
      .map((a) => ({ id: a.id!, state: a.state! }));
  } finally {
    client.destroy();
  }
}

/** Successful writes to one application since `mark`, counted per operation. */
async function writeCounts(mark: number, applicationId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const op of await e2e.writesSince(mark, applicationId)) counts[op] = (counts[op] ?? 0) + 1;
  return counts;
}

/** Kills the operator inside `window` of the first `operation` call after `mark`. */
async function killInside(operation: string, window: Window, mark: number, name: string): Promise<void> {
  const diagnostics = () => e2e.diagnostics(name);
  if (window === 'before') {
    // Matched (and so removed) as soon as the call arrives; it then waits 1.5 s and fails.
    await waitFor(
      `${operation} in flight`,
      async () => !(await e2e.aws.faults()).some((f) => f.operation === operation),
      { timeoutMs: 30_000, intervalMs: 25, diagnostics },
    );
    await e2e.operator.kill('SIGKILL');
    // Let it fail while nobody listens, so the restarted operator cannot race it.
    await waitFor(
      `${operation} to fail unheard`,
      async () => (await e2e.callsSince(mark)).some((c) => c.operation === operation && c.status !== 200),
      { timeoutMs: 10_000, diagnostics },
    );
  } else {
    // Logged as soon as it takes effect; the answer is held.
    await waitFor(
      `${operation} to take effect`,
      async () => (await e2e.callsSince(mark)).some((c) => c.operation === operation && c.status === 200),
      { timeoutMs: 30_000, intervalMs: 25, diagnostics },
    );
    await e2e.operator.kill('SIGKILL');
  }
}

function fault(operation: string, window: Window) {
  return window === 'before'
    ? { operation, count: 1, latencyMs: 1_500, status: 500, message: 'the caller is gone' }
    : { operation, count: 1, holdAnswerMs: 60_000 };
}

describe('SIGKILL inside every AWS write of each scenario', () => {
  scenarios.forEach((scenario, s) => {
    it(`${scenario.name}: every write × both windows`, { timeout: 300_000 }, async () => {
      const clean = `crash${s}-clean`;
      const before = await scenario.setup(clean);
      let mark = await e2e.mark();
      await scenario.change(clean);
      const cleanId = await scenario.settled(clean, before);
      const expected = await writeCounts(mark, cleanId);
      const writes = (await e2e.writesSince(mark, cleanId)).filter((w, i, all) => all.indexOf(w) === i);
      expect(writes.length, 'the scenario makes AWS writes').toBeGreaterThan(0);
      // A fault matches an operation's first call: a scenario that makes one operation twice
      // would need the fault to skip calls.
      expect(
        Object.values(expected).every((n) => n === 1),
        JSON.stringify(expected),
      ).toBe(true);
      table.push(`${scenario.name} | clean run | ${writes.join(' -> ')}`);

      for (const operation of writes) {
        for (const window of ['before', 'after'] as const) {
          const name = `crash${s}-${operation.toLowerCase().replace('application', '')}-${window}`;
          const label = `${scenario.name} | ${operation} | killed ${window} the effect`;
          const idBefore = await scenario.setup(name);
          mark = await e2e.mark();
          await e2e.aws.fault(fault(operation, window));
          await scenario.change(name);
          await killInside(operation, window, mark, name);
          await e2e.aws.clearFaults();
          await e2e.startOperator();

          const id = await scenario.settled(name, idBefore);
          const apps = await applicationsNamed(name);
          expect(apps, label).toHaveLength(1);
          expect(apps[0]!.id, label).toBe(id);
          expect(await writeCounts(mark, id), label).toEqual(expected);
          table.push(`${label} | one application; ${scenario.declared}; writes as clean`);
        }
      }
    });
  });
});

/**
 * Applies `resource` with CreateApplication's answer held, and kills the operator once the create
 * took effect: the application exists, and the operator never heard of it. Answers the call.
 */
async function loseCreateAnswer(resource: Parameters<E2e['apply']>[0], mark: number) {
  await e2e.aws.fault({ operation: 'CreateApplication', count: 1, holdAnswerMs: 60_000 });
  await e2e.apply(resource);
  const created = await waitFor(
    'CreateApplication to take effect',
    async () =>
      (await e2e.callsSince(mark)).find((c) => c.operation === 'CreateApplication' && c.status === 200),
    { timeoutMs: 30_000, intervalMs: 25 },
  );
  await e2e.operator.kill('SIGKILL');
  await e2e.aws.clearFaults();
  return created;
}

// The answer of CreateApplication lost (the operator killed while it is held), the resource deleted
// meanwhile, and the listing lagging: the restarted operator's search by name and tag finds
// nothing at first. It keeps the finalizer (status.deletionSearch) and searches again a listing
// lag later, when the application shows: exactly one application in the end, as declared.
describe('a lost CreateApplication answer, then deletion, while ListApplications lags', () => {
  // The local service hides the application until the first empty search is recorded (however
  // slow the restart), then the test ends its lag: the listing catches up, well inside the
  // operator's lag.
  const LAG_MS = 120_000;
  const OPERATOR_LAG = '8s';

  it.each([
    ['Delete', 'deleted (TERMINATED)'],
    ['Retain', 'retained, released only once found'],
  ] as const)('deletionPolicy %s: one application, %s', { timeout: 120_000 }, async (policy, _end) => {
    const name = `lost-create-${policy.toLowerCase()}`;
    const diagnostics = () => e2e.diagnostics(name);
    if (!e2e.operator.running) await e2e.startOperator();
    const mark = await e2e.mark();
    await e2e.aws.setListingLag(LAG_MS);
    try {
      const created = await loseCreateAnswer(
        manifest(name, baseSpec(name, { deletionPolicy: policy })),
        mark,
      );
      const id = created.applicationId!;
      await e2e.kubectl(['delete', 'emrsa', name, '--wait=false']);
      const dying = await e2e.get(name);
      expect(dying.status?.applicationId, 'the answer was lost: no id recorded').toBeUndefined();
      expect(dying.status?.pendingCreate, 'written before CreateApplication was sent').toEqual({
        name,
        region: created.region,
        clientToken: dying.metadata.uid,
      });
      expect(dying.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');

      await e2e.startOperator([`--listing-lag=${OPERATOR_LAG}`]);
      // The first search finds nothing (the listing lags): the finalizer stays, and status says why.
      const held = await waitFor(
        `${name}: a search that found nothing, recorded`,
        async () => {
          if (!(await e2e.exists(name))) return 'released' as const;
          const r = await e2e.get(name);
          return r.status?.deletionSearch !== undefined && r;
        },
        { timeoutMs: 30_000, diagnostics },
      );
      if (held === 'released') {
        expect.fail(
          `the finalizer was released on the first, lagging search: application ${id} is left ${(await e2e.application(id)).state}`,
        );
      }
      expect(condition(held, 'Reconciling')?.message).toContain('may not be listed yet');
      expect(condition(held, 'Reconciling')?.message).toContain(
        `ListApplications in ${created.region} by name ${name}`,
      );
      await e2e.aws.setListingLag(0);
      await e2e.waitGone(name, 60_000);

      const apps = await applicationsNamed(name);
      expect(apps.map((a) => a.id)).toEqual([id]);
      const creates = (await e2e.callsSince(mark)).filter(
        (c) => c.operation === 'CreateApplication' && c.status === 200,
      );
      expect(creates).toHaveLength(1);
      const released = (await e2e.events(name)).map((e) => e.reason);
      if (policy === 'Delete') {
        expect((await e2e.application(id)).state).toBe('TERMINATED');
        expect(await e2e.writesSince(mark, id)).toEqual(['CreateApplication', 'DeleteApplication']);
      } else {
        expect((await e2e.application(id)).state).not.toBe('TERMINATED');
        expect(released).toContain('Retained');
        expect(await e2e.writesSince(mark, id)).toEqual(['CreateApplication']);
      }
      table.push(
        `lost CreateApplication answer + delete (${policy}), listing lagging | ${creates.length} CreateApplication, one application; ${policy === 'Delete' ? 'TERMINATED' : 'retained'}, finalizer released after`,
      );
    } finally {
      await e2e.aws.setListingLag(0);
      await e2e.aws.clearFaults();
    }
  });
});

// The answer of CreateApplication lost (the operator killed while it is held), and the tenant then
// moves spec.region. The create was written ahead (status.pendingCreate: name, region, client
// token), so admission refuses the move, and the restarted operator searches where the create
// was sent, not where spec points; with the listing lagging, it waits a listing lag rather than
// create again. Exactly one application, bound and managed.
describe('a lost CreateApplication answer, then a region change, while ListApplications lags', () => {
  // The local service hides the application until the first empty search is recorded (however
  // slow the restart), then the test ends its lag: the listing catches up, well inside the
  // operator's lag.
  const LAG_MS = 120_000;
  const OPERATOR_LAG = '8s';
  const OTHER_REGION = 'us-west-2';

  it('the change is refused at admission; one application, found where it was sent, bound and managed', {
    timeout: 120_000,
  }, async () => {
    const name = 'lost-create-moved';
    const diagnostics = () => e2e.diagnostics(name);
    if (!e2e.operator.running) await e2e.startOperator();
    const mark = await e2e.mark();
    await e2e.aws.setListingLag(LAG_MS);
    try {
      const created = await loseCreateAnswer(manifest(name, baseSpec(name)), mark);
      const id = created.applicationId!;
      const lost = await e2e.get(name);
      expect(lost.status?.applicationId, 'the answer was lost: no id recorded').toBeUndefined();
      expect(lost.status?.pendingCreate, 'written before CreateApplication was sent').toEqual({
        name,
        region: created.region,
        clientToken: lost.metadata.uid,
      });

      // The tenant moves the region: refused, as after binding.
      const stderr = await e2e.applyRejected(manifest(name, baseSpec(name, { region: OTHER_REGION })));
      console.log(
        `kubectl apply (spec.region: ${OTHER_REGION}) while the create is pending:\n${stderr.trim()}`,
      );
      expect(stderr).toContain(
        `spec.region cannot be added, removed or changed: application ${name} is being created for this resource in ${created.region} (status.pendingCreate)`,
      );
      expect((await e2e.get(name)).spec).not.toHaveProperty('region');

      await e2e.startOperator([`--listing-lag=${OPERATOR_LAG}`]);
      // The first search (in the recorded region) finds nothing: no second create, the time recorded.
      const waiting = await waitFor(
        `${name}: a search that found nothing, recorded`,
        async () => {
          const r = await e2e.get(name);
          const seen =
            r.status?.pendingCreate?.notFoundSince !== undefined || r.status?.applicationId !== undefined;
          return seen ? r : false;
        },
        { timeoutMs: 30_000, diagnostics },
      );
      expect(
        waiting.status?.applicationId,
        'bound before the listing showed the application',
      ).toBeUndefined();
      expect(condition(waiting, 'Reconciling')?.message).toContain('may not be listed yet');
      await e2e.aws.setListingLag(0);

      const r = await e2e.waitForReady(name, 'True', 'Reconciled', 60_000);
      expect(r.status).toMatchObject({ applicationId: id, region: created.region, origin: 'Created' });
      expect(r.status?.pendingCreate).toBeUndefined();
      // Managed: a spec change reaches it.
      await e2e.apply(manifest(name, baseSpec(name, { tags: { team: 'b' } })));
      await waitFor('the tag applied', async () => {
        const tags = (await e2e.application(id)).tags as Record<string, string> | undefined;
        return tags?.team === 'b';
      });

      const calls = await e2e.callsSince(mark);
      const creates = calls.filter((c) => c.operation === 'CreateApplication' && c.status === 200);
      expect(creates.map((c) => `${c.region} ${c.applicationId}`)).toEqual([`${created.region} ${id}`]);
      expect(calls.filter((c) => c.region === OTHER_REGION)).toEqual([]);
      expect((await applicationsNamed(name)).map((a) => a.id)).toEqual([id]);
      table.push(
        `lost CreateApplication answer + region change, listing lagging | change refused at admission; ${creates.length} CreateApplication, one application (${created.region}), bound and managed`,
      );
    } finally {
      await e2e.aws.setListingLag(0);
      await e2e.aws.clearFaults();
    }
  });
});
