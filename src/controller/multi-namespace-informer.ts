// Several namespaces watched as one cache (controller-runtime's multi-namespace cache): one
// list+watch per namespace, so the operator needs rights in those namespaces only, never a
// cluster-wide list. Keys are `namespace/name`, so the namespaces' caches never collide.
import {
  Informer,
  type InformerEventHandler,
  type InformerHealth,
  type InformerOptions,
  type KubeObject,
} from './informer.js';

/** What the manager needs of a cache: an Informer, or several behind one face. */
export interface ObjectCache<T extends KubeObject> {
  addEventHandler(handler: InformerEventHandler<T>): void;
  get(key: string): T | undefined;
  keys(): IterableIterator<string>;
  /** The cached objects of one namespace ('' for cluster-scoped ones), from an index kept on every change. */
  byNamespace(namespace: string): T[];
  readonly size: number;
  health(): InformerHealth;
  hasSynced(): boolean;
  waitForSync(signal?: AbortSignal): Promise<void>;
  start(): void;
  stop(timeoutMs?: number): Promise<void>;
}

/** One Informer for zero or one namespace (zero: all namespaces), a MultiNamespaceInformer for more. */
export function informerFor<T extends KubeObject>(
  options: Omit<InformerOptions, 'namespace'>,
  namespaces: readonly string[],
): ObjectCache<T> {
  const unique = [...new Set(namespaces)];
  if (unique.length <= 1) {
    return new Informer<T>({ ...options, ...(unique[0] !== undefined && { namespace: unique[0] }) });
  }
  return new MultiNamespaceInformer<T>(options, unique);
}

export class MultiNamespaceInformer<T extends KubeObject> implements ObjectCache<T> {
  private readonly informers: Map<string, Informer<T>>;

  constructor(options: Omit<InformerOptions, 'namespace'>, namespaces: readonly string[]) {
    this.informers = new Map(
      namespaces.map((namespace) => [
        namespace,
        new Informer<T>({ ...options, namespace, logger: options.logger.child({ namespace }) }),
      ]),
    );
  }

  addEventHandler(handler: InformerEventHandler<T>): void {
    for (const informer of this.informers.values()) informer.addEventHandler(handler);
  }

  get(key: string): T | undefined {
    const slash = key.indexOf('/');
    return slash < 0 ? undefined : this.informers.get(key.slice(0, slash))?.get(key);
  }

  *keys(): IterableIterator<string> {
    for (const informer of this.informers.values()) yield* informer.keys();
  }

  byNamespace(namespace: string): T[] {
    return this.informers.get(namespace)?.byNamespace(namespace) ?? [];
  }

  get size(): number {
    let total = 0;
    for (const informer of this.informers.values()) total += informer.size;
    return total;
  }

  /** Synced and healthy only when every namespace is; the first namespace's error explains why not. */
  health(): InformerHealth {
    let synced = true;
    let healthy = true;
    let failing: { namespace: string; health: InformerHealth } | undefined;
    for (const [namespace, informer] of this.informers) {
      const health = informer.health();
      synced &&= health.synced;
      healthy &&= health.healthy;
      if (!failing && (!health.synced || !health.healthy) && health.lastError !== undefined) {
        failing = { namespace, health };
      }
    }
    return {
      synced,
      healthy,
      ...(failing && {
        lastError: `namespace ${failing.namespace}: ${failing.health.lastError}`,
        lastErrorAt: failing.health.lastErrorAt,
      }),
    };
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.waitForSync(signal)));
  }

  start(): void {
    for (const informer of this.informers.values()) informer.start();
  }

  async stop(timeoutMs?: number): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.stop(timeoutMs)));
  }
}
