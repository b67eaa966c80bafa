// Drift found by listing (`--drift-detection=list`, the default) on a real API server, with the
// operator as a process: an out-of-band key change (control API, and UpdateApplication through
// the SDK) is reverted within one resync period; a tag change, which does not move updatedAt, within
// one full-read period; in sync, resyncs list rather than read. And `--drift-detection=get` reads
// every application on every resync without listing.
import { UpdateApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../src/emulator/index.js';
import { baseSpec, E2e, manifest, RESYNC_MS, reportFailures, sleep, waitFor } from '../support/e2e.js';

/** `--full-read-every 3`: a full read at least every 3 resync periods of 2 s. */
const FULL_READ_EVERY = 3;
/** A resync is at most 10 % late (jitter); the rest covers a reconcile on a busy machine. */
const ONE_RESYNC_MS = RESYNC_MS * 1.1 + 1_500;
const ONE_FULL_READ_MS = FULL_READ_EVERY * RESYNC_MS * 1.1 + 1_500;

let e2e: E2e;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-drift', { operatorArgs: [`--full-read-every=${FULL_READ_EVERY}`] });
  [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Applies a resource with key A and waits until it is Ready and its view confirmed (two reads agree). */
async function inSync(name: string): Promise<string> {
  await e2e.apply(
    manifest(
      name,
      baseSpec(name, { tags: { team: 'data' }, diskEncryptionConfiguration: { encryptionKeyArn: keyA } }),
    ),
  );
  const r = await e2e.waitForReady(name, 'True', 'Reconciled');
  const id = r.status!.applicationId!;
  const mark = await e2e.mark();
  await waitFor(`${name}: a second read`, async () =>
    (await e2e.callsSince(mark, id)).some((c) => c.operation === 'GetApplication'),
  );
  return id;
}

/**
 * Milliseconds from `since` until the operator's first successful `operation` on the application
 * after `mark`; `skip` such calls made by the test itself come first.
 */
async function foundAfter(
  mark: number,
  id: string,
  operation: string,
  since: number,
  timeoutMs: number,
  skip = 0,
) {
  const call = await waitFor(
    `${operation} on ${id}`,
    async () =>
      (await e2e.callsSince(mark, id)).filter((c: Call) => c.operation === operation && c.status === 200)[
        skip
      ],
    { timeoutMs },
  );
  return Date.parse(call.at) - since;
}

describe('drift detection by listing', () => {
  it('in sync, resyncs list the applications and read each only once per full-read period', async () => {
    const id = await inSync('quiet');
    const mark = await e2e.mark();
    const periods = 2 * FULL_READ_EVERY;
    await sleep(periods * RESYNC_MS);
    const calls = await e2e.callsSince(mark);
    const ofApp = calls.filter((c) => c.applicationId === id);
    const lists = calls.filter((c) => c.operation === 'ListApplications');
    // One call per resync: a listing page, or the full read every third resync (one resource:
    // nobody else refreshes the listing in between). Two full-read periods hold one or two full
    // reads, and three at most with the jitter at the window's edges.
    const reads = ofApp.filter((c) => c.operation === 'GetApplication').length;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(3);
    expect(lists.length).toBeGreaterThanOrEqual(periods - 3);
    expect(reads + lists.length).toBeLessThanOrEqual(periods + 1);
    expect(await e2e.writesSince(mark)).toEqual([]);
  });

  it('a key changed through the control API is put back within one resync period', async () => {
    const id = await inSync('control');
    const mark = await e2e.mark();
    const changed = Date.now();
    await e2e.aws.patchApplication(id, { diskEncryptionConfiguration: { encryptionKeyArn: keyB } });
    expect(await foundAfter(mark, id, 'UpdateApplication', changed, ONE_RESYNC_MS + 2_000)).toBeLessThan(
      ONE_RESYNC_MS,
    );
    expect((await e2e.application(id)).diskEncryptionConfiguration).toMatchObject({ encryptionKeyArn: keyA });
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
  });

  it('a key changed with UpdateApplication through the SDK is put back within one resync period', async () => {
    const id = await inSync('sdk');
    const mark = await e2e.mark();
    const client = e2e.emrClient();
    const changed = Date.now();
    try {
      await client.send(
        new UpdateApplicationCommand({
          applicationId: id,
          diskEncryptionConfiguration: { encryptionKeyArn: keyB },
        }),
      );
    } finally {
      client.destroy();
    }
    // The first UpdateApplication after the mark is the test's own.
    expect(await foundAfter(mark, id, 'UpdateApplication', changed, ONE_RESYNC_MS + 2_000, 1)).toBeLessThan(
      ONE_RESYNC_MS,
    );
    expect((await e2e.application(id)).diskEncryptionConfiguration).toMatchObject({ encryptionKeyArn: keyA });
  });

  it('a tag removed out of band (updatedAt unmoved) is put back within one full-read period', async () => {
    const id = await inSync('tags');
    const { team: _removed, ...tags } = (await e2e.application(id)).tags as Record<string, string>;
    const mark = await e2e.mark();
    const changed = Date.now();
    await e2e.aws.patchApplication(id, { tags });
    expect(await foundAfter(mark, id, 'TagResource', changed, ONE_FULL_READ_MS + 2_000)).toBeLessThan(
      ONE_FULL_READ_MS,
    );
    expect((await e2e.application(id)).tags).toMatchObject({ team: 'data' });
  });
});

describe('--drift-detection=get', () => {
  let get: E2e;
  beforeAll(async () => {
    get = await E2e.start('e2e-drift-get', { operatorArgs: ['--drift-detection=get'] });
  });
  afterAll(async () => {
    await get?.stop();
  });

  it('reads every application on every resync and never lists', async () => {
    const name = 'every-resync';
    await get.apply(manifest(name, baseSpec(name)));
    const id = (await get.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
    const mark = await get.mark();
    await sleep(3 * RESYNC_MS);
    const calls = await get.callsSince(mark);
    expect(calls.filter((c) => c.operation === 'ListApplications')).toEqual([]);
    expect(
      calls.filter((c) => c.operation === 'GetApplication' && c.applicationId === id).length,
    ).toBeGreaterThanOrEqual(2);
  });
});
