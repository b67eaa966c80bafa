// The watch broken and the API server restarted under the operator. This file runs its OWN
// control plane (startControlPlane): stopping the shared one would break every other file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../../src/envtest/index.js';
import { baseSpec, E2e, manifest, ownCluster, reportFailures, sleep } from '../support/e2e.js';

let controlPlane: ControlPlane;
let e2e: E2e;

beforeAll(async () => {
  controlPlane = await startControlPlane({ log: () => {} });
  e2e = await E2e.start('e2e-apiserver', {
    cluster: ownCluster(controlPlane),
  });
});

afterAll(async () => {
  await e2e?.stop();
  await controlPlane?.stop();
});

reportFailures(() => e2e);

describe('kube-apiserver restart', () => {
  it('the operator rides out the outage and reconciles a change made after the restart', async () => {
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    const spec = (key: string) =>
      manifest('survivor', baseSpec('survivor', { diskEncryptionConfiguration: { encryptionKeyArn: key } }));
    await e2e.apply(spec(keyA));
    const id = (await e2e.waitForReady('survivor', 'True', 'Reconciled')).status!.applicationId!;

    const logMark = e2e.operator.lines.length;
    await controlPlane.stopApiServer();
    // The watch breaks and list/watch fails while the server is down; the operator stays up.
    await e2e.operator.waitForLog(
      (l) => (l.level ?? 0) >= 40 && /watch|list/i.test(`${l.msg} ${JSON.stringify(l.err ?? '')}`),
      30_000,
      logMark,
    );
    await sleep(2_000);
    expect(e2e.operator.running).toBe(true);
    await controlPlane.startApiServer();

    const mark = await e2e.mark();
    await e2e.apply(spec(keyB));
    const r = await e2e.waitForResource(
      'survivor',
      'key B applied after the restart',
      (x) =>
        x.status?.diskEncryption?.encryptionKeyArn === keyB &&
        x.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        x.status.observedGeneration === 2 &&
        x,
      60_000,
    );
    expect(r.status?.applicationId).toBe(id);
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: keyB,
      encryptionContext: {},
    });
    expect(e2e.operator.running).toBe(true);
  });
});
