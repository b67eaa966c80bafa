import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { shareConnections } from '../../../src/kube/client-node-connections.js';

function config(server = 'https://127.0.0.1:6443') {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, caData: Buffer.from('not a real CA').toString('base64') }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('shareConnections', () => {
  it('client-node alone builds a new agent per request', async () => {
    const kc = config();
    const a = await kc.applyToFetchOptions({});
    const b = await kc.applyToFetchOptions({});
    expect(a.agent).not.toBe(b.agent);
  });

  it('hands out one keep-alive agent per TLS setting and still applies credentials per request', async () => {
    const kc = shareConnections(config());
    expect(shareConnections(kc)).toBe(kc);
    const a = await kc.applyToFetchOptions({});
    const b = await kc.applyToFetchOptions({});
    expect(a.agent).toBe(b.agent);
    expect((a.agent as { keepAlive?: boolean }).keepAlive).toBe(true);
    expect(new Headers(b.headers as ConstructorParameters<typeof Headers>[0]).get('authorization')).toBe(
      'Bearer secret-token',
    );
  });

  it('keeps separate agents for separate KubeConfigs', async () => {
    const one = shareConnections(config());
    const two = shareConnections(config('https://127.0.0.1:7443'));
    expect((await one.applyToFetchOptions({})).agent).not.toBe((await two.applyToFetchOptions({})).agent);
  });
});
