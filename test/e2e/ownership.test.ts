// Ownership and identity end to end (contract "Ownership and identity"): a resource is bound to
// one application for life, binds only an application that is unclaimed or its own, adopts only
// where the cluster admin allows, keeps its tags apart from the operator's, and applications of
// the previous version keep working. Every refused case is checked against the local service's
// call log: zero AWS writes.
//
// Two namespaces share one local AWS service: `a` (adoption not allowed) and `b` (adoption
// allowed), each with its own operator, as two teams of one cluster.

import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OWNER_CLUSTER_TAG,
  OWNER_NAME_TAG,
  OWNER_NAMESPACE_TAG,
  OWNER_UID_TAG,
} from '../../src/api/constants.js';
import {
  baseSpec,
  CLI,
  E2e,
  manifest,
  OPERATOR_USER_ARN,
  printedOperatorPolicy,
  REGION,
  RESYNC_MS,
  reportFailures,
  waitFor,
} from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

let a: E2e;
let b: E2e;
let clusterId: string;

beforeAll(async () => {
  a = await E2e.start('e2e-own-a');
  b = await E2e.start('e2e-own-b', { operator: false });
  // b's operator talks to a's local AWS service: one account, two namespaces.
  await b.startOperator(['--aws-endpoint', a.emulator.endpoint, `--adopt-namespaces=${b.namespace}`]);
  clusterId = (await a.kubectl(['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'])).stdout;
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

reportFailures(() => a);
reportFailures(() => b);

type Tags = Record<string, string>;
const tagsOf = async (id: string) => (await a.application(id)).tags as Tags;
const stateOf = async (id: string) => (await a.application(id)).state as string;
const uidOf = async (e2e: E2e, name: string) => (await e2e.get(name)).metadata.uid;
/** AWS writes to one application since `mark`, on the shared local service. */
const writesTo = (id: string, mark: number) => a.writesSince(mark, id);

async function created(e2e: E2e, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  await e2e.apply(manifest(name, baseSpec(name, extra)));
  return (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
}

async function deleted(e2e: E2e, name: string): Promise<void> {
  await e2e.kubectl(['delete', 'emrsa', name, '--wait=false']);
  await e2e.waitGone(name);
}

describe('1. the binding is for life', () => {
  it('adding spec.region or spec.applicationId to a resource that created its application is refused; deletion deletes that application', async () => {
    const id = await created(a, 'bound');
    const other = await a.createApplicationOutOfBand('someone-elses');
    const mark = await a.mark();

    for (const extra of [{ region: 'us-east-1' }, { applicationId: other }]) {
      const stderr = await a.applyRejected(manifest('bound', baseSpec('bound', extra)));
      expect(stderr).toContain(`is bound to application ${id} for life`);
    }
    const r = await a.get('bound');
    expect(r.status).toMatchObject({ applicationId: id, region: REGION, origin: 'Created' });
    expect(await a.writesSince(mark)).toEqual([]);

    await deleted(a, 'bound');
    expect(await writesTo(id, mark)).toEqual(['DeleteApplication']);
    expect(await stateOf(id)).toBe('TERMINATED');
    expect(await stateOf(other)).toBe('CREATED');
    expect(await writesTo(other, mark)).toEqual([]);
  });
});

describe('2. ownership claims', () => {
  it('every application the operator creates carries the ownership tags', async () => {
    const id = await created(a, 'tagged-at-create');
    expect(await tagsOf(id)).toEqual({
      [OWNER_UID_TAG]: await uidOf(a, 'tagged-at-create'),
      [OWNER_NAMESPACE_TAG]: a.namespace,
      [OWNER_NAME_TAG]: 'tagged-at-create',
      [OWNER_CLUSTER_TAG]: clusterId,
    });
  });

  it('a resource in another namespace naming an owned application is Stalled OwnedByAnotherResource, writes nothing, and deleting it leaves the application', async () => {
    const key = await a.createKey();
    const id = await created(a, 'analytics', { diskEncryptionConfiguration: { encryptionKeyArn: key } });
    const mark = await a.mark();

    await b.apply(
      manifest('intruder', { applicationId: id, deletionPolicy: 'Delete', diskEncryptionConfiguration: {} }),
    );
    const stalled = await b.waitForStalled('intruder', 'OwnedByAnotherResource');
    expect(stalled.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(
      `EmrServerlessApplication ${a.namespace}/analytics (uid ${await uidOf(a, 'analytics')}) in cluster ${clusterId}`,
    );
    expect(stalled.status?.applicationId).toBeUndefined();
    // Its operator keeps looking (a resync) and writes nothing.
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: [a.awsReads({ applicationId: id }), b.reconciles()],
      writes: () => writesTo(id, mark),
    });

    await deleted(b, 'intruder');
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: a.awsReads({ applicationId: id }),
      writes: () => writesTo(id, mark),
    });
    expect(await a.application(id)).toMatchObject({
      state: 'CREATED',
      diskEncryptionConfiguration: { encryptionKeyArn: key },
    });
    expect((await a.waitForReady('analytics', 'True', 'Reconciled')).status?.applicationId).toBe(id);
  });
});

describe('3. adoption is the cluster admin’s decision', () => {
  it('refused where not allowed (Stalled AdoptionNotAllowed, zero writes; deleting leaves the application); bound once allowed; Delete then deletes it', async () => {
    const id = await a.createApplicationOutOfBand('legacy-etl');
    const mark = await a.mark();
    await a.apply(manifest('adopt-here', { applicationId: id, deletionPolicy: 'Delete' }));
    await a.apply(manifest('adopt-and-go', { applicationId: id, deletionPolicy: 'Delete' }));
    const refused = await a.waitForStalled('adopt-here', 'AdoptionNotAllowed');
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain(
      `--adopt-namespaces=${a.namespace}`,
    );
    await a.waitForStalled('adopt-and-go', 'AdoptionNotAllowed');
    await deleted(a, 'adopt-and-go');
    // adopt-here is looked at again (a resync): still no write.
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: a.awsReads({ applicationId: id }),
      writes: () => writesTo(id, mark),
    });
    expect(await tagsOf(id)).toEqual({});
    expect(await stateOf(id)).toBe('CREATED');

    // The admin allows adoption in the namespace: the operator restarts with the flag.
    await a.operator.stop();
    await a.startOperator([`--adopt-namespaces=${a.namespace}`]);
    const bound = await a.waitForReady('adopt-here', 'True', 'Reconciled');
    expect(bound.status).toMatchObject({ applicationId: id, origin: 'Adopted' });
    expect((await tagsOf(id))[OWNER_UID_TAG]).toBe(bound.metadata.uid);
    expect(await writesTo(id, mark)).toEqual(['TagResource']);

    await deleted(a, 'adopt-here');
    expect(await writesTo(id, mark)).toEqual(['TagResource', 'DeleteApplication']);
    expect(await stateOf(id)).toBe('TERMINATED');
    await a.operator.stop();
    await a.startOperator();
  });
});

describe('4. reserved tags', () => {
  it("a reserved key is refused at admission; spec.tags next to the operator's tags stay in sync with zero writes", async () => {
    const mark = await a.mark();
    const stderr = await a.applyRejected(
      manifest('team-tags', baseSpec('team-tags', { tags: { [OWNER_UID_TAG]: 'mine' } })),
    );
    expect(stderr).toContain('tag keys may not start with emrserverless.operator.dev/');
    // (Other resources of the namespace keep being read on resync: only writes are counted.)
    expect(await a.writesSince(mark)).toEqual([]);
    expect(await a.exists('team-tags')).toBe(false);

    const id = await created(a, 'team-tags', { tags: { team: 'data', 'cost-center': '42' } });
    expect(await tagsOf(id)).toMatchObject({
      team: 'data',
      'cost-center': '42',
      [OWNER_NAMESPACE_TAG]: a.namespace,
    });
    const synced = await a.mark();
    await expectQuietWindow({
      during: 2 * RESYNC_MS + 500,
      reads: a.awsReads({ applicationId: id }),
      writes: () => writesTo(id, synced),
    });
  });
});

describe('5. IAM follows the claims', () => {
  it('the policy printed for this cluster allows writes only on the tags the operator writes', async () => {
    const policy = JSON.parse(
      execFileSync(
        process.execPath,
        [CLI, 'key-policy', '--operator-iam-policy', '--cluster-id', clusterId],
        {
          encoding: 'utf8',
        },
      ),
    ) as { Statement: Array<{ Sid: string; Condition?: Record<string, Record<string, unknown>> }> };
    const manage = policy.Statement.find((s) => s.Sid === 'ManageOwnedApplications')!;
    expect(manage.Condition).toEqual({
      Null: { [`aws:ResourceTag/${OWNER_UID_TAG}`]: 'false' },
      StringEquals: { [`aws:ResourceTag/${OWNER_CLUSTER_TAG}`]: clusterId },
    });
    // Writes the scoped policy must allow: an untag (spec.tags) and a delete, on an application
    // the operator created.
    const id = await created(a, 'iam-scoped', { tags: { team: 'data', old: 'x' } });
    await a.apply(manifest('iam-scoped', baseSpec('iam-scoped', { tags: { team: 'data' } })));
    await waitFor('the tag old removed', async () => !('old' in (await tagsOf(id))));
    await deleted(a, 'iam-scoped');
    // Every application an operator of this cluster wrote to in this file carries exactly that.
    const writtenTo = new Set(
      (await a.calls())
        .filter((c) =>
          ['UpdateApplication', 'DeleteApplication', 'StopApplication', 'UntagResource'].includes(
            c.operation,
          ),
        )
        .map((c) => c.applicationId!),
    );
    expect(writtenTo).toContain(id);
    for (const id of writtenTo) {
      const tags = await tagsOf(id);
      expect(tags[OWNER_UID_TAG], id).toBeTruthy();
      expect(tags[OWNER_CLUSTER_TAG], id).toBe(clusterId);
    }
  });
});

describe('6. migration from the uid tag alone', () => {
  it('an application created by the previous version (uid tag only) gets the missing tags once, then nothing', async () => {
    const id = await created(a, 'legacy-created');
    const uid = await uidOf(a, 'legacy-created');
    await a.kubectl([
      'patch',
      'emrsa',
      'legacy-created',
      '--subresource=status',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/status/origin"}]',
    ]);
    const mark = await a.mark();
    await a.aws.patchApplication(id, { tags: { [OWNER_UID_TAG]: uid, team: 'data' } });
    // As reference.md says: the policy scoped by the cluster tag cannot tag an application that
    // lacks it, so the upgrade runs under the unscoped policy until the claims are complete.
    await a.aws.attachPolicies(OPERATOR_USER_ARN, [await printedOperatorPolicy(undefined)]);
    await a.waitForEvent('legacy-created', 'OwnershipTagged');
    await a.aws.attachPolicies(OPERATOR_USER_ARN, [await printedOperatorPolicy(clusterId)]);
    // Then nothing more, over resyncs that look at it.
    const tagged = await a.mark();
    await expectQuietWindow({
      during: 2 * RESYNC_MS + 500,
      reads: a.awsReads({ applicationId: id }),
      writes: () => writesTo(id, tagged),
    });
    expect(await writesTo(id, mark)).toEqual(['TagResource']);
    expect(await tagsOf(id)).toEqual({
      [OWNER_UID_TAG]: uid,
      [OWNER_NAMESPACE_TAG]: a.namespace,
      [OWNER_NAME_TAG]: 'legacy-created',
      [OWNER_CLUSTER_TAG]: clusterId,
      team: 'data',
    });
    expect((await a.get('legacy-created')).status?.origin).toBe('Created');
    await deleted(a, 'legacy-created');
    expect(await writesTo(id, mark)).toEqual(['TagResource', 'DeleteApplication']);
  });

  it('an application adopted by the previous version (bound in status, no tags) is claimed without the adoption flag', async () => {
    const id = await a.createApplicationOutOfBand('legacy-adopted');
    await a.operator.stop();
    await a.apply(manifest('legacy-adopted', { applicationId: id }));
    await a.kubectl([
      'patch',
      'emrsa',
      'legacy-adopted',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { applicationId: id, region: REGION } }),
    ]);
    const mark = await a.mark();
    await a.startOperator();
    const r = await a.waitForReady('legacy-adopted', 'True', 'Reconciled');
    expect(r.status).toMatchObject({ applicationId: id, origin: 'Adopted' });
    expect((await tagsOf(id))[OWNER_UID_TAG]).toBe(r.metadata.uid);
    expect(await writesTo(id, mark)).toEqual(['TagResource']);
    // Default for an adopted application: Retain.
    await deleted(a, 'legacy-adopted');
    expect(await writesTo(id, mark)).toEqual(['TagResource']);
    expect(await stateOf(id)).toBe('CREATED');
  });
});

describe('the adoption race', () => {
  const ROUNDS = 20;

  it(`two resources adopting one unclaimed application at once: exactly one binds it, ${ROUNDS} times out of ${ROUNDS}`, async () => {
    // A slow TagResource widens the window in which two claims could overlap.
    await a.aws.fault({ operation: 'TagResource', latencyMs: 100 });
    const outcomes: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const id = await a.createApplicationOutOfBand(`contested-${round}`);
        const mark = await a.mark();
        const names = [`left-${round}`, `right-${round}`];
        await b.apply(names.map((n) => manifest(n, { applicationId: id })).join('---\n'));
        const settled = await Promise.all(
          names.map((n) =>
            b.waitForResource(n, 'bound or refused', (r) => {
              const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
              return (ready?.reason === 'Reconciled' || ready?.reason === 'OwnedByAnotherResource') && r;
            }),
          ),
        );
        const winners = settled.filter((r) => r.status?.applicationId === id);
        const losers = settled.filter((r) =>
          r.status?.conditions?.some((c) => c.reason === 'OwnedByAnotherResource'),
        );
        expect(winners, `round ${round}`).toHaveLength(1);
        expect(losers, `round ${round}`).toHaveLength(1);
        expect((await tagsOf(id))[OWNER_UID_TAG], `round ${round}`).toBe(winners[0]!.metadata.uid);
        expect(await writesTo(id, mark), `round ${round}`).toEqual(['TagResource']);
        outcomes.push(winners[0]!.metadata.name);
        await b.kubectl(['delete', 'emrsa', ...names, '--wait=false']);
        await Promise.all(names.map((n) => b.waitGone(n)));
        expect(await stateOf(id)).toBe('CREATED');
      }
    } finally {
      await a.aws.clearFaults();
    }
    expect(outcomes).toHaveLength(ROUNDS);
    console.log(`adoption race: ${ROUNDS} rounds, one binding each; winners: ${outcomes.join(' ')}`);
  }, 300_000);
});
