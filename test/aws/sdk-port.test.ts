// SdkAwsPort end to end: the real SDK clients against the local service.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWNER_UID_TAG } from '../../src/api/constants.js';
import { AwsClients } from '../../src/aws/clients.js';
import type { AwsPort, CreateApplicationInput } from '../../src/aws/port.js';
import { ACTIVE_JOB_RUNS_PAGE_SIZE } from '../../src/aws/sdk-port.js';
import { rejection, UNKNOWN_KEY_ARN, useLocalService, waitForState } from './local-service.js';

const REGION = 'us-east-1';
const service = useLocalService();

let clients: AwsClients;
let port: AwsPort;
beforeEach(() => {
  clients = new AwsClients({ endpoint: service.endpoint, rps: 0 });
  port = clients.forRegion(REGION);
});
afterEach(() => clients.close());

let seq = 0;
const input = (overrides: Partial<CreateApplicationInput> = {}): CreateApplicationInput => ({
  name: 'analytics',
  type: 'SPARK',
  releaseLabel: 'emr-7.5.0',
  tags: { team: 'data' },
  clientToken: `token-${++seq}`,
  ...overrides,
});

describe('applications', () => {
  it('creates with every given field and reads it back in the spec field names', async () => {
    const key = await service.control.createKey();
    const { applicationId, arn } = await port.createApplication(
      input({
        maximumCapacity: { cpu: '200 vCPU', memory: '200 GB' },
        autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 30 },
        imageConfiguration: { imageUri: '111122223333.dkr.ecr.us-east-1.amazonaws.com/spark:latest' },
        diskEncryptionConfiguration: {
          encryptionKeyArn: key.Arn,
          encryptionContext: { project: 'analytics' },
        },
      }),
    );
    expect(applicationId).toMatch(/^[0-9a-z]+$/);
    expect(arn).toBe(`arn:aws:emr-serverless:${REGION}:123456789012:/applications/${applicationId}`);

    const app = await waitForState(port, applicationId, 'CREATED');
    expect(app).toMatchObject({
      applicationId,
      arn,
      name: 'analytics',
      type: 'SPARK',
      releaseLabel: 'emr-7.5.0',
      state: 'CREATED',
      tags: { team: 'data' },
      maximumCapacity: { cpu: '200 vCPU', memory: '200 GB' },
      autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 30 },
      imageConfiguration: { imageUri: '111122223333.dkr.ecr.us-east-1.amazonaws.com/spark:latest' },
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn, encryptionContext: { project: 'analytics' } },
    });
    // Output-only noise stays out.
    expect(app).not.toHaveProperty('createdAt');
    expect(app.imageConfiguration).not.toHaveProperty('resolvedImageDigest');
  });

  it('answers tags as an object even when the application has none', async () => {
    const { applicationId } = await port.createApplication(input({ tags: {} }));
    expect((await port.getApplication(applicationId))?.tags).toEqual({});
  });

  it('creates once per clientToken', async () => {
    const first = await port.createApplication(input({ clientToken: 'same-uid-token' }));
    const again = await port.createApplication(input({ clientToken: 'same-uid-token' }));
    expect(again.applicationId).toBe(first.applicationId);
  });

  it('answers undefined for an unknown application', async () => {
    expect(await port.getApplication('0000unknown')).toBeUndefined();
  });

  it('updates exactly the given fields: set a customer key, then {} for the AWS-owned key', async () => {
    const key = await service.control.createKey();
    const { applicationId } = await port.createApplication(
      input({ maximumCapacity: { cpu: '100 vCPU', memory: '100 GB' } }),
    );
    await waitForState(port, applicationId, 'CREATED');

    const set = await port.updateApplication(applicationId, {
      diskEncryptionConfiguration: { encryptionKeyArn: key.Arn, encryptionContext: { project: 'x' } },
    });
    expect(set.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: key.Arn,
      encryptionContext: { project: 'x' },
    });
    expect(set.maximumCapacity).toEqual({ cpu: '100 vCPU', memory: '100 GB' });

    const unset = await port.updateApplication(applicationId, { diskEncryptionConfiguration: {} });
    // Absent or {}: both mean the AWS-owned key (the planner normalises).
    expect(unset.diskEncryptionConfiguration?.encryptionKeyArn).toBeUndefined();
    const read = await port.getApplication(applicationId);
    expect(read?.diskEncryptionConfiguration?.encryptionKeyArn).toBeUndefined();
    expect(read?.maximumCapacity).toEqual({ cpu: '100 vCPU', memory: '100 GB' });
  });

  it('starts, refuses a disk encryption change while STARTED (stateRace), stops and deletes', async () => {
    const key = await service.control.createKey();
    const { applicationId } = await port.createApplication(input());
    await waitForState(port, applicationId, 'CREATED');

    await port.startApplication(applicationId);
    await waitForState(port, applicationId, 'STARTED');
    const race = await rejection(
      port.updateApplication(applicationId, { diskEncryptionConfiguration: { encryptionKeyArn: key.Arn } }),
    );
    expect(race).toMatchObject({ name: 'AwsError', kind: 'stateRace', operation: 'UpdateApplication' });
    expect(race.message).toMatch(/Current status: STARTED/);
    // Allowed while STARTED.
    const changed = await port.updateApplication(applicationId, {
      maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' },
    });
    expect(changed.maximumCapacity).toEqual({ cpu: '8 vCPU', memory: '32 GB' });
    expect(await rejection(port.deleteApplication(applicationId))).toMatchObject({ kind: 'stateRace' });

    await port.stopApplication(applicationId);
    await waitForState(port, applicationId, 'STOPPED');
    await port.deleteApplication(applicationId);
    // GetApplication keeps answering for deleted apps.
    expect((await waitForState(port, applicationId, 'TERMINATED')).state).toBe('TERMINATED');
  });

  it('maps refusals to AwsError kinds', async () => {
    const { applicationId } = await port.createApplication(input());
    await waitForState(port, applicationId, 'CREATED');
    const invalid = await rejection(
      port.updateApplication(applicationId, {
        diskEncryptionConfiguration: { encryptionKeyArn: 'alias/not-a-key-arn' },
      }),
    );
    expect(invalid).toMatchObject({ kind: 'invalid', code: 'ValidationException' });
    expect(await rejection(port.startApplication('0000unknown'))).toMatchObject({
      kind: 'notFound',
      code: 'ResourceNotFoundException',
      operation: 'StartApplication',
    });
  });

  it('answers a stop refused for running jobs as a stateRace', async () => {
    const { applicationId } = await port.createApplication(input());
    await waitForState(port, applicationId, 'CREATED');
    await port.startApplication(applicationId);
    await waitForState(port, applicationId, 'STARTED');
    await service.control.createJobRun(applicationId, 'RUNNING');
    expect(await rejection(port.stopApplication(applicationId))).toMatchObject({
      kind: 'stateRace',
      operation: 'StopApplication',
    });
  });

  it('tags and untags', async () => {
    const { applicationId, arn } = await port.createApplication(input());
    await port.tagApplication(arn, { owner: 'me', cost: 'c1' });
    expect((await port.getApplication(applicationId))?.tags).toEqual({
      team: 'data',
      owner: 'me',
      cost: 'c1',
    });
    await port.untagApplication(arn, ['owner', 'team']);
    expect((await port.getApplication(applicationId))?.tags).toEqual({ cost: 'c1' });
    // Nothing to do: no call (the service would refuse an empty list).
    await port.tagApplication(arn, {});
    await port.untagApplication(arn, []);
  });
});

describe('listApplications', () => {
  it('answers every live application, page by page of 50, with its state and updatedAt', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 120; i++)
      ids.push((await port.createApplication(input({ name: `app-${i}` }))).applicationId);
    await waitForState(port, ids[119]!, 'CREATED');
    const gone = ids[0]!;
    await waitForState(port, gone, 'CREATED');
    await port.deleteApplication(gone);

    const mark = (await service.control.calls()).length;
    const listed = await port.listApplications();
    const lists = (await service.control.calls())
      .slice(mark)
      .filter((c) => c.operation === 'ListApplications');
    expect(lists).toHaveLength(3);
    expect(listed.map((a) => a.applicationId).sort()).toEqual(ids.slice(1).sort());
    const read = await port.getApplication(ids[7]!);
    expect(listed.find((a) => a.applicationId === ids[7])).toEqual({
      applicationId: ids[7],
      name: 'app-7',
      state: 'CREATED',
      updatedAt: read?.updatedAt,
    });
    expect(read?.updatedAt).toBeInstanceOf(Date);
  });

  it('sees updatedAt move on an update and a state change, and not on tags', async () => {
    const { applicationId, arn } = await port.createApplication(input());
    const created = await waitForState(port, applicationId, 'CREATED');
    const updatedAt = async () =>
      (await port.listApplications()).find((a) => a.applicationId === applicationId)?.updatedAt?.getTime();
    const afterCreate = await updatedAt();
    expect(afterCreate).toBe(created.updatedAt?.getTime());

    await port.tagApplication(arn, { owner: 'me' });
    await port.untagApplication(arn, ['team']);
    expect(await updatedAt()).toBe(afterCreate);

    await new Promise((resolve) => setTimeout(resolve, 5));
    await port.updateApplication(applicationId, { maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' } });
    const afterUpdate = await updatedAt();
    expect(afterUpdate).toBeGreaterThan(afterCreate!);

    await new Promise((resolve) => setTimeout(resolve, 5));
    await port.startApplication(applicationId);
    expect(await updatedAt()).toBeGreaterThan(afterUpdate!);
  });
});

describe('findOwnedApplication', () => {
  const uid = '6a1f0e4c-0000-4000-8000-000000000001';

  it('finds the app a crashed reconcile created, by name and owner uid tag', async () => {
    const created = await port.createApplication(input({ name: 'orders', tags: { [OWNER_UID_TAG]: uid } }));
    // Another resource's app of the same name must not be taken.
    await port.createApplication(input({ name: 'orders', tags: { [OWNER_UID_TAG]: 'another-uid' } }));
    await port.createApplication(input({ name: 'other', tags: { [OWNER_UID_TAG]: uid } }));

    const found = await port.findOwnedApplication('orders', uid);
    expect(found?.applicationId).toBe(created.applicationId);
    expect(found?.tags[OWNER_UID_TAG]).toBe(uid);
    expect(await port.findOwnedApplication('orders', 'nobody')).toBeUndefined();
    expect(await port.findOwnedApplication('missing', uid)).toBeUndefined();
  });

  it('reads every page of the listing', async () => {
    // More than one page of 50 before ours.
    for (let i = 0; i < 60; i++) await port.createApplication(input({ name: `filler-${i}` }));
    const ours = await port.createApplication(input({ name: 'late', tags: { [OWNER_UID_TAG]: uid } }));
    expect((await port.findOwnedApplication('late', uid))?.applicationId).toBe(ours.applicationId);
    const lists = (await service.control.calls()).filter((c) => c.operation === 'ListApplications');
    expect(lists.length).toBeGreaterThanOrEqual(2);
  });

  it('does not take a terminated app', async () => {
    const { applicationId } = await port.createApplication(
      input({ name: 'gone', tags: { [OWNER_UID_TAG]: uid } }),
    );
    await waitForState(port, applicationId, 'CREATED');
    await port.deleteApplication(applicationId);
    await waitForState(port, applicationId, 'TERMINATED');
    expect(await port.findOwnedApplication('gone', uid)).toBeUndefined();
  });
});

describe('countActiveWork', () => {
  it('counts job runs of every mode in non-final states, and sessions not ended', async () => {
    const { applicationId } = await port.createApplication(input());
    expect(await port.countActiveWork(applicationId)).toEqual({ jobRuns: 0, sessions: 0 });
    for (const state of ['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'CANCELLING', 'QUEUED']) {
      await service.control.createJobRun(applicationId, state);
    }
    for (const state of ['SUCCESS', 'FAILED', 'CANCELLED'])
      await service.control.createJobRun(applicationId, state);
    expect(await port.countActiveWork(applicationId)).toEqual({ jobRuns: 6, sessions: 0 });
  });

  it('answers 0 for an unknown application (ListJobRuns models no ResourceNotFound, ListSessions does)', async () => {
    expect(await port.countActiveWork('0000unknown')).toEqual({ jobRuns: 0, sessions: 0 });
  });

  it('reads one page: the count is exact up to the page size, a lower bound above it', async () => {
    const { applicationId } = await port.createApplication(input());
    for (let i = 0; i < ACTIVE_JOB_RUNS_PAGE_SIZE + 5; i++) await service.control.createJobRun(applicationId);
    expect((await port.countActiveWork(applicationId)).jobRuns).toBe(ACTIVE_JOB_RUNS_PAGE_SIZE);
  });
});

describe('describeKey', () => {
  it('describes an enabled symmetric key', async () => {
    const key = await service.control.createKey();
    expect(await port.describeKey(key.Arn)).toEqual({
      kind: 'found',
      arn: key.Arn,
      keyState: 'Enabled',
      keySpec: 'SYMMETRIC_DEFAULT',
      keyUsage: 'ENCRYPT_DECRYPT',
    });
  });

  it('describes disabled, pending deletion and asymmetric keys as found, with their facts', async () => {
    const disabled = await service.control.createKey({ keyState: 'Disabled' });
    const doomed = await service.control.createKey();
    await service.control.setKeyState(doomed.Arn, 'PendingDeletion');
    const signing = await service.control.createKey({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' });

    expect(await port.describeKey(disabled.Arn)).toMatchObject({ kind: 'found', keyState: 'Disabled' });
    expect(await port.describeKey(doomed.Arn)).toMatchObject({ kind: 'found', keyState: 'PendingDeletion' });
    expect(await port.describeKey(signing.Arn)).toMatchObject({
      kind: 'found',
      keyState: 'Enabled',
      keySpec: 'RSA_2048',
      keyUsage: 'SIGN_VERIFY',
    });
  });

  it('answers notFound for an unknown key and accessDenied for a key it may not describe', async () => {
    expect(await port.describeKey(UNKNOWN_KEY_ARN)).toMatchObject({ kind: 'notFound' });
    const foreign = await service.control.createKey({ account: '444455556666' });
    await service.control.denyKey(foreign.Arn);
    const denied = await port.describeKey(foreign.Arn);
    expect(denied.kind).toBe('accessDenied');
    expect(denied.kind === 'accessDenied' && denied.message).toMatch(/not authorized/);
  });

  it('throws AwsError for failures that say nothing about the key', async () => {
    const key = await service.control.createKey();
    await service.control.fault({
      operation: 'DescribeKey',
      status: 500,
      errorType: 'KMSInternalException',
      count: 3,
    });
    expect(await rejection(port.describeKey(key.Arn))).toMatchObject({
      kind: 'transient',
      operation: 'DescribeKey',
    });
  });
});
