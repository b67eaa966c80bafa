// Persistent refusals of each kind, all at once, one application per kind: how many calls the
// operator makes while AWS keeps saying no. Every repeated failure backs off per resource
// (1 s doubling to 5 min, SDK retries inside each attempt), refused input (invalid) included;
// refusals that need a person elsewhere (access denied, quota) are Stalled and looked at again
// on resync only. Label and annotation edits never cut a backoff or that resync wait short.
//
// The window is 20 s here; `REFUSAL_WINDOW_S=60 npx vitest run test/e2e/backoff.test.ts` gives
// the per-minute figures. The operator runs with the default resync period (10 min), as users
// run it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fault } from '../../src/emulator/index.js';
import { baseSpec, E2e, manifest, reportFailures, sleep } from '../support/e2e.js';

const WINDOW_S = Number(process.env.REFUSAL_WINDOW_S ?? 20);
/** SDK attempts per call (standard retry mode): throttling and 5xx are retried inside a call. */
const SDK_ATTEMPTS = 3;
/** Reconciles in `seconds` with a backoff of 1 s doubling: at 0, 1, 3, 7, 15, 31 ... s. */
const backedOffReconciles = (seconds: number) => Math.floor(Math.log2(seconds + 1)) + 1;

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-backoff', { operatorArgs: ['--resync-period', '10m'] });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

interface Refusal {
  kind: string;
  fault: Omit<Fault, 'operation' | 'applicationId'>;
  /** Most UpdateApplication calls allowed in the window. */
  most: number;
}

const refusals: Refusal[] = [
  {
    kind: 'stateRace',
    // The message: reads like a state conflict, so it is retried, with backoff.
    fault: {
      errorType: 'ValidationException',
      status: 400,
      message:
        'Application must be in one of the following statuses to be updated: [STOPPED, CREATED]. Current status: STARTING',
    },
    most: backedOffReconciles(WINDOW_S),
  },
  { kind: 'throttled', fault: { status: 429 }, most: SDK_ATTEMPTS * backedOffReconciles(WINDOW_S) },
  { kind: 'transient', fault: { status: 500 }, most: SDK_ATTEMPTS * backedOffReconciles(WINDOW_S) },
  { kind: 'conflict', fault: { errorType: 'ConflictException' }, most: backedOffReconciles(WINDOW_S) },
  {
    kind: 'notFound',
    fault: { errorType: 'ResourceNotFoundException' },
    most: backedOffReconciles(WINDOW_S),
  },
  {
    kind: 'invalid',
    fault: { errorType: 'ValidationException', status: 400, message: 'maximumCapacity is invalid' },
    most: backedOffReconciles(WINDOW_S),
  },
  { kind: 'accessDenied', fault: { errorType: 'AccessDeniedException', status: 403 }, most: 1 },
  { kind: 'quota', fault: { errorType: 'ServiceQuotaExceededException' }, most: 1 },
];

describe('persistent refusals', () => {
  it(`UpdateApplication refused for ${WINDOW_S} s, each kind: calls stay within the backoff`, {
    timeout: 120_000 + WINDOW_S * 1000,
  }, async () => {
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    const spec = (name: string, key: string) =>
      manifest(name, baseSpec(name, { diskEncryptionConfiguration: { encryptionKeyArn: key } }));
    const names = refusals.map((r) => `refused-${r.kind.toLowerCase()}`);
    await Promise.all(names.map((n) => e2e.apply(spec(n, keyA))));
    const ids = await Promise.all(
      names.map(async (n) => (await e2e.waitForReady(n, 'True', 'Reconciled')).status!.applicationId!),
    );
    for (const [i, r] of refusals.entries()) {
      await e2e.aws.fault({ operation: 'UpdateApplication', applicationId: ids[i], rate: 1, ...r.fault });
    }

    const mark = await e2e.mark();
    await Promise.all(names.map((n) => e2e.apply(spec(n, keyB))));
    await sleep(WINDOW_S * 1000);
    const calls = await e2e.callsSince(mark);

    const rows = refusals.map((r, i) => {
      const mine = calls.filter((c) => c.applicationId === ids[i]);
      const updates = mine.filter((c) => c.operation === 'UpdateApplication').length;
      return { kind: r.kind, updates, allCalls: mine.length, most: r.most };
    });
    console.log(
      `calls in ${WINDOW_S} s under a persistent refusal of UpdateApplication\n` +
        rows.map((r) => `${r.kind}: UpdateApplication ${r.updates}, all calls ${r.allCalls}`).join('\n'),
    );
    for (const row of rows) {
      expect(row.updates, `${row.kind}: at least one attempt`).toBeGreaterThan(0);
      expect(row.updates, `${row.kind}: within the backoff`).toBeLessThanOrEqual(row.most);
    }
    const stateRace = await e2e.get(names[0]!);
    expect(stateRace.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(
      'ApplicationStateChanged',
    );

    // Once AWS takes the update, the backed-off resources converge (within their current backoff).
    await e2e.aws.clearFaults();
    await e2e.waitForResource(
      names[0]!,
      'key B once the refusal ends',
      (x) => x.status?.diskEncryption?.encryptionKeyArn === keyB && x,
      WINDOW_S * 1000 + 20_000,
    );
  });
});

describe('metadata-only edits', () => {
  it('kubectl annotate and label in a loop do not cut the backoff of a refused resource short', {
    timeout: 120_000,
  }, async () => {
    // One resource whose updates AWS refuses as a conflict (retried), one whose create AWS
    // refuses as invalid input (Stalled AwsRejected, the finalizer set and no application).
    const key = await e2e.createKey();
    await e2e.apply(manifest('poked-conflict', baseSpec('poked-conflict')));
    const id = (await e2e.waitForReady('poked-conflict', 'True', 'Reconciled')).status!.applicationId!;
    await e2e.aws.fault({
      operation: 'UpdateApplication',
      applicationId: id,
      rate: 1,
      errorType: 'ConflictException',
    });
    await e2e.apply(
      manifest(
        'poked-conflict',
        baseSpec('poked-conflict', { diskEncryptionConfiguration: { encryptionKeyArn: key } }),
      ),
    );
    // A release label admission lets through and AWS refuses (its pattern has no spaces).
    await e2e.apply(manifest('poked-rejected', baseSpec('poked-rejected', { releaseLabel: 'emr 7.5.0' })));
    await e2e.waitForReady('poked-rejected', 'False', 'AwsRejected');

    const mark = await e2e.mark();
    const started = Date.now();
    const edits = 16;
    for (let i = 0; i < edits; i++) {
      const verb = i % 2 === 0 ? 'annotate' : 'label';
      for (const name of ['poked-conflict', 'poked-rejected']) {
        await e2e.kubectl([verb, '--overwrite', 'emrsa', name, `poke=${i}`]);
      }
      await sleep(500);
    }
    const seconds = (Date.now() - started) / 1000;
    const calls = await e2e.callsSince(mark);
    const updates = calls.filter((c) => c.operation === 'UpdateApplication' && c.applicationId === id).length;
    const creates = calls.filter((c) => c.operation === 'CreateApplication' && c.status !== 200).length;
    console.log(
      `${edits} edits each in ${seconds.toFixed(1)} s: UpdateApplication ${updates}, refused CreateApplication ${creates}`,
    );
    // The backoff alone allows a retry at 1, 3, 7, 15 s...: edits add nothing to it.
    expect(updates).toBeLessThanOrEqual(backedOffReconciles(seconds) + 1);
    expect(creates).toBeLessThanOrEqual(backedOffReconciles(seconds) + 1);
    await e2e.aws.clearFaults();
  });
});
