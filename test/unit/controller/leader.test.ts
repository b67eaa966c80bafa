// The leader's write guard (holdsLease): how long after a renewal the leader may still write.
// A peer sees a renewal no earlier than it was sent, so the window must be counted from the send,
// on a clock that NTP cannot step. The lease API here is an in-memory Lease with resourceVersions
// whose answers can be delayed or refused.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../../src/controller/leader.js';
import { KubeApiError, type KubeClient, type KubeRequest } from '../../../src/kube/client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One Lease; `answerDelayMs` delays each answer, `failing` refuses every request with a 500. */
function leaseApi() {
  let lease: Record<string, unknown> | undefined;
  let version = 0;
  const api = {
    answerDelayMs: 0,
    failing: false,
    writesSentAt: [] as number[],
    request: async <T>(req: KubeRequest): Promise<T> => {
      if (req.method !== 'GET') api.writesSentAt.push(performance.now());
      const delay = api.answerDelayMs;
      if (api.failing) throw new KubeApiError(500, { message: 'etcd unavailable' }, req.method, req.path);
      let answer: unknown;
      if (req.method === 'GET') {
        if (!lease) throw new KubeApiError(404, {}, 'GET', req.path);
        answer = lease;
      } else {
        const body = req.body as { metadata: Record<string, unknown> };
        lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
        answer = lease;
      }
      await sleep(delay);
      return structuredClone(answer) as T;
    },
  };
  return api;
}

const electors: LeaderElector[] = [];
afterEach(async () => {
  for (const elector of electors.splice(0)) await elector.release();
});

function elector(api: ReturnType<typeof leaseApi>, now?: () => number) {
  let started = false;
  const e = new LeaderElector({
    kube: api as unknown as KubeClient,
    namespace: 'ops',
    leaseDurationMs: 3_000,
    renewDeadlineMs: 1_000,
    retryPeriodMs: 200,
    logger: pino({ level: 'silent' }),
    onStartedLeading: () => {
      started = true;
    },
    onLost: () => {},
    ...(now && { now }),
  });
  electors.push(e);
  return { elector: e, started: () => started };
}

async function untilLeading(e: { elector: LeaderElector; started: () => boolean }) {
  e.elector.start();
  while (!e.started()) await sleep(10);
}

describe('LeaderElector write guard', () => {
  it('counts the renew deadline from when the lease write was sent, not when its answer came', async () => {
    const api = leaseApi();
    api.answerDelayMs = 600;
    const e = elector(api);
    await untilLeading(e);
    const sentAt = api.writesSentAt.at(-1) as number;
    // Every renewal from now on fails: the last write that held the lease is the one above.
    api.failing = true;
    await sleep(sentAt + 1_000 + 50 - performance.now());
    // 1050 ms after the send, 450 ms after the answer: a peer may already count our lease down.
    expect(e.elector.holdsLease()).toBe(false);
  });

  it('is not widened by the wall clock stepping back', async () => {
    const api = leaseApi();
    let offset = 0;
    const e = elector(api, () => Date.now() + offset);
    await untilLeading(e);
    const sentAt = api.writesSentAt.at(-1) as number;
    expect(e.elector.holdsLease()).toBe(true);
    api.failing = true;
    offset = -3_600_000; // NTP steps the clock back an hour
    await sleep(sentAt + 1_000 + 50 - performance.now());
    expect(e.elector.holdsLease()).toBe(false);
  });
});
