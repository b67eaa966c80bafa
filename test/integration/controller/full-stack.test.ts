// The manager with the real ApplicationReconciler, the real AWS port and the local AWS service: status is
// written when it changes and never on a resync that finds everything in sync (zero AWS writes,
// zero Kubernetes writes, resourceVersion unchanged); deletion goes through the finalizer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINALIZER } from '../../../src/api/constants.js';
import { AwsClients } from '../../../src/aws/index.js';
import type { Manager } from '../../../src/controller/manager.js';
import { OperatorMetrics } from '../../../src/controller/metrics.js';
import { createOperator } from '../../../src/controller/operator.js';
import {
  AWS_WRITE_OPERATIONS,
  type Emulator,
  EmulatorControl,
  startEmulator,
} from '../../../src/emulator/index.js';
import { waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { adminKube, adminKubeConfig, kubectl, newNamespace } from '../../support/cluster.js';
import { callCount, expectQuietWindow } from '../../support/quiet.js';
import { Apps, CRD_DIR, CRD_NAME, testLogger, waitFor } from './helpers.js';

const REGION = 'eu-west-1';
const kc = adminKubeConfig();
const kube = await adminKube();
const apps = new Apps(kc);
let ns: string;
let emulator: Emulator;
let control: EmulatorControl;
let manager: Manager;
let aws: AwsClients;

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
  await waitForCrdsEstablished(kubectl, [`crd/${CRD_NAME}`]);
  ns = await newNamespace('controller-full');
  emulator = await startEmulator({ transitionMs: 20 });
  control = new EmulatorControl(emulator.endpoint);
  const logger = testLogger();
  const metrics = new OperatorMetrics({ processMetrics: false });
  aws = new AwsClients({ endpoint: emulator.endpoint, rps: 0, observer: metrics, env: {} });
  ({ manager } = createOperator({
    kube,
    logger,
    metrics,
    aws,
    region: REGION,
    verifyKeys: true,
    resyncPeriodMs: 1_500,
    namespaces: [ns],
    reportingInstance: 'test',
  }));
  await manager.start();
  await manager.waitForSync();
});

afterAll(async () => {
  await manager?.stop();
  aws?.close();
  await emulator?.close();
});

describe('manager + reconciler + local AWS service', () => {
  it('creates the application, then stays quiet on resyncs', async () => {
    await apps.create(ns, 'quiet');
    const ready = await waitFor(
      'Ready',
      async () => {
        const obj = await apps.get(ns, 'quiet');
        const cond = obj.status?.conditions?.find((c) => c.type === 'Ready');
        return cond?.status === 'True' ? obj : undefined;
      },
      30_000,
    );
    expect(ready.metadata.finalizers).toContain(FINALIZER);
    expect(ready.status?.applicationId).toBeTruthy();
    const appId = ready.status?.applicationId as string;

    // Let everything settle, then watch several resyncs.
    await new Promise((r) => setTimeout(r, 1_000));
    const settled = await apps.get(ns, 'quiet');
    const callsBefore = (await control.calls()).length;
    // Resyncs looked (listed the applications, or read this one) but wrote nothing, in AWS or in
    // Kubernetes.
    await expectQuietWindow({
      during: 5_000,
      reads: callCount(() => control.calls(), { applicationId: appId, atLeast: 2 }),
      writes: async () =>
        (await control.calls())
          .slice(callsBefore)
          .filter((c) => c.applicationId === appId && AWS_WRITE_OPERATIONS.has(c.operation)),
    });
    expect((await apps.get(ns, 'quiet')).metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
  });

  it('deletes the application and then the resource', async () => {
    await apps.create(ns, 'doomed');
    const ready = await waitFor(
      'application id',
      async () => (await apps.get(ns, 'doomed')).status?.applicationId,
      30_000,
    );
    await apps.delete(ns, 'doomed');
    await waitFor('resource gone', async () => !(await apps.exists(ns, 'doomed')), 30_000);
    const ops = (await control.calls()).filter((c) => c.applicationId === ready).map((c) => c.operation);
    expect(ops).toContain('DeleteApplication');
  });
});
