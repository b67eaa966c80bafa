// Finding the API server and the credentials: kubeconfig files (each kind of user), KUBECONFIG
// lists, the pod's service account, impersonation, exec plugins, proxies, and what is refused.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { type KubeConnection, loadKubeConnection } from '../../../src/kube/config.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-config-'));
let n = 0;

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}, extra = {}) {
  const path = join(dir, `config-${n++}`);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'ctx',
      clusters: [{ name: 'c', cluster: { server: 'https://api.example:6443/', ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'team-a' } }],
      ...extra,
    }),
  );
  return path;
}

async function headersOf(connection: KubeConnection) {
  const options = { headers: {} as Record<string, string | string[]> };
  await connection.authenticate(options);
  return { headers: options.headers, options: options as Record<string, unknown> };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('loadKubeConnection from a kubeconfig file', () => {
  it('reads the server, the CA from a path relative to the file, the token and the namespace', async () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    const path = kubeconfig({ token: 'abc' }, { 'certificate-authority': 'ca.pem' });
    const connection = await loadKubeConnection({ path });
    expect(connection.server).toBe('https://api.example:6443');
    expect(connection.source).toBe(path);
    expect(connection.namespace).toBe('team-a');
    expect(connection.tls).toEqual({ rejectUnauthorized: true, ca: Buffer.from('CA PEM') });
    expect((await headersOf(connection)).headers).toEqual({ Authorization: 'Bearer abc' });
  });

  it('reads inline client certificates, insecure-skip-tls-verify and tls-server-name', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const path = kubeconfig(
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      {
        'certificate-authority-data': b64('CA'),
        'insecure-skip-tls-verify': true,
        'tls-server-name': 'kube',
      },
    );
    const connection = await loadKubeConnection({ path });
    expect(connection.tls).toEqual({
      rejectUnauthorized: false,
      ca: Buffer.from('CA'),
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
      servername: 'kube',
    });
    expect((await headersOf(connection)).headers).toEqual({});
  });

  it('sends basic auth', async () => {
    const connection = await loadKubeConnection({ path: kubeconfig({ username: 'admin', password: 'p:w' }) });
    expect((await headersOf(connection)).headers.Authorization).toBe(
      `Basic ${Buffer.from('admin:p:w').toString('base64')}`,
    );
  });

  it('reads a tokenFile again once a minute, so a rotated token is used', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokenFile = join(dir, 'token-file');
    writeFileSync(tokenFile, 'first\n');
    const connection = await loadKubeConnection({ path: kubeconfig({ tokenFile }) });
    writeFileSync(tokenFile, 'second\n');
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer first');
    vi.advanceTimersByTime(61_000);
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer second');
  });

  it('runs an exec credential plugin once and reuses its token until it expires', async () => {
    const calls = join(dir, 'exec-calls');
    const plugin = join(dir, 'exec-plugin.sh');
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    writeFileSync(
      plugin,
      `#!/bin/sh\necho "$CLUSTER_NAME" >> ${calls}\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin","expirationTimestamp":"${expires}"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const path = kubeconfig({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: plugin,
        args: [],
        env: [{ name: 'CLUSTER_NAME', value: 'prod' }],
      },
    });
    const connection = await loadKubeConnection({ path });
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer from-plugin');
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer from-plugin');
    expect(readFileSync(calls, 'utf8')).toBe('prod\n');
  });

  it('runs the exec plugin once for concurrent callers, again before expiry and once after a 401', async () => {
    const calls = join(dir, 'exec-calls-2');
    const plugin = join(dir, 'exec-plugin-2.sh');
    // Each run answers a new token that expires 90 s after it was made.
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> ${calls}\nn=$(wc -l < ${calls} | tr -d ' ')\nexp=$(date -u -d @$(( $(date +%s) + 90 )) +%Y-%m-%dT%H:%M:%SZ)\nsleep 0.2\necho "{\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"t$n\\",\\"expirationTimestamp\\":\\"$exp\\"}}"\n`,
    );
    chmodSync(plugin, 0o755);
    const connection = await loadKubeConnection({ path: kubeconfig({ exec: { command: plugin } }) });
    const runs = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean).length;
    // Ten watches, the lease and the workers asking at once: one plugin process.
    const first = await Promise.all(Array.from({ length: 10 }, () => headersOf(connection)));
    expect(new Set(first.map((h) => h.headers.Authorization))).toEqual(new Set(['Bearer t1']));
    expect(runs()).toBe(1);
    // A 401 to t1, reported by every request that used it: one new run.
    const refreshes = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const options = { headers: {} as Record<string, string | string[]> };
        return connection.authenticate(options);
      }),
    );
    expect(refreshes.map((refresh) => refresh?.())).toEqual([true, true, true, true, true]);
    const second = await Promise.all(Array.from({ length: 5 }, () => headersOf(connection)));
    expect(new Set(second.map((h) => h.headers.Authorization))).toEqual(new Set(['Bearer t2']));
    expect(runs()).toBe(2);
    // Less than a minute before expiry (90 s tokens: half their life), the plugin runs again.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 46_000 });
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer t3');
    expect(runs()).toBe(3);
  });

  it('says why an exec plugin failed, with its install hint', async () => {
    const connection = await loadKubeConnection({
      path: kubeconfig({
        exec: { command: join(dir, 'no-such-plugin'), installHint: 'install aws-cli v2' },
      }),
    });
    await expect(headersOf(connection)).rejects.toThrow(
      /no-such-plugin failed: .*ENOENT[\s\S]*install aws-cli v2/,
    );
  });

  it('sends impersonation (as, as-groups, as-uid, as-user-extra) as Impersonate-* headers', async () => {
    const connection = await loadKubeConnection({
      path: kubeconfig({
        token: 'abc',
        as: 'system:serviceaccount:ops:operator',
        'as-groups': ['team-a', 'system:authenticated'],
        'as-uid': '1234',
        'as-user-extra': { 'reason/why': ['audit'] },
      }),
    });
    expect((await headersOf(connection)).headers).toEqual({
      Authorization: 'Bearer abc',
      'Impersonate-User': 'system:serviceaccount:ops:operator',
      'Impersonate-Group': ['team-a', 'system:authenticated'],
      'Impersonate-Uid': '1234',
      'Impersonate-Extra-reason%2Fwhy': ['audit'],
    });
    await expect(
      loadKubeConnection({ path: kubeconfig({ token: 'abc', 'as-groups': ['g'] }) }),
    ).rejects.toThrow(/as-groups, as-uid and as-user-extra need `as`/);
  });

  it('goes through an http(s) proxy-url; refuses a socks5 proxy and an auth-provider at start', async () => {
    const proxied = await loadKubeConnection({
      path: kubeconfig({ token: 'abc' }, { 'proxy-url': 'http://proxy.example:3128' }),
    });
    expect(proxied.proxy).toBe('http://proxy.example:3128');
    expect((await headersOf(proxied)).headers.Authorization).toBe('Bearer abc');
    await expect(
      loadKubeConnection({
        path: kubeconfig({ token: 'abc' }, { 'proxy-url': 'socks5://proxy.example:1080' }),
      }),
    ).rejects.toThrow(/only http:\/\/ and https:\/\/ proxies are supported/);
    await expect(
      loadKubeConnection({ path: kubeconfig({ 'auth-provider': { name: 'oidc', config: {} } }) }),
    ).rejects.toThrow(/auth-provider "oidc", which the operator does not run: use an exec credential plugin/);
  });

  it('names what is missing', async () => {
    await expect(loadKubeConnection({ path: kubeconfig({}, {}, { 'current-context': '' }) })).rejects.toThrow(
      /no current-context/,
    );
    await expect(
      loadKubeConnection({ path: kubeconfig({}, {}, { 'current-context': 'other' }) }),
    ).rejects.toThrow(/context "other" not found/);
    await expect(loadKubeConnection({ path: join(dir, 'absent') })).rejects.toThrow(/ENOENT/);
  });
});

describe('loadKubeConnection: which configuration', () => {
  it('merges the KUBECONFIG list as kubectl does: the first to name something wins, missing files are skipped', async () => {
    const first = join(dir, 'merge-first');
    writeFileSync(
      first,
      stringify({
        'current-context': 'b',
        users: [{ name: 'u', user: { token: 'first' } }],
      }),
    );
    const second = kubeconfig(
      { token: 'second' },
      {},
      {
        'current-context': 'ctx',
        contexts: [{ name: 'b', context: { cluster: 'c', user: 'u' } }],
      },
    );
    const connection = await loadKubeConnection({
      env: { KUBECONFIG: `${join(dir, 'absent')}:${first}:${second}` },
    });
    expect(connection.source).toBe(`KUBECONFIG=${join(dir, 'absent')}:${first}:${second}`);
    expect(connection.server).toBe('https://api.example:6443');
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer first');
  });

  it('uses the pod service account: its CA, namespace and token, read again as kubelet rotates it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'pod-token-1');
    writeFileSync(join(sa, 'ca.crt'), 'CLUSTER CA');
    writeFileSync(join(sa, 'namespace'), 'operators\n');
    const connection = await loadKubeConnection({
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      serviceAccountDir: sa,
      home: join(dir, 'no-home'),
    });
    expect(connection.server).toBe('https://[fd00::1]:6443');
    expect(connection.source).toBe('in-cluster service account');
    expect(connection.namespace).toBe('operators');
    expect(connection.tls.ca).toEqual(Buffer.from('CLUSTER CA'));
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer pod-token-1');
    writeFileSync(join(sa, 'token'), 'pod-token-2');
    vi.advanceTimersByTime(61_000);
    expect((await headersOf(connection)).headers.Authorization).toBe('Bearer pod-token-2');
  });

  it('falls back to ~/.kube/config, and says what to do when there is nothing', async () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), readFileSync(kubeconfig({ token: 'home' })));
    const connection = await loadKubeConnection({ env: {}, home });
    expect(connection.source).toBe(join(home, '.kube', 'config'));
    await expect(
      loadKubeConnection({ env: {}, home: join(dir, 'nobody'), serviceAccountDir: join(dir, 'none') }),
    ).rejects.toThrow('no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod');
  });
});
