// The operator's Kubernetes client against a local HTTP server that answers as an API server
// would (429 with Retry-After, 5xx, 401, reset connections): which requests are sent again and
// when, the User-Agent, the credentials' refresh after a 401, and impersonation on the wire.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { KubeApiError, KubeClient, retryAfter, USER_AGENT } from '../../../src/kube/client.js';
import type { KubeConnection } from '../../../src/kube/config.js';
import { loadKubeConnection } from '../../../src/kube/config.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

type Answer = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

const servers: http.Server[] = [];
const clients: KubeClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A server answering the nth request (1-based) with answers[n-1], the last one after that. */
async function serve(
  answers: Answer[],
  port = 0,
): Promise<{ seen: Seen[]; url: string; server: http.Server }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: performance.now() });
    const answer = answers[Math.min(seen.length, answers.length) - 1] as Answer;
    req.resume();
    req.on('end', () => answer(req, res, seen.length));
  });
  servers.push(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const json =
  (status: number, body: unknown = {}, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

function client(
  server: string,
  authenticate?: KubeConnection['authenticate'],
  retry = { attempts: 4, initialMs: 20, maxMs: 100 },
): KubeClient {
  const kube = new KubeClient(
    {
      server,
      source: 'test',
      tls: { rejectUnauthorized: true },
      authenticate: authenticate ?? (async () => undefined),
    },
    { retry },
  );
  clients.push(kube);
  return kube;
}

describe('KubeClient', () => {
  it('names the operator and its version in the User-Agent of every request and watch', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const { seen, url } = await serve([json(200, { kind: 'Namespace' })]);
    const kube = client(url);
    await kube.request({ method: 'GET', path: '/api/v1/namespaces/a' });
    expect(seen[0]?.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(
      new RegExp(`^emr-serverless-operator/${pkg.version.replace(/\./g, '\\.')} \\(`),
    );
  });

  it('sends a read again after a 5xx and a reset connection, with backoff', async () => {
    const { seen, url } = await serve([
      json(503, { message: 'etcd leader changed' }),
      (req) => req.socket.destroy(),
      json(200, { items: [] }),
    ]);
    const answer = await client(url).request<{ items: unknown[] }>({ method: 'GET', path: '/api/v1/pods' });
    expect(answer).toEqual({ items: [] });
    expect(seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET']);
    // Backoff: 20 ms, then 40 ms (±20 %).
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(15);
    expect((seen[2]?.at ?? 0) - (seen[1]?.at ?? 0)).toBeGreaterThanOrEqual(30);
  });

  it('honours Retry-After on a 429, for reads and writes alike', async () => {
    const { seen, url } = await serve([
      json(429, { message: 'too many requests' }, { 'Retry-After': '1' }),
      json(201, { metadata: { name: 'x' } }),
    ]);
    await client(url).request({ method: 'POST', path: '/api/v1/namespaces/a/events', body: {} });
    expect(seen.map((s) => s.method)).toEqual(['POST', 'POST']);
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('does not send a write again after a 5xx without Retry-After or a reset: it may have been applied', async () => {
    const first = await serve([json(500, { message: 'internal error' }), json(201, {})]);
    const error = await client(first.url)
      .request({ method: 'PUT', path: '/apis/x/v1/things/a', body: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).code).toBe(500);
    expect(first.seen).toHaveLength(1);

    const reset = await serve([(req) => req.socket.destroy(), json(201, {})]);
    await expect(
      client(reset.url).request({ method: 'PATCH', path: '/apis/x/v1/things/a', body: {} }),
    ).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(reset.seen).toHaveLength(1);
  });

  it('sends a write again when the connection was refused (it never reached the server)', async () => {
    // A port that was free a moment ago; the server comes up 150 ms after the first attempt.
    const probe = http.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    // Attempts spread over more than a second, so the server is up before they run out.
    const kube = client(`http://127.0.0.1:${port}`, undefined, { attempts: 12, initialMs: 50, maxMs: 100 });
    const sent = kube.request({ method: 'POST', path: '/api/v1/namespaces/a/events', body: {} });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const { seen } = await serve([json(201, { ok: true })], port);
    await expect(sent).resolves.toEqual({ ok: true });
    expect(seen).toHaveLength(1);
  });

  it('gives up after the attempts, and on a Retry-After longer than it waits', async () => {
    const down = await serve([json(503, { message: 'unavailable' })]);
    await expect(client(down.url).request({ method: 'GET', path: '/api/v1/pods' })).rejects.toThrow(
      /HTTP 503/,
    );
    expect(down.seen).toHaveLength(4);
    const later = await serve([json(429, {}, { 'Retry-After': '3600' })]);
    await expect(client(later.url).request({ method: 'GET', path: '/api/v1/pods' })).rejects.toThrow(
      /HTTP 429/,
    );
    expect(later.seen).toHaveLength(1);
    expect(retryAfter('7')).toBe(7);
    expect(retryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThanOrEqual(9);
    expect(retryAfter('soon')).toBeUndefined();
  });

  it('on a 401 fetches fresh credentials once and sends the request again', async () => {
    let token = 1;
    let refreshes = 0;
    const authenticate: KubeConnection['authenticate'] = async (options) => {
      options.headers.Authorization = `Bearer t${token}`;
      return () => {
        refreshes++;
        token++;
        return true;
      };
    };
    const { seen, url } = await serve([
      (req, res, _n) => json(req.headers.authorization === 'Bearer t2' ? 201 : 401, {})(req, res, 0),
    ]);
    await client(url, authenticate).request({
      method: 'POST',
      path: '/api/v1/namespaces/a/events',
      body: {},
    });
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    expect(refreshes).toBe(1);

    // Refused again with the fresh credentials: the 401 is the answer (no loop).
    const refusing = await serve([json(401, { message: 'Unauthorized' })]);
    await expect(
      client(refusing.url, authenticate).request({ method: 'GET', path: '/api/v1/pods' }),
    ).rejects.toThrow(/HTTP 401/);
    expect(refusing.seen).toHaveLength(2);
  });

  it('retries a watch start after a 5xx, but answers a 410 at once (the caller lists again)', async () => {
    const { seen, url } = await serve([
      json(503, {}),
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
        res.end();
      },
    ]);
    const events: string[] = [];
    let ended = false;
    await client(url).watch(
      '/api/v1/pods',
      { resourceVersion: '5' },
      (type, object) => events.push(`${type} ${(object as { metadata: { name: string } }).metadata.name}`),
      () => {
        ended = true;
      },
    );
    await expect.poll(() => ended).toBe(true);
    expect(events).toEqual(['ADDED a']);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.url).toBe('/api/v1/pods?resourceVersion=5&watch=true');

    const gone = await serve([json(410, { reason: 'Expired', code: 410 })]);
    const error = await client(gone.url)
      .watch(
        '/api/v1/pods',
        {},
        () => {},
        () => {},
      )
      .catch((e: unknown) => e);
    expect((error as KubeApiError).code).toBe(410);
    expect(gone.seen).toHaveLength(1);
  });

  it("sends a kubeconfig user's impersonation on the wire", async () => {
    const { seen, url } = await serve([json(200, {})]);
    const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
    const path = join(dir, 'config');
    writeFileSync(
      path,
      stringify({
        'current-context': 'c',
        clusters: [{ name: 'c', cluster: { server: url } }],
        users: [{ name: 'u', user: { token: 'abc', as: 'jane', 'as-groups': ['devs', 'ops'] } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const kube = new KubeClient(await loadKubeConnection({ path }));
    clients.push(kube);
    await kube.request({ method: 'GET', path: '/api/v1/pods' });
    expect(seen[0]?.headers['impersonate-user']).toBe('jane');
    // One header line per group, as kubectl sends them (Node's server joins them with ', ').
    expect(seen[0]?.headers['impersonate-group']).toBe('devs, ops');
    expect(seen[0]?.headers.authorization).toBe('Bearer abc');
  });
});
