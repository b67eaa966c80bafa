// The binding held by the operator alone: a CRD installed without its binding rules (an older
// CRD, or one edited by hand) lets a spec that moves the binding through, and the operator still
// writes nothing to AWS (Stalled ImmutableFieldConflict) and deletes the application it created.
// This file runs its OWN control plane: the shared one's CRD must keep its rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildCrd } from '../../src/api/crd.js';
import { type ControlPlane, startControlPlane, waitForCrdsEstablished } from '../../src/envtest/index.js';
import { baseSpec, CRD_NAME, E2e, manifest, ownCluster, REGION, reportFailures } from '../support/e2e.js';

let controlPlane: ControlPlane;
let e2e: E2e;

beforeAll(async () => {
  controlPlane = await startControlPlane({ log: () => {} });
  e2e = await E2e.start('e2e-norules', {
    cluster: ownCluster(controlPlane),
  });
  const crd = buildCrd() as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: Record<string, unknown> } }> };
  };
  delete crd.spec.versions[0]!.schema.openAPIV3Schema['x-kubernetes-validations'];
  await e2e.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: stringify(crd) });
  await waitForCrdsEstablished((args) => e2e.kubectl(args), [`crd/${CRD_NAME}`]);
});

afterAll(async () => {
  await e2e?.stop();
  await controlPlane?.stop();
});

reportFailures(() => e2e, 'pinned');

describe('a CRD without the binding rules', () => {
  it('a spec that moves the binding is Stalled ImmutableFieldConflict with zero writes; deletion deletes the bound application', async () => {
    await e2e.apply(manifest('pinned', baseSpec('pinned')));
    const id = (await e2e.waitForReady('pinned', 'True', 'Reconciled')).status!.applicationId!;
    const other = await e2e.createApplicationOutOfBand('not-mine');
    const mark = await e2e.mark();

    for (const extra of [{ region: 'us-east-1' }, { applicationId: other }]) {
      // Accepted: nothing at admission stops it here.
      await e2e.apply(manifest('pinned', baseSpec('pinned', extra)));
      const stalled = await e2e.waitForStalled('pinned', 'ImmutableFieldConflict');
      expect(stalled.status).toMatchObject({ applicationId: id, region: REGION, origin: 'Created' });
      expect(await e2e.writesSince(mark)).toEqual([]);
    }

    await e2e.kubectl(['delete', 'emrsa', 'pinned', '--wait=false']);
    await e2e.waitGone('pinned');
    expect(await e2e.writesSince(mark)).toEqual(['DeleteApplication']);
    expect((await e2e.writesSince(mark, id)).length).toBe(1);
    expect((await e2e.application(id)).state).toBe('TERMINATED');
    expect((await e2e.application(other)).state).toBe('CREATED');
  });
});
