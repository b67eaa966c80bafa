// The policy cache: how a policy is read (a broken one fails closed), which namespaces it
// governs, whom a change concerns, and the cache itself over a scripted list and watch.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { InformerEventHandler, InformerHealth } from '../../../src/controller/informer.js';
import type { ObjectCache } from '../../../src/controller/multi-namespace-informer.js';
import {
  KubeNamespacePolicies,
  namespacesConcerned,
  policiesGoverning,
  type ReadPolicy,
  readPolicy,
} from '../../../src/controller/namespace-policies.js';
import type { Namespace } from '../../../src/controller/namespace-roles.js';
import type { KubeClient } from '../../../src/kube/client.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const policyObject = (name: string, spec: unknown, annotations?: Record<string, string>) => ({
  apiVersion: 'emrserverless.operator.dev/v1alpha1',
  kind: 'EmrServerlessPolicy',
  metadata: { name, resourceVersion: '1', ...(annotations && { annotations }) },
  spec,
});
const FINANCE = { matchLabels: { tenant: 'finance' } };

describe('readPolicy', () => {
  it('parses a valid policy', () => {
    expect(
      readPolicy(policyObject('p', { namespaces: ['a'], encryption: { requireCustomerManagedKey: true } })),
    ).toEqual({
      name: 'p',
      spec: { namespaces: ['a'], encryption: { requireCustomerManagedKey: true } },
    });
  });

  it.each<[string, ReturnType<typeof policyObject>, Partial<ReadPolicy>]>([
    [
      'a null outside the selection: broken, governing whom it selects',
      policyObject('p', { namespaceSelector: FINANCE, encryption: { allowedKeyArns: null } }),
      { problem: 'spec.encryption.allowedKeyArns is null', selection: { namespaceSelector: FINANCE } },
    ],
    [
      'a null in the selector: whom it governs cannot be told, so every namespace',
      policyObject('p', { namespaceSelector: { matchLabels: { tenant: null } } }),
      { problem: 'spec.namespaceSelector.matchLabels.tenant is null', selection: undefined },
    ],
    [
      'a null spec: every namespace',
      policyObject('p', null),
      { problem: 'spec is null', selection: undefined },
    ],
    [
      'a null kept only in the last applied configuration',
      policyObject(
        'p',
        { namespaces: ['a'] },
        { [LAST_APPLIED]: JSON.stringify({ spec: { namespaces: ['a'], jobRuns: null } }) },
      ),
      { problem: 'spec.jobRuns is null', selection: { namespaces: ['a'] } },
    ],
    [
      'a value its schema refuses outside the selection',
      policyObject('p', { namespaces: ['a'], encryption: { jobRunKeyOverride: 'Sometimes' } }),
      { selection: { namespaces: ['a'] } },
    ],
    [
      'a selector its schema refuses: every namespace',
      policyObject('p', { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'Like' }] } }),
      { selection: undefined },
    ],
    ['no selection at all: every namespace', policyObject('p', { encryption: {} }), { selection: undefined }],
  ])('%s', (_what, object, expected) => {
    const read = readPolicy(object);
    expect('problem' in read).toBe(true);
    expect(read).toMatchObject(expected);
    if ('selection' in expected && expected.selection === undefined)
      expect((read as { selection?: unknown }).selection).toBeUndefined();
  });
});

const valid = (name: string, spec: object): ReadPolicy => ({ name, spec: spec as never });
const broken = (name: string, selection?: object): ReadPolicy => ({
  name,
  problem: 'spec.x is null',
  selection: selection as never,
});

describe('policiesGoverning', () => {
  const read = [
    valid('z-by-name', { namespaces: ['data'] }),
    valid('a-by-label', { namespaceSelector: FINANCE }),
    valid('everyone', { namespaceSelector: {} }),
    broken('broken-elsewhere', { namespaces: ['other'] }),
    broken('broken-anywhere'),
  ];

  it('takes the policies naming the namespace or matching its labels, sorted, and the broken ones that may govern it', () => {
    const found = policiesGoverning(read, { name: 'data', labels: { tenant: 'finance' } });
    expect(found.policies.map((p) => p.name)).toEqual(['a-by-label', 'everyone', 'z-by-name']);
    expect(found.invalid).toEqual([{ name: 'broken-anywhere', problem: 'spec.x is null' }]);
  });

  it('leaves out what does not select the namespace', () => {
    const found = policiesGoverning(read, { name: 'web' });
    expect(found.policies.map((p) => p.name)).toEqual(['everyone']);
    expect(found.invalid.map((p) => p.name)).toEqual(['broken-anywhere']);
  });
});

describe('namespacesConcerned', () => {
  const known = [
    { name: 'data', labels: { tenant: 'finance' } },
    { name: 'web', labels: { tenant: 'marketing' } },
    { name: 'ops' },
  ];

  it.each<[string, ReadPolicy | undefined, ReadPolicy | undefined, string[]]>([
    ['a new policy by label', undefined, valid('p', { namespaceSelector: FINANCE }), ['data']],
    [
      'a policy moved to another label: both the old and the new namespaces',
      valid('p', { namespaceSelector: FINANCE }),
      valid('p', { namespaceSelector: { matchLabels: { tenant: 'marketing' } } }),
      ['data', 'web'],
    ],
    ['a deleted policy', valid('p', { namespaces: ['ops'] }), undefined, ['ops']],
    [
      'a named namespace the cache does not hold yet',
      undefined,
      valid('p', { namespaces: ['new-team'] }),
      ['new-team'],
    ],
    [
      'a policy broken beyond reading its selection: every namespace',
      undefined,
      broken('p'),
      ['data', 'web', 'ops'],
    ],
    ['a broken policy with a readable selection', undefined, broken('p', { namespaces: ['web'] }), ['web']],
  ])('%s', (_what, before, after, expected) => {
    expect(namespacesConcerned(before, after, known).sort()).toEqual([...expected].sort());
  });
});

// --- the cache over a scripted API server ---------------------------------------------------------

type WatchHandler = (type: string, obj: unknown) => void;

/** Answers the policies list with `items`, and hands the watch's event handler to the test. */
function scriptedKube(items: object[], listFails = false) {
  const watchers: WatchHandler[] = [];
  const kube = {
    request: async () => {
      if (listFails) throw Object.assign(new Error('forbidden'), { statusCode: 403 });
      return { metadata: { resourceVersion: '10' }, items: structuredClone(items) };
    },
    watch: async (_path: string, _query: unknown, onEvent: WatchHandler) => {
      watchers.push(onEvent);
      return new AbortController();
    },
  } as unknown as KubeClient;
  return { kube, emit: (type: string, obj: object) => watchers.at(-1)?.(type, structuredClone(obj)) };
}

/** The namespaces cache, held in a map; `relabel` tells the handlers as a watch would. */
class NamespacesCache {
  readonly namespaces = new Map<string, Namespace>();
  private readonly handlers: InformerEventHandler<Namespace>[] = [];
  readonly informer = {
    addEventHandler: (h: InformerEventHandler<Namespace>) => this.handlers.push(h),
    get: (key: string) => this.namespaces.get(key),
    keys: () => this.namespaces.keys(),
  } as unknown as ObjectCache<Namespace>;

  constructor(namespaces: Record<string, Record<string, string>>) {
    for (const [name, labels] of Object.entries(namespaces))
      this.namespaces.set(name, { metadata: { name, labels } });
  }

  async labelsOf(name: string) {
    return this.namespaces.get(name)?.metadata.labels;
  }

  relabel(name: string, labels: Record<string, string>) {
    const before = this.namespaces.get(name)!;
    const after = { metadata: { name, labels } };
    this.namespaces.set(name, after);
    for (const h of this.handlers) h.onUpdate?.(before, after);
  }
}

const logger = pino({ level: 'silent' });

async function started(items: object[], namespaces = new NamespacesCache({})) {
  const { kube, emit } = scriptedKube(items);
  const cache = new KubeNamespacePolicies(kube, logger, namespaces);
  const told: string[][] = [];
  cache.onChange((ns) => told.push([...ns].sort()));
  cache.informer.start();
  await cache.informer.waitForSync();
  return { cache, emit, told, namespaces };
}

describe('KubeNamespacePolicies', () => {
  it('answers the policies governing a namespace, by name and by label', async () => {
    const namespaces = new NamespacesCache({ data: { tenant: 'finance' }, web: {} });
    const { cache } = await started(
      [
        policyObject('by-label', { namespaceSelector: FINANCE, jobRuns: { allowedExecutionRoleArns: [] } }),
        policyObject('by-name', { namespaces: ['web'] }),
      ],
      namespaces,
    );
    expect((await cache.policiesFor('data')).policies.map((p) => p.name)).toEqual(['by-label']);
    expect((await cache.policiesFor('web')).policies.map((p) => p.name)).toEqual(['by-name']);
    expect(await cache.policiesFor('elsewhere')).toEqual({ policies: [], invalid: [] });
    await cache.informer.stop(0);
  });

  it('fails closed on a broken policy', async () => {
    const { cache } = await started([policyObject('broken', { namespaceSelector: null })]);
    expect(await cache.policiesFor('any')).toEqual({
      policies: [],
      invalid: [{ name: 'broken', problem: 'spec.namespaceSelector is null' }],
    });
    await cache.informer.stop(0);
  });

  it('tells whom a policy change concerns, and nothing for a change that leaves the spec as it was', async () => {
    const namespaces = new NamespacesCache({ data: { tenant: 'finance' }, web: { tenant: 'marketing' } });
    const { cache, emit, told } = await started([], namespaces);
    told.length = 0;
    const p = policyObject('p', { namespaceSelector: FINANCE });
    emit('ADDED', p);
    expect(told).toEqual([['data']]);
    emit('MODIFIED', { ...p, metadata: { ...p.metadata, resourceVersion: '2', labels: { owner: 'x' } } });
    expect(told).toHaveLength(1);
    emit('MODIFIED', policyObject('p', { namespaceSelector: { matchLabels: { tenant: 'marketing' } } }));
    expect(told.at(-1)).toEqual(['data', 'web']);
    emit('DELETED', policyObject('p', { namespaceSelector: { matchLabels: { tenant: 'marketing' } } }));
    expect(told.at(-1)).toEqual(['web']);
    expect(await cache.policiesFor('web')).toEqual({ policies: [], invalid: [] });
    await cache.informer.stop(0);
  });

  it('tells a namespace whose new labels change which policies select it, and not one whose do not', async () => {
    const namespaces = new NamespacesCache({ data: {}, web: {} });
    const { cache, told } = await started([policyObject('p', { namespaceSelector: FINANCE })], namespaces);
    told.length = 0;
    namespaces.relabel('web', { unrelated: 'yes' });
    expect(told).toEqual([]);
    namespaces.relabel('data', { tenant: 'finance' });
    expect(told).toEqual([['data']]);
    expect((await cache.policiesFor('data')).policies.map((p) => p.name)).toEqual(['p']);
    await cache.informer.stop(0);
  });

  it('refuses to answer before the policies were ever listed', async () => {
    const { kube } = scriptedKube([], true);
    const cache = new KubeNamespacePolicies(kube, logger, new NamespacesCache({}), 100);
    cache.informer.start();
    await expect(cache.policiesFor('data')).rejects.toThrow(
      /EmrServerlessPolicy objects are not listed yet \(HTTP 403: forbidden\): nothing is written to AWS/,
    );
    const health: InformerHealth = cache.informer.health();
    expect(health.synced).toBe(false);
    await cache.informer.stop(0);
  });
});
