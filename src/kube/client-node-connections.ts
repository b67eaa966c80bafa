// Connection reuse for @kubernetes/client-node 1.x, where the operator still uses it: a kubeconfig
// config.ts hands to client-node (an auth-provider, a proxy-url), and the benchmark's own client.
//
// client-node 1.x builds a new https.Agent for every request (KubeConfig.createAgent, called from
// applySecurityAuthentication and applyToHTTPSOptions), so every API call opens a new TCP + TLS
// connection and builds a new TLS context from the CA. Under load (thousands of status writes,
// events, lease renewals) that costs CPU and native memory that glibc never hands back, and the
// operator's RSS climbs. `shareConnections` makes one KubeConfig hand out one keep-alive agent per
// distinct TLS setting instead (the credentials in headers, e.g. a rotated service account token,
// are still applied per request by client-node).
import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

/** At most this many agents per KubeConfig (a new one appears only when TLS settings change). */
const MAX_AGENTS = 4;

type CreateAgent = (
  cluster: { server?: string; proxyUrl?: string } | null,
  agentOptions: Record<string, unknown>,
) => Agent;

function fingerprint(
  cluster: { server?: string; proxyUrl?: string } | null,
  options: Record<string, unknown>,
): string {
  const hash = createHash('sha256');
  hash.update(`${cluster?.server ?? ''}\u0000${cluster?.proxyUrl ?? ''}`);
  for (const key of Object.keys(options).sort()) {
    const value = options[key];
    if (value === undefined) continue;
    hash.update(`\u0000${key}=`);
    if (Buffer.isBuffer(value) || typeof value === 'string') hash.update(value);
    else hash.update(JSON.stringify(value) ?? '');
  }
  return hash.digest('hex');
}

/** Makes `kc` reuse keep-alive connections across requests. Returns `kc`. Idempotent. */
export function shareConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent: CreateAgent; __sharedAgents?: boolean };
  if (target.__sharedAgents) return kc;
  const original = target.createAgent.bind(kc);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, agentOptions) => {
    const key = fingerprint(cluster, agentOptions);
    const cached = agents.get(key);
    if (cached) return cached;
    const agent = original(cluster, {
      ...agentOptions,
      keepAlive: true,
      maxFreeSockets: 16,
      scheduling: 'lifo',
    });
    agents.set(key, agent);
    while (agents.size > MAX_AGENTS) {
      const [oldestKey, oldest] = agents.entries().next().value as [string, Agent];
      agents.delete(oldestKey);
      // Requests still running on it finish; its idle sockets go.
      setTimeout(() => oldest.destroy(), 60_000).unref();
    }
    return agent;
  };
  target.__sharedAgents = true;
  return kc;
}
