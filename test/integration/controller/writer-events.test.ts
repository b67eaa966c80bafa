// ResourceWriter and EventRecorder against a real kube-apiserver.
import { EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIELD_MANAGER, FINALIZER } from '../../../src/api/constants.js';
import type { Status } from '../../../src/api/schema.js';
import { KubeEventRecorder, REPORTING_CONTROLLER } from '../../../src/controller/events.js';
import { ConflictError, KubeResourceWriter } from '../../../src/controller/resource-writer.js';
import { waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { adminKube, adminKubeConfig, kubectl, newNamespace } from '../../support/cluster.js';
import { Apps, CRD_DIR, CRD_NAME, testLogger, waitFor } from './helpers.js';

const kc = adminKubeConfig();
const kube = await adminKube();
const apps = new Apps(kc);
let ns: string;

beforeAll(async () => {
  await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
  await waitForCrdsEstablished(kubectl, [`crd/${CRD_NAME}`]);
  ns = await newNamespace('controller-writer');
});

const status = (state: string): Status => ({
  observedGeneration: 1,
  state,
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      observedGeneration: 1,
      lastTransitionTime: '2026-01-01T00:00:00Z',
      reason: 'Ready',
      message: 'in sync',
    },
  ],
});

describe('KubeResourceWriter', () => {
  const writer = new KubeResourceWriter(kube);

  it('adds the finalizer next to others and removes only its own', async () => {
    const created = await apps.create(ns, 'fin', { finalizers: ['example.com/other'] });
    const added = await writer.addFinalizer(created);
    expect(added.metadata.finalizers).toEqual(['example.com/other', FINALIZER]);
    expect(added.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
    // Idempotent: already there, no write.
    expect(await writer.addFinalizer(added)).toBe(added);

    await writer.removeFinalizer(added);
    const after = await apps.get(ns, 'fin');
    expect(after.metadata.finalizers).toEqual(['example.com/other']);
  });

  it('adds the finalizer to an object that has none', async () => {
    const created = await apps.create(ns, 'fin-none');
    const added = await writer.addFinalizer(created);
    expect(added.metadata.finalizers).toEqual([FINALIZER]);
  });

  it('refuses to patch a stale version (ConflictError) and leaves the object alone', async () => {
    const created = await apps.create(ns, 'stale');
    const added = await writer.addFinalizer(created);
    // Someone else changes the object: `created` is now stale.
    const other = await apps.replace({
      ...added,
      metadata: { ...added.metadata, labels: { changed: 'yes' } },
    });
    await expect(
      writer.addFinalizer({ ...created, metadata: { ...created.metadata } }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(writer.removeFinalizer(added)).rejects.toBeInstanceOf(ConflictError);
    const now = await apps.get(ns, 'stale');
    expect(now.metadata.finalizers).toEqual([FINALIZER]);
    expect(now.metadata.resourceVersion).toBe(other.metadata.resourceVersion);
  });

  it('removing the finalizer of a deleted object lets it go; a second removal is a no-op', async () => {
    const created = await apps.create(ns, 'gone');
    const added = await writer.addFinalizer(created);
    await apps.delete(ns, 'gone');
    const terminating = await apps.get(ns, 'gone');
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    await writer.removeFinalizer(terminating);
    await waitFor('object deleted', async () => !(await apps.exists(ns, 'gone')));
    await writer.removeFinalizer(added).catch((error: unknown) => {
      // 404 is swallowed; the stale version may also answer a conflict, never anything else.
      expect(error).toBeInstanceOf(ConflictError);
    });
  });

  it('applies status with server-side apply as emr-serverless-operator, on the status subresource', async () => {
    const created = await apps.create(ns, 'status');
    await writer.applyStatus(created, status('CREATED'));
    const after = await apps.get(ns, 'status');
    expect(after.status?.state).toBe('CREATED');
    expect(after.metadata.generation).toBe(created.metadata.generation);
    const managed =
      (after.metadata as { managedFields?: Array<Record<string, unknown>> }).managedFields ?? [];
    const ours = managed.find((m) => m.manager === FIELD_MANAGER);
    expect(ours).toMatchObject({ operation: 'Apply', subresource: 'status' });

    // The same status again changes nothing: resourceVersion stays.
    await writer.applyStatus(after, status('CREATED'));
    expect((await apps.get(ns, 'status')).metadata.resourceVersion).toBe(after.metadata.resourceVersion);

    // Fields dropped from the applied status are removed (we own them).
    await writer.applyStatus(after, { observedGeneration: 1, state: 'STARTED' });
    const last = await apps.get(ns, 'status');
    expect(last.status).toEqual({ observedGeneration: 1, state: 'STARTED' });
  });

  it('takes status fields over from another manager (force)', async () => {
    await apps.create(ns, 'force');
    await kubectl([
      'patch',
      '-n',
      ns,
      'emrserverlessapplication',
      'force',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"state":"STOPPED"}}',
    ]);
    await writer.applyStatus(await apps.get(ns, 'force'), { state: 'STARTED' });
    expect((await apps.get(ns, 'force')).status?.state).toBe('STARTED');
  });

  it('refuses a status planned from a stale version (ConflictError): the newer status, with its intent, stays', async () => {
    const created = await apps.create(ns, 'stale-status');
    const version = await writer.applyStatus(created, { ...status('STOPPED'), restartAfterUpdate: true });
    expect(version).toBeDefined();
    // A reconcile that read the object before that write (a cache not caught up) plans without the intent.
    await expect(writer.applyStatus(created, status('STOPPED'))).rejects.toBeInstanceOf(ConflictError);
    const now = await apps.get(ns, 'stale-status');
    expect(now.status?.restartAfterUpdate).toBe(true);
    expect(now.metadata.resourceVersion).toBe(version);
    // On the current version it goes through.
    await writer.applyStatus(now, status('STARTED'));
    expect((await apps.get(ns, 'stale-status')).status?.state).toBe('STARTED');
  });
});

describe('KubeEventRecorder', () => {
  const events = kc.makeApiClient(EventsV1Api);
  const listFor = async (uid: string): Promise<EventsV1Event[]> =>
    (await events.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.regarding?.uid === uid);

  it('creates one events.k8s.io/v1 Event and aggregates repeats into its series', async () => {
    const obj = await apps.create(ns, 'events');
    let now = Date.now();
    const recorder = new KubeEventRecorder({
      kube,
      logger: testLogger(),
      reportingInstance: 'test-pod',
      patchIntervalMs: 1_000,
      now: () => now,
    });
    const event = {
      type: 'Warning',
      reason: 'KeyDisabled',
      action: 'DescribeKey',
      message: 'key is disabled: enable it',
    } as const;

    recorder.record(obj, event);
    await recorder.flush();
    let list = await listFor(obj.metadata.uid);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      reason: 'KeyDisabled',
      action: 'DescribeKey',
      type: 'Warning',
      note: 'key is disabled: enable it',
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: 'test-pod',
      regarding: { kind: 'EmrServerlessApplication', name: 'events', namespace: ns, uid: obj.metadata.uid },
    });
    expect(list[0]?.series).toBeUndefined();

    // Two repeats inside the interval: one deferred write carrying count 3.
    now += 100;
    recorder.record(obj, event);
    now += 100;
    recorder.record(obj, event);
    await recorder.flush();
    list = await listFor(obj.metadata.uid);
    expect(list).toHaveLength(1);
    expect(list[0]?.series?.count).toBe(3);

    // After the interval a repeat is written at once.
    now += 2_000;
    recorder.record(obj, event);
    await recorder.flush();
    list = await listFor(obj.metadata.uid);
    expect(list).toHaveLength(1);
    expect(list[0]?.series?.count).toBe(4);

    // A different message is a different Event.
    recorder.record(obj, { ...event, message: 'other' });
    await recorder.flush();
    expect(await listFor(obj.metadata.uid)).toHaveLength(2);
  });

  it('never throws into the caller when the API refuses the event', async () => {
    const recorder = new KubeEventRecorder({ kube, logger: testLogger(), reportingInstance: 'x' });
    const ghost = {
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: { name: 'ghost', namespace: 'no-such-namespace-here', uid: 'u', generation: 1 },
      spec: {},
    };
    expect(() =>
      recorder.record(ghost, { type: 'Normal', reason: 'R', action: 'A', message: 'm' }),
    ).not.toThrow();
    await recorder.flush();
  });
});
