// The benchmark's side of Kubernetes: creating many resources fast (parallel creates with bounded
// concurrency over the operator's own client, src/kube: one keep-alive agent) and watching them,
// so that the moment a status turns Ready is the moment its watch event arrives here.
import { APPLICATION_KIND, APPLICATION_PLURAL, GROUP, VERSION } from '../../src/api/constants.js';
import { KubeClient, PATCH_TYPES, resourcePath } from '../../src/kube/client.js';
import { loadKubeConnection } from '../../src/kube/config.js';

export interface Resource {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; observedGeneration?: number }>;
  };
}

/** A client for the admin kubeconfig at `path`. */
export async function adminClient(path: string): Promise<KubeClient> {
  return new KubeClient(await loadKubeConnection({ path }));
}

const applications = (namespace?: string, name?: string) =>
  resourcePath({ group: GROUP, version: VERSION, plural: APPLICATION_PLURAL, namespace, name });

/** Ready=True for the object's current generation. */
export function readyForGeneration(obj: Resource): boolean {
  const gen = obj.metadata.generation;
  const ready = obj.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  const observed = ready.observedGeneration ?? obj.status?.observedGeneration;
  return observed === gen;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export class Kube {
  constructor(readonly client: KubeClient) {}

  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.client.request({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }

  /** Creates the resources with `concurrency` requests in flight; retries a few transient failures. */
  async createAll(
    namespace: string,
    specs: Array<{ name: string; spec: Record<string, unknown>; labels?: Record<string, string> }>,
    concurrency = 32,
  ) {
    await mapLimit(specs, concurrency, async ({ name, spec, labels }) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.request({
            method: 'POST',
            path: applications(namespace),
            body: {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: APPLICATION_KIND,
              metadata: { name, namespace, ...(labels && { labels }) },
              spec,
            },
          });
          return;
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (code === 409) return; // exists (a re-run)
          // A status below 500 other than 429 is final; a network failure (a string code) is retried.
          if (attempt >= 5 || (typeof code === 'number' && code < 500 && code !== 429)) throw error;
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
      }
    });
  }

  /** How many resources exist (in one namespace or all), by a paginated list. */
  async count(namespace?: string): Promise<number> {
    let total = 0;
    let token: string | undefined;
    do {
      const page = await this.client.request<{ items?: unknown[]; metadata?: { continue?: string } }>({
        method: 'GET',
        path: applications(namespace),
        query: { limit: 500, continue: token },
      });
      total += page.items?.length ?? 0;
      token = page.metadata?.continue || undefined;
    } while (token);
    return total;
  }

  /** Merge-patches metadata.annotations (a metadata-only edit, as `kubectl annotate` makes). */
  annotate(namespace: string, name: string, annotations: Record<string, string>): Promise<Resource> {
    return this.mergePatch(namespace, name, { metadata: { annotations } });
  }

  /** Merge-patches spec; resolves when the API server has answered (the write is accepted). */
  patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<Resource> {
    return this.mergePatch(namespace, name, { spec });
  }

  private mergePatch(namespace: string, name: string, body: unknown): Promise<Resource> {
    return this.client.request<Resource>({
      method: 'PATCH',
      path: applications(namespace, name),
      body,
      contentType: PATCH_TYPES.merge,
    });
  }
}

type Waiter = { check: () => boolean; resolve: () => void };

/**
 * Watches the resources of one namespace (or all): keeps the latest of each, when each last
 * became Ready for its generation, and how many MODIFIED events arrived (Kubernetes writes).
 */
export class ResourceWatch {
  readonly objects = new Map<string, Resource>();
  /** name -> epoch ms at which the event making it Ready for `generation` arrived. */
  readonly readyAt = new Map<string, { generation: number; at: number }>();
  modified = 0;
  added = 0;
  private readyCount = 0;
  private controller: AbortController | undefined;
  private waiters: Waiter[] = [];
  private stopped = false;
  private resourceVersion: string | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string | undefined,
  ) {}

  get ready(): number {
    return this.readyCount;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    this.controller = await this.client.watch(
      applications(this.namespace),
      { allowWatchBookmarks: true, timeoutSeconds: 3600, resourceVersion: this.resourceVersion },
      (type, obj) => this.onEvent(type, obj as Resource),
      (error) => {
        if (this.stopped) return;
        if (error && (error as { name?: string }).name !== 'AbortError') {
          process.stderr.write(`watch ended: ${(error as Error).message}; reconnecting\n`);
        }
        setTimeout(() => void this.connect().catch(() => {}), 200);
      },
    );
  }

  private onEvent(type: string, obj: Resource): void {
    const at = Date.now();
    if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (type === 'BOOKMARK' || type === 'ERROR' || !obj?.metadata?.name) return;
    const key = this.namespace ? obj.metadata.name : `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (type === 'DELETED') {
      if (this.objects.has(key) && this.isReady(key)) this.readyCount--;
      this.objects.delete(key);
      return;
    }
    if (type === 'ADDED') this.added++;
    if (type === 'MODIFIED') this.modified++;
    const wasReady = this.objects.has(key) && this.isReady(key);
    this.objects.set(key, obj);
    const gen = obj.metadata.generation ?? 0;
    if (readyForGeneration(obj)) {
      const prev = this.readyAt.get(key);
      if (!prev || prev.generation !== gen) this.readyAt.set(key, { generation: gen, at });
    }
    const isReady = this.isReady(key);
    if (isReady !== wasReady) this.readyCount += isReady ? 1 : -1;
    this.poke();
  }

  private isReady(key: string): boolean {
    const obj = this.objects.get(key);
    return obj !== undefined && readyForGeneration(obj);
  }

  /** Resolves when `check()` holds (checked after every event); rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what} (ready ${this.readyCount}/${this.objects.size})`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Checks the waiters now, for conditions that change without an event. */
  recheck(): void {
    this.poke();
  }

  private poke(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.check()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }
}

/** Counts Event writes (ADDED and MODIFIED, i.e. new events and repeats) in a namespace or all. */
export class EventWatch {
  writes = 0;
  private controller: AbortController | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string | undefined,
  ) {}

  async start(): Promise<void> {
    const path = resourcePath({ group: '', version: 'v1', plural: 'events', namespace: this.namespace });
    // Start from "now": list to get a resourceVersion first, so old events are not counted.
    const list = await this.client.request<{ metadata?: { resourceVersion?: string } }>({
      method: 'GET',
      path,
      query: { limit: 1 },
    });
    this.controller = await this.client.watch(
      path,
      { resourceVersion: list.metadata?.resourceVersion, timeoutSeconds: 3600 },
      (type) => {
        if (type === 'ADDED' || type === 'MODIFIED') this.writes++;
      },
      () => {},
    );
  }

  stop(): void {
    this.controller?.abort();
  }
}
