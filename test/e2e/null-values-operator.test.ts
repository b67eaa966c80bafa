// The operator's own refusal of a null, for a cluster where the admission policy is not in force
// (installed without it, or resources written before it): on every apply path, a null
// encryptionKeyArn, encryptionContext or context value makes the resource Stalled NullValue, on
// create and on update from a key and from `{}`, with zero AWS writes; fixing the manifest makes
// it Ready again, still without a write. This file runs its OWN control plane: the shared one
// keeps the policy, which every other file relies on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../../src/envtest/index.js';
import { condition, E2e, ownCluster, reportFailures, waitFor } from '../support/e2e.js';
import {
  APPLY_PATHS,
  type ApplyPath,
  CLIENT_SENDS_NULL,
  CLIENT_SIDE_APPLY,
  NULL_CASES,
  type NullCase,
  nullProbe,
  withDisk,
} from '../support/null-paths.js';

const BINDING = 'emrserverlessapplications.emrserverless.operator.dev-refuse-nulls';

let controlPlane: ControlPlane;
let e2e: E2e;
let key: string;

beforeAll(async () => {
  controlPlane = await startControlPlane({ log: () => {} });
  e2e = await E2e.start('e2e-nulls-operator', { cluster: ownCluster(controlPlane) });
  key = await e2e.createKey();
  await e2e.kubectl(['delete', 'validatingadmissionpolicybinding', BINDING]);
  // Wait until the policy no longer refuses (it is unbound a moment after the delete).
  await waitFor('the admission policy to be out of force', async () => (await nullProbe(e2e)).exitCode === 0);
});

afterAll(async () => {
  await e2e?.stop();
  await controlPlane?.stop();
});

reportFailures(() => e2e);

const slug = (path: ApplyPath) =>
  path === CLIENT_SIDE_APPLY ? 'csa' : path === CLIENT_SENDS_NULL ? 'raw' : 'ssa';
const FROM_KEY = { team: 'data' };

/** How the operator names the null: kubectl apply leaves it only in the last-applied configuration. */
function named(path: ApplyPath, c: NullCase): string {
  const field = c.stored.replace(' is null', '').replace('[*]', '.team');
  return path === CLIENT_SIDE_APPLY
    ? `${field} was null in the last applied configuration`
    : `${field} is null`;
}

/** A write that is not an apply: the last-applied annotation stays as it was. */
const mergePatchSpec = (name: string, spec: Record<string, unknown>) =>
  e2e.kubectl(['patch', 'emrsa', name, '--type', 'merge', '-p', JSON.stringify({ spec })]);

async function stalledNull(name: string, path: ApplyPath, c: NullCase) {
  const r = await e2e.waitForStalled(name, 'NullValue');
  const message = condition(r, 'Stalled')!.message;
  expect(message).toContain(named(path, c));
  expect(message).toContain('Nothing was sent to AWS');
  expect(message).toContain('diskEncryptionConfiguration: {}');
  return r;
}

describe.each(APPLY_PATHS)('$name, without the admission policy', (path) => {
  const fromKey = `${slug(path)}-from-key`;
  const fromEmpty = `${slug(path)}-from-empty`;
  const good = {
    [fromKey]: { encryptionKeyArn: '', encryptionContext: FROM_KEY },
    [fromEmpty]: {},
  };

  beforeAll(async () => {
    good[fromKey]!.encryptionKeyArn = key;
    for (const name of [fromKey, fromEmpty]) {
      const r = await path.send(e2e, name, withDisk(name, good[name]));
      expect(r.exitCode, r.stderr).toBe(0);
    }
    await Promise.all([fromKey, fromEmpty].map((n) => e2e.waitForReady(n, 'True', 'Reconciled')));
  });

  it.each(NULL_CASES)('a null $field on create: Stalled NullValue, nothing created', async (c) => {
    const name = `${slug(path)}-new-${NULL_CASES.indexOf(c)}`;
    const mark = await e2e.mark();
    const r = await path.send(e2e, name, withDisk(name, c.disk(key)));
    expect(r.exitCode, r.stderr).toBe(0);
    const stalled = await stalledNull(name, path, c);
    expect(stalled.metadata.finalizers ?? []).toEqual([]);
    expect(stalled.status?.applicationId).toBeUndefined();
    expect(await e2e.writesSince(mark)).toEqual([]);
    await e2e.kubectl(['delete', 'emrsa', name]);
  });

  it.each(NULL_CASES)(
    'a null $field on update from a key and from {}: Stalled NullValue, AWS untouched; the fixed manifest is Ready again',
    async (c) => {
      for (const name of [fromKey, fromEmpty]) {
        const id = (await e2e.get(name)).status!.applicationId!;
        const held = (await e2e.application(id)).diskEncryptionConfiguration;
        const mark = await e2e.mark();
        const sent = await path.send(e2e, name, withDisk(name, c.disk(key)));
        expect(sent.exitCode, sent.stderr).toBe(0);
        await stalledNull(name, path, c);

        const fixed = await path.send(e2e, name, withDisk(name, good[name]));
        expect(fixed.exitCode, fixed.stderr).toBe(0);
        await e2e.waitForReady(name, 'True', 'Reconciled');
        expect(await e2e.writesSince(mark)).toEqual([]);
        expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual(held);
      }
    },
  );
});

describe('a stale last-applied configuration', () => {
  it('a null there counts only while the live spec lacks the field: a later write that restores it clears the stall', async () => {
    const name = 'stale';
    const good = { encryptionKeyArn: key };
    expect((await CLIENT_SIDE_APPLY.send(e2e, name, withDisk(name, good))).exitCode).toBe(0);
    const id = (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
    const mark = await e2e.mark();
    expect(
      (await CLIENT_SIDE_APPLY.send(e2e, name, withDisk(name, { encryptionKeyArn: null }))).exitCode,
    ).toBe(0);
    await e2e.waitForStalled(name, 'NullValue');
    // A write that is not an apply (kubectl patch, kubectl edit) puts the key back and leaves
    // the annotation, with its null, as it was.
    await mergePatchSpec(name, { diskEncryptionConfiguration: good });
    const r = await e2e.waitForReady(name, 'True', 'Reconciled');
    expect(r.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"encryptionKeyArn":null',
    );
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual(good);
  });
});

describe('deletion', () => {
  it('waits, Stalled NullValue, while deletionPolicy is null; once set, deletion follows it', async () => {
    const name = 'leaving';
    expect((await CLIENT_SIDE_APPLY.send(e2e, name, withDisk(name))).exitCode).toBe(0);
    const id = (await e2e.waitForReady(name, 'True', 'Reconciled')).status!.applicationId!;
    const mark = await e2e.mark();
    expect(
      (await CLIENT_SIDE_APPLY.send(e2e, name, { ...withDisk(name), deletionPolicy: null })).exitCode,
    ).toBe(0);
    await e2e.waitForStalled(name, 'NullValue');

    await e2e.kubectl(['delete', 'emrsa', name, '--wait=false']);
    const r = await e2e.waitForResource(
      name,
      'Stalled NullValue while deleting',
      (x) =>
        !!x.metadata.deletionTimestamp &&
        condition(x, 'Stalled')?.message.includes(
          'The resource stays until spec.deletionPolicy is Delete or Retain',
        ) &&
        x,
    );
    expect(r.metadata.finalizers).toContain('emrserverless.operator.dev/finalizer');
    expect(await e2e.writesSince(mark)).toEqual([]);

    await mergePatchSpec(name, { deletionPolicy: 'Retain' });
    await e2e.waitGone(name);
    expect(await e2e.writesSince(mark)).toEqual([]);
    expect((await e2e.application(id)).state).not.toBe('TERMINATED');
  });
});
