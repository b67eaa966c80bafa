// Two shards: two operators, each with its own --watch-label-selector and Lease, split the
// resources between them. Each reconciles only its own; relabelling a resource hands it over:
// the new shard takes it up without writing to AWS again, the old one lets it go. Shard B also
// watches a second namespace (--namespace given twice); a third namespace is nobody's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runKubectl } from '../../src/envtest/index.js';
import { newNamespace } from '../support/cluster.js';
import {
  baseSpec,
  E2e,
  manifest,
  RESYNC_MS,
  type Resource,
  reportFailures,
  sleep,
  waitFor,
} from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

const SHARD_LABEL = 'emrserverless.operator.dev/shard';
let e2e: E2e;
let second: string;
let unwatched: string;

/** kubectl as the admin in another namespace than the E2e's own. */
const kubectlIn = (namespace: string, args: string[], input?: string) =>
  runKubectl(e2e.cluster.kubectlPath, e2e.cluster.kubeconfig, ['-n', namespace, ...args], {
    ...(input !== undefined && { input }),
  });

beforeAll(async () => {
  e2e = await E2e.start('e2e-shards', {
    operator: false,
    operatorArgs: ['--leader-elect', '--log-level=debug'],
  });
  [second, unwatched] = await Promise.all([
    newNamespace('e2e-shards-second'),
    newNamespace('e2e-shards-none'),
  ]);
  // Each shard's Lease, granted as the chart grants it (a Role per release).
  await e2e.apply(
    [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'shard-leases' },
        rules: [
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            resourceNames: ['shard-a', 'shard-b'],
            verbs: ['get', 'update'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'shard-leases' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'shard-leases' },
        subjects: [{ kind: 'ServiceAccount', name: 'emr-serverless-operator', namespace: e2e.namespace }],
      },
    ]
      .map((o) => stringify(o))
      .join('---\n'),
  );
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e, 'beta');

describe('two shards split by label', () => {
  it('each reconciles only its own; relabelling hands a resource over without a duplicate write', async () => {
    // Complementary selectors: every resource belongs to exactly one shard, unlabelled ones to B.
    const a = await e2e.startOperator([
      '--leader-election-id=shard-a',
      `--watch-label-selector=${SHARD_LABEL}=a`,
    ]);
    const b = await e2e.startOperator([
      '--leader-election-id=shard-b',
      `--watch-label-selector=${SHARD_LABEL}!=a`,
      `--namespace=${second}`,
    ]);
    await Promise.all([a.waitForLog('acquired leader lease'), b.waitForLog('acquired leader lease')]);

    await e2e.apply(manifest('alpha', baseSpec('alpha'), { labels: { [SHARD_LABEL]: 'a' } }));
    await e2e.apply(manifest('beta', baseSpec('beta')));
    await kubectlIn(second, ['apply', '-f', '-'], manifest('gamma', baseSpec('gamma')));
    await kubectlIn(unwatched, ['apply', '-f', '-'], manifest('delta', baseSpec('delta')));
    const [alpha, beta] = await Promise.all([
      e2e.waitForReady('alpha', 'True', 'Reconciled'),
      e2e.waitForReady('beta', 'True', 'Reconciled'),
    ]);
    const gammaIn = async () =>
      JSON.parse((await kubectlIn(second, ['get', 'emrsa', 'gamma', '-o', 'json'])).stdout) as Resource;
    await waitFor('gamma, in the second namespace, Ready', async () => {
      const gamma = await gammaIn();
      return gamma.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && gamma;
    });
    const reconciledBy = (op: typeof a, name: string, after = 0) =>
      op.since(after, 'reconciled').filter((l) => l.resource === `${e2e.namespace}/${name}`).length;
    // A resync on both shards, each of its own resource only.
    await expectQuietWindow({
      during: RESYNC_MS * 1.5,
      reads: [e2e.reconcilesOf('alpha', { operator: a }), e2e.reconcilesOf('beta', { operator: b })],
      writes: () => [
        ...a.since(0, 'reconciled').filter((l) => l.resource === `${e2e.namespace}/beta`),
        ...b.since(0, 'reconciled').filter((l) => l.resource === `${e2e.namespace}/alpha`),
      ],
    });
    expect(reconciledBy(a, 'alpha')).toBeGreaterThan(0);
    expect(reconciledBy(a, 'beta')).toBe(0);
    expect(reconciledBy(b, 'beta')).toBeGreaterThan(0);
    expect(reconciledBy(b, 'alpha')).toBe(0);
    expect(b.since(0, 'reconciled').some((l) => l.resource === `${second}/gamma`)).toBe(true);
    // Nobody watches the third namespace: delta has no status and no application.
    const delta = JSON.parse(
      (await kubectlIn(unwatched, ['get', 'emrsa', 'delta', '-o', 'json'])).stdout,
    ) as Resource;
    expect(delta.status).toBeUndefined();
    expect([...a.lines, ...b.lines].some((l) => String(l.resource ?? '').startsWith(`${unwatched}/`))).toBe(
      false,
    );
    const creates = (await e2e.calls()).filter(
      (c) => c.operation === 'CreateApplication' && c.status === 200,
    );
    expect(creates).toHaveLength(3);

    // Hand beta over to shard A.
    const mark = await e2e.mark();
    const [fromA, fromB] = [a.lines.length, b.lines.length];
    await e2e.kubectl(['label', 'emrsa', 'beta', `${SHARD_LABEL}=a`]);
    await a.waitForLog(
      (l) => l.msg === 'reconciled' && l.resource === `${e2e.namespace}/beta`,
      15_000,
      fromA,
    );
    await sleep(RESYNC_MS * 2); // resyncs on both: B must not touch beta any more
    const releasedAt = b.lines.length;
    // A resyncs beta meanwhile, B never.
    await expectQuietWindow({
      during: RESYNC_MS * 1.5,
      reads: e2e.reconcilesOf('beta', { operator: a }),
      writes: () => b.since(releasedAt, 'reconciled').filter((l) => l.resource === `${e2e.namespace}/beta`),
    });
    // The relabel reached B as a deletion from its view; it must not have cleaned up.
    expect(b.since(fromB).filter((l) => l.msg === 'acting' || l.msg === 'finalizer removed')).toEqual([]);
    const afterHandOver = await e2e.get('beta');
    expect(afterHandOver.status?.applicationId).toBe(beta.status?.applicationId);
    expect(afterHandOver.metadata.finalizers).toEqual(beta.metadata.finalizers);
    expect(await e2e.writesSince(mark)).toEqual([]);

    // A change to beta is now made once, by A.
    await e2e.apply(
      manifest('beta', baseSpec('beta', { tags: { team: 'data' } }), { labels: { [SHARD_LABEL]: 'a' } }),
    );
    await e2e.waitForResource('beta', 'generation 2 reconciled', (r) =>
      r.status?.observedGeneration === 2 ? r : undefined,
    );
    const changed = await e2e.mark();
    await expectQuietWindow({
      during: RESYNC_MS * 1.5,
      reads: e2e.reconcilesOf('beta', { operator: a }),
      writes: () => e2e.writesSince(changed),
    });
    expect(await e2e.writesSince(mark)).toEqual(['TagResource']);
    expect(b.since(fromB).filter((l) => l.msg === 'acting')).toEqual([]);
    expect(alpha.status?.applicationId).not.toBe(beta.status?.applicationId);
  });
});
