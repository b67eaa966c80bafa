// AwsClients end to end: rate limit, SDK retries, call observation, key routing and caching,
// against the local service through the real SDK.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AwsClients,
  type AwsClientsOptions,
  credentialsConfigured,
  placeholderCredentials,
} from '../../src/aws/clients.js';
import { KeyVerifier } from '../../src/aws/keys.js';
import type { AwsCallEvent } from '../../src/aws/middleware.js';
import { SHARED_TENANT } from '../../src/aws/tenant.js';
import type { Call } from '../../src/emulator/index.js';
import { rejection, UNKNOWN_KEY_ARN, useLocalService } from './local-service.js';

const REGION = 'us-east-1';
const service = useLocalService();

const opened: AwsClients[] = [];
afterEach(() => {
  for (const clients of opened.splice(0)) clients.close();
});

function newClients(options: AwsClientsOptions = {}): { clients: AwsClients; events: AwsCallEvent[] } {
  const events: AwsCallEvent[] = [];
  const clients = new AwsClients({
    endpoint: service.endpoint,
    observer: { onCall: (e) => events.push(e) },
    ...options,
  });
  opened.push(clients);
  return { clients, events };
}

const countBy = <T>(items: T[], key: (item: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
};

/** Seconds between the first and the last call the service received. */
const spanSeconds = (calls: Call[]): number =>
  (Date.parse(calls.at(-1)?.at ?? '') - Date.parse(calls[0]?.at ?? '')) / 1000;

describe('rate limit', () => {
  it('holds a region to rps: 30 calls at 20 rps with a burst of 1 take about 1.5 s', async () => {
    const { clients } = newClients({ rps: 20, burst: 1 });
    const port = clients.forRegion(REGION);
    await Promise.all(Array.from({ length: 30 }, () => port.getApplication('0000unknown')));
    const calls = await service.control.calls();
    expect(calls).toHaveLength(30);
    expect(spanSeconds(calls)).toBeGreaterThanOrEqual(1.4);
  });

  it('lets the default burst (= rps) through at once, then holds to rps', async () => {
    const { clients } = newClients({ rps: 20 });
    const port = clients.forRegion(REGION);
    await Promise.all(Array.from({ length: 30 }, () => port.getApplication('0000unknown')));
    const calls = await service.control.calls();
    // 20 at once, then 10 at 20 rps: the last arrives 0.5 s after the burst. The span is taken
    // where calls arrive, and a loaded machine delays the burst's first arrival (measured: 0.44 s);
    // 0.4 still tells a held rate from none (about 0) and from a burst of 1 (about 1.45 s).
    expect(spanSeconds(calls)).toBeGreaterThanOrEqual(0.4);
    expect(spanSeconds(calls)).toBeLessThan(1.4);
  });

  it('shares one bucket between EMR Serverless and KMS of a region', async () => {
    const { clients } = newClients({ rps: 20, burst: 1 });
    const key = await service.control.createKey();
    const port = clients.forRegion(REGION);
    await Promise.all([
      ...Array.from({ length: 15 }, () => port.getApplication('0000unknown')),
      ...Array.from({ length: 15 }, () => port.describeKey(key.Arn)),
    ]);
    const calls = await service.control.calls();
    expect(new Set(calls.map((c) => c.service))).toEqual(new Set(['emr-serverless', 'kms']));
    expect(spanSeconds(calls)).toBeGreaterThanOrEqual(1.4);
  });

  it('gives each region its own bucket', async () => {
    // 1 rps, burst 1, two calls per region: about 1 s with a bucket each, 3 s with one shared. The
    // span is taken where the calls arrive, so a loaded machine can delay the first call's arrival
    // (measured: 0.917 s); 0.5 s still tells a limited region from an unlimited one (about 0).
    const { clients } = newClients({ rps: 1, burst: 1 });
    const east = clients.forRegion(REGION);
    const west = clients.forRegion('eu-west-1');
    await Promise.all([
      ...Array.from({ length: 2 }, () => east.getApplication('0000unknown')),
      ...Array.from({ length: 2 }, () => west.getApplication('0000unknown')),
    ]);
    const span = spanSeconds(await service.control.calls());
    expect(span).toBeGreaterThanOrEqual(0.5);
    expect(span).toBeLessThan(2.5);
  });

  it('makes every SDK retry take a token too', async () => {
    const { clients } = newClients({ rps: 2, burst: 1 });
    await service.control.fault({ operation: 'GetApplication', status: 500, count: 2 });
    await clients.forRegion(REGION).getApplication('0000unknown');
    const calls = await service.control.calls();
    expect(calls.map((c) => c.status)).toEqual([500, 500, 404]);
    // Three attempts at 2 rps: 0, 0.5 and 1 s. The SDK's own 5xx backoff alone is ~0.1-0.3 s.
    expect(spanSeconds(calls)).toBeGreaterThanOrEqual(0.9);
  });

  it('serves namespaces in turn: a burst of one namespace does not delay another by the whole burst', async () => {
    // 40 calls of one namespace queued, then 4 of another: in turn, the 4 are through within
    // about 8 more tokens; first come, first served, only after the 40. Told by the order in
    // which calls end, which a loaded machine does not change.
    const { clients, events } = newClients({ rps: 20, burst: 1 });
    const noisyPort = clients.forRegion(REGION, 'noisy');
    const quietPort = clients.forRegion(REGION, 'quiet');
    const noisy = Promise.all(Array.from({ length: 40 }, () => noisyPort.getApplication('0000unknown')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all(Array.from({ length: 4 }, () => quietPort.getApplication('0000unknown')));
    await noisy;
    const lastQuiet = events.map((e) => e.namespace).lastIndexOf('quiet');
    expect(lastQuiet).toBeLessThan(16);
    expect(countBy(events, (e) => e.namespace)).toEqual({ noisy: 40, quiet: 4 });
  });

  it('reports calls made for no single namespace as _shared', async () => {
    const { clients, events } = newClients();
    await clients.forRegion(REGION).getApplication('0000unknown');
    expect(events.map((e) => e.namespace)).toEqual([SHARED_TENANT]);
  });

  it('reuses one port per region', () => {
    const { clients } = newClients();
    expect(clients.forRegion(REGION)).toBe(clients.forRegion(REGION));
    expect(clients.forRegion('eu-west-1')).not.toBe(clients.forRegion(REGION));
    expect(clients.forRegion('eu-west-1').region).toBe('eu-west-1');
  });
});

describe('retries and errors', () => {
  it('retries throttling, succeeds, reports the attempts, and slows the region down', async () => {
    const { clients, events } = newClients({ rps: 50 });
    const port = clients.forRegion(REGION);
    await service.control.fault({ operation: 'ListApplications', status: 429, count: 2 });

    expect(await port.listApplications()).toBeInstanceOf(Array);
    const calls = await service.control.calls();
    expect(calls.map((c) => c.status)).toEqual([429, 429, 200]);
    expect(events).toEqual([
      expect.objectContaining({
        region: REGION,
        service: 'emr-serverless',
        operation: 'ListApplications',
        outcome: 'success',
        attempts: 3,
        throttledAttempts: 2,
      }),
    ]);
    expect(clients.bucketFor(REGION).currentRate).toBeLessThan(50);
  });

  it('retries ThrottlingException by name whatever the status', async () => {
    const { clients } = newClients();
    await service.control.fault({
      operation: 'GetApplication',
      status: 400,
      errorType: 'ThrottlingException',
      count: 1,
    });
    expect(await clients.forRegion(REGION).getApplication('0000unknown')).toBeUndefined();
    expect((await service.control.calls()).map((c) => c.status)).toEqual([400, 404]);
  });

  it('retries a 5xx and succeeds', async () => {
    const { clients, events } = newClients();
    await service.control.fault({ operation: 'GetApplication', status: 503, count: 1 });
    expect(await clients.forRegion(REGION).getApplication('0000unknown')).toBeUndefined();
    expect((await service.control.calls()).map((c) => c.status)).toEqual([503, 404]);
    // A 404 on GetApplication is an answer for the port but a notFound call for the metrics.
    expect(events[0]).toMatchObject({ operation: 'GetApplication', outcome: 'notFound', attempts: 2 });
  });

  it('gives up after maxAttempts with a transient AwsError', async () => {
    const { clients, events } = newClients({ maxAttempts: 2 });
    await service.control.fault({ operation: 'ListApplications', status: 500 });
    const error = await rejection(clients.forRegion(REGION).findOwnedApplication('x', 'uid'));
    expect(error).toMatchObject({ name: 'AwsError', kind: 'transient', code: 'InternalServerException' });
    expect(await service.control.calls()).toHaveLength(2);
    expect(events[0]).toMatchObject({ outcome: 'transient', attempts: 2, throttledAttempts: 0 });
  });

  it('does not retry client errors', async () => {
    const { clients } = newClients();
    await service.control.fault({
      operation: 'StartApplication',
      errorType: 'AccessDeniedException',
      status: 403,
    });
    expect(await rejection(clients.forRegion(REGION).startApplication('00app'))).toMatchObject({
      kind: 'accessDenied',
    });
    expect(await service.control.calls()).toHaveLength(1);
  });

  it('answers a refused connection as transient', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const { clients, events } = newClients({ endpoint: `http://127.0.0.1:${closedPort}`, maxAttempts: 1 });
    const error = await rejection(clients.forRegion(REGION).getApplication('00app'));
    expect(error).toMatchObject({ kind: 'transient', code: 'ECONNREFUSED' });
    expect(events[0]).toMatchObject({ outcome: 'transient' });
  });

  it('reports KMS calls as service kms', async () => {
    const { clients, events } = newClients();
    await clients.forRegion(REGION).describeKey(UNKNOWN_KEY_ARN);
    expect(events).toEqual([
      expect.objectContaining({ service: 'kms', operation: 'DescribeKey', outcome: 'notFound' }),
    ]);
  });
});

describe('KeyVerifier over AwsClients', () => {
  it("asks KMS in the key's own region", async () => {
    const { clients } = newClients();
    const verifier = new KeyVerifier(clients);
    const west = await service.control.createKey({ region: 'us-west-2' });
    const frankfurt = await service.control.createKey({ region: 'eu-central-1', account: '444455556666' });
    expect(await verifier.describe(west.Arn)).toMatchObject({ kind: 'found', arn: west.Arn });
    expect(await verifier.describe(frankfurt.Arn)).toMatchObject({ kind: 'found', arn: frankfurt.Arn });
    const describes = (await service.control.calls()).filter((c) => c.operation === 'DescribeKey');
    expect(describes.map((c) => c.region)).toEqual(['us-west-2', 'eu-central-1']);
  });

  it('makes one DescribeKey for many resources sharing a key, and asks again after the TTL', async () => {
    const { clients } = newClients();
    let clock = 0;
    const verifier = new KeyVerifier(clients, { ttlMs: 60_000, now: () => clock });
    const key = await service.control.createKey();
    const answers = await Promise.all(Array.from({ length: 25 }, () => verifier.describe(key.Arn)));
    expect(answers.every((a) => a.kind === 'found')).toBe(true);
    await verifier.describe(key.Arn);
    const describeKeys = async () =>
      (await service.control.calls()).filter((c) => c.operation === 'DescribeKey').length;
    expect(await describeKeys()).toBe(1);

    // Disabled in KMS: seen once the cached answer expires.
    await service.control.setKeyState(key.Arn, 'Disabled');
    clock = 59_999;
    expect(await verifier.describe(key.Arn)).toMatchObject({ keyState: 'Enabled' });
    clock = 60_000;
    expect(await verifier.describe(key.Arn)).toMatchObject({ keyState: 'Disabled' });
    expect(await describeKeys()).toBe(2);
  });
});

describe('credentials', () => {
  it('counts environment variables and shared files as configured credentials', () => {
    const none = {
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_CONFIG_FILE: '/nonexistent/config',
    };
    expect(credentialsConfigured(none)).toBe(false);
    expect(credentialsConfigured({ ...none, AWS_ACCESS_KEY_ID: 'AKIA' })).toBe(true);
    expect(credentialsConfigured({ ...none, AWS_PROFILE: 'dev' })).toBe(true);
    expect(credentialsConfigured({ ...none, AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token' })).toBe(true);
    expect(credentialsConfigured({ ...none, AWS_CONFIG_FILE: new URL(import.meta.url).pathname })).toBe(true);
  });

  it('uses placeholder credentials only for an explicit endpoint with nothing configured', () => {
    const none = {
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_CONFIG_FILE: '/nonexistent/config',
    };
    const endpoint = 'http://127.0.0.1:4566';
    expect(placeholderCredentials(endpoint, none)).toBeDefined();
    expect(placeholderCredentials(endpoint, { ...none, AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token' })).toBe(
      undefined,
    );
    // Against AWS itself, never: a missing identity must fail, not sign with made-up keys.
    expect(placeholderCredentials(undefined, none)).toBe(undefined);
    expect(placeholderCredentials('', none)).toBe(undefined);

    const toAws = new AwsClients({ env: none });
    const toLocal = new AwsClients({ endpoint, env: none });
    try {
      expect(toAws.placeholderCredentials).toBe(false);
      expect(toLocal.placeholderCredentials).toBe(true);
    } finally {
      toAws.close();
      toLocal.close();
    }
  });
});
