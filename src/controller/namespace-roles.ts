// The namespace -> IAM role mapping, read from namespace annotations (see src/aws/accounts.ts).
// Namespaces are the admin's: tenants with edit rights in a namespace cannot change its
// annotations, so a resource cannot choose the account it acts in.
//
// Read with a namespaced `get` (RBAC: get namespaces, no list or watch) and kept for a short time,
// so a reconcile does not cost an API call; an annotation change is seen within that time at the
// resource's next reconcile (at the latest one resync later).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { NamespaceRoles } from '../aws/access.js';
import { type NamespaceRole, namespaceRoleOf } from '../aws/accounts.js';
import { httpStatusOf } from './kube-errors.js';

export const DEFAULT_NAMESPACE_ROLE_TTL_MS = 10_000;

interface Entry {
  annotations: Record<string, string> | undefined;
  readAt: number;
}

export class KubeNamespaceRoles implements NamespaceRoles {
  private readonly api: CoreV1Api;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry>>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly ttlMs = DEFAULT_NAMESPACE_ROLE_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async roleOf(namespace: string): Promise<NamespaceRole | undefined> {
    const cached = this.cache.get(namespace);
    const entry = cached && this.now() - cached.readAt < this.ttlMs ? cached : await this.read(namespace);
    return namespaceRoleOf(namespace, entry.annotations);
  }

  private read(namespace: string): Promise<Entry> {
    let pending = this.inFlight.get(namespace);
    if (!pending) {
      pending = this.fetch(namespace).finally(() => this.inFlight.delete(namespace));
      this.inFlight.set(namespace, pending);
    }
    return pending;
  }

  private async fetch(name: string): Promise<Entry> {
    let annotations: Record<string, string> | undefined;
    try {
      annotations = (await this.api.readNamespace({ name })).metadata?.annotations;
    } catch (err) {
      // A terminating namespace still answers; one that is gone has no resources left to act for.
      if (httpStatusOf(err) !== 404) throw err;
    }
    const entry = { annotations, readAt: this.now() };
    this.cache.set(name, entry);
    return entry;
  }
}
