// The informer's namespace index over a scripted list and watch: kept in step with the cache on
// add, update, delete and relist, and what the manager's `list(plural, namespace)` answers from.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Informer, type KubeObject } from '../../../src/controller/informer.js';
import { MultiNamespaceInformer } from '../../../src/controller/multi-namespace-informer.js';
import type { KubeClient } from '../../../src/kube/client.js';

type WatchHandler = (type: string, obj: unknown) => void;
type Obj = KubeObject & { spec?: { v?: number } };

const RESOURCE = {
  group: 'emrserverless.operator.dev',
  version: 'v1alpha1',
  plural: 'emrserverlessjobruns',
  kind: 'EmrServerlessJobRun',
};
const logger = pino({ level: 'silent' });

const obj = (namespace: string | undefined, name: string, resourceVersion = '1', v = 0): Obj => ({
  metadata: { name, ...(namespace !== undefined && { namespace }), resourceVersion },
  spec: { v },
});

/**
 * Answers each list with the next of `lists` (the last one again after that), and hands the
 * current watch's event handler to the test; `expire` ends the watch with 410 Gone (a relist).
 */
function scriptedKube(lists: Obj[][]) {
  let listed = 0;
  const watchers: WatchHandler[] = [];
  const kube = {
    request: async () => {
      const items = lists[Math.min(listed, lists.length - 1)] ?? [];
      listed++;
      return { metadata: { resourceVersion: String(100 + listed) }, items: structuredClone(items) };
    },
    watch: async (_path: string, _query: unknown, onEvent: WatchHandler) => {
      watchers.push(onEvent);
      return new AbortController();
    },
  } as unknown as KubeClient;
  return {
    kube,
    lists: () => listed,
    watches: () => watchers.length,
    emit: (type: string, o: object) => watchers.at(-1)?.(type, structuredClone(o)),
    expire: () => watchers.at(-1)?.('ERROR', { code: 410, reason: 'Expired', message: 'too old' }),
  };
}

async function eventually(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Names of the objects the index answers for a namespace, sorted. */
const names = (cache: { byNamespace(ns: string): Obj[] }, namespace: string) =>
  cache
    .byNamespace(namespace)
    .map((o) => o.metadata.name)
    .sort();

async function started(lists: Obj[][]) {
  const api = scriptedKube(lists);
  const informer = new Informer<Obj>({ kube: api.kube, resource: RESOURCE, logger });
  informer.start();
  await informer.waitForSync();
  await eventually('the watch', () => api.watches() > 0);
  return { informer, ...api };
}

describe('the namespace index', () => {
  it('answers one namespace’s objects after the first list, and nothing for an unknown one', async () => {
    const { informer } = await started([[obj('a', 'x'), obj('a', 'y'), obj('b', 'x'), obj('c', 'z')]]);
    expect(names(informer, 'a')).toEqual(['x', 'y']);
    expect(names(informer, 'b')).toEqual(['x']);
    expect(names(informer, 'c')).toEqual(['z']);
    expect(informer.byNamespace('nope')).toEqual([]);
    await informer.stop(0);
  });

  it('follows watch adds, updates and deletes', async () => {
    const { informer, emit } = await started([[obj('a', 'x')]]);
    emit('ADDED', obj('a', 'y', '2'));
    emit('ADDED', obj('b', 'z', '3'));
    expect(names(informer, 'a')).toEqual(['x', 'y']);
    expect(names(informer, 'b')).toEqual(['z']);

    // An update replaces the object the index answers, without adding a second entry.
    emit('MODIFIED', obj('a', 'x', '4', 7));
    expect(informer.byNamespace('a')).toHaveLength(2);
    expect(informer.byNamespace('a').find((o) => o.metadata.name === 'x')?.spec?.v).toBe(7);

    emit('DELETED', obj('a', 'x', '5'));
    expect(names(informer, 'a')).toEqual(['y']);
    // The last object of a namespace gone: nothing is left for it.
    emit('DELETED', obj('b', 'z', '6'));
    expect(informer.byNamespace('b')).toEqual([]);
    // A delete of an object never seen changes nothing.
    emit('DELETED', obj('a', 'ghost', '7'));
    expect(names(informer, 'a')).toEqual(['y']);
    await informer.stop(0);
  });

  it('is rebuilt by a relist: objects gone meanwhile leave it, new ones join it', async () => {
    const { informer, expire, lists } = await started([
      [obj('a', 'x'), obj('a', 'y'), obj('b', 'z')],
      [obj('a', 'y', '9', 1), obj('c', 'w', '9')],
    ]);
    const deleted: string[] = [];
    informer.addEventHandler({
      // What handlers see during the relist is already the new index.
      onDelete: (o) => deleted.push(`${o.metadata.namespace}/${o.metadata.name}:${names(informer, 'a')}`),
    });
    expire();
    await eventually('the relist', () => lists() === 2);
    expect(names(informer, 'a')).toEqual(['y']);
    expect(informer.byNamespace('a')[0]?.spec?.v).toBe(1);
    expect(informer.byNamespace('b')).toEqual([]);
    expect(names(informer, 'c')).toEqual(['w']);
    expect(deleted.sort()).toEqual(['a/x:y', 'b/z:y']);
    await informer.stop(0);
  });

  it('indexes cluster-scoped objects under the empty namespace', async () => {
    const { informer, emit } = await started([[obj(undefined, 'p'), obj(undefined, 'q')]]);
    expect(names(informer, '')).toEqual(['p', 'q']);
    emit('DELETED', obj(undefined, 'p', '2'));
    expect(names(informer, '')).toEqual(['q']);
    await informer.stop(0);
  });

  it('answers through a multi-namespace cache from the namespace’s own informer', async () => {
    const api = scriptedKube([[obj('a', 'x'), obj('a', 'y')]]);
    const cache = new MultiNamespaceInformer<Obj>({ kube: api.kube, resource: RESOURCE, logger }, ['a', 'b']);
    cache.start();
    await cache.waitForSync();
    expect(names(cache, 'a')).toEqual(['x', 'y']);
    expect(cache.byNamespace('elsewhere')).toEqual([]);
    await cache.stop(0);
  });
});
