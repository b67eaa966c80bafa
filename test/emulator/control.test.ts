// The control API (calls log, reset, faults, out-of-band changes) and how the real SDK clients see
// injected errors; malformed requests answered with clear 4xx errors.
import {
  ConflictException,
  CreateApplicationCommand,
  GetApplicationCommand,
  InternalServerException,
  ListApplicationsCommand,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  StartApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { EmulatorControlError } from '../../src/emulator/index.js';
import { KEY_ARN, REGION, rejection, useHarness, waitForState } from './helpers.js';

const h = useHarness();

async function createApp(): Promise<string> {
  const out = await h.emr.send(
    new CreateApplicationCommand({ name: 'ctl', releaseLabel: 'emr-7.1.0', type: 'SPARK' }),
  );
  await waitForState(h.emr, out.applicationId!, 'CREATED');
  return out.applicationId!;
}

const getApp = (applicationId: string) => h.emr.send(new GetApplicationCommand({ applicationId }));

describe('calls log', () => {
  it('records every AWS call in order with service, operation, applicationId, status and time', async () => {
    const out = await h.emr.send(new CreateApplicationCommand({ releaseLabel: 'emr-7.1.0', type: 'SPARK' }));
    const id = out.applicationId!;
    await getApp(id);
    await rejection(getApp('00fmissing'));
    const key = await h.control.createKey({});
    await h.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }));

    const calls = await h.control.calls();
    expect(calls.map((c) => [c.service, c.operation, c.applicationId, c.status])).toEqual([
      ['emr-serverless', 'CreateApplication', id, 200],
      ['emr-serverless', 'GetApplication', id, 200],
      ['emr-serverless', 'GetApplication', '00fmissing', 404],
      ['kms', 'DescribeKey', undefined, 200],
    ]);
    expect(calls[2]?.errorType).toBe('ResourceNotFoundException');
    expect(calls[3]?.keyId).toBe(key.KeyId);
    for (const c of calls) {
      expect(c.region).toBe(REGION);
      expect(new Date(c.at).toISOString()).toBe(c.at);
    }
  });

  it('reset forgets applications, keys, faults and calls', async () => {
    const id = await createApp();
    const key = await h.control.createKey({});
    await h.control.fault({ operation: 'ListApplications', status: 500, rate: 1 });
    await h.control.reset();
    expect(await h.control.calls()).toEqual([]);
    await expect(getApp(id)).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(h.kms.send(new DescribeKeyCommand({ KeyId: key.Arn }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    expect((await h.emr.send(new ListApplicationsCommand({}))).applications).toEqual([]);
  });
});

describe('faults', () => {
  it('429 ThrottlingException twice: the SDK retries and succeeds on the 3rd attempt', async () => {
    const id = await createApp();
    await h.control.fault({
      operation: 'GetApplication',
      status: 429,
      errorType: 'ThrottlingException',
      count: 2,
    });
    const out = await getApp(id);
    expect(out.application?.applicationId).toBe(id);
    expect(out.$metadata.attempts).toBe(3);
    const statuses = (await h.control.calls())
      .filter((c) => c.operation === 'GetApplication')
      .map((c) => c.status);
    expect(statuses.slice(-3)).toEqual([429, 429, 200]);
  });

  it('500 InternalServerException is retried too', async () => {
    const id = await createApp();
    await h.control.fault({ operation: 'GetApplication', status: 500, count: 1 });
    const out = await getApp(id);
    expect(out.$metadata.attempts).toBe(2);
  });

  it('gives up after the SDK attempts and raises the modelled class', async () => {
    await h.control.fault({
      operation: 'ListApplications',
      status: 500,
      errorType: 'InternalServerException',
      count: 5,
    });
    const err = await rejection(h.emr.send(new ListApplicationsCommand({})));
    expect(err).toBeInstanceOf(InternalServerException);
    expect((err as InternalServerException).$metadata.attempts).toBe(3);
  });

  it('maps ConflictException (409) and ServiceQuotaExceededException (402) to their SDK classes, not retried', async () => {
    const id = await createApp();
    await h.control.fault({
      operation: 'CreateApplication',
      status: 409,
      errorType: 'ConflictException',
      count: 1,
    });
    const conflict = await rejection(
      h.emr.send(new CreateApplicationCommand({ releaseLabel: 'emr-7.1.0', type: 'SPARK' })),
    );
    expect(conflict).toBeInstanceOf(ConflictException);
    expect(conflict.$metadata?.httpStatusCode).toBe(409);
    expect((conflict as ConflictException).$metadata.attempts).toBe(1);

    await h.control.fault({ operation: 'StartApplication', status: 402, count: 1 });
    const quota = await rejection(h.emr.send(new StartApplicationCommand({ applicationId: id })));
    expect(quota).toBeInstanceOf(ServiceQuotaExceededException);
  });

  it('rate 1 fails every call, rate 0 none; DELETE clears faults', async () => {
    const id = await createApp();
    const strict = h.emrIn(REGION);
    strict.config.maxAttempts = async () => 1;
    await h.control.fault({ operation: 'GetApplication', status: 500, rate: 1 });
    for (let i = 0; i < 3; i++)
      await expect(strict.send(new GetApplicationCommand({ applicationId: id }))).rejects.toThrow();
    await h.control.clearFaults();
    await h.control.fault({ operation: 'GetApplication', status: 500, rate: 0 });
    for (let i = 0; i < 3; i++) await strict.send(new GetApplicationCommand({ applicationId: id }));
  });

  it("'*' faults every AWS operation, KMS included", async () => {
    const key = await h.control.createKey({});
    await h.control.fault({ operation: '*', status: 400, errorType: 'AccessDeniedException', count: 1 });
    const err = await rejection(h.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId })));
    expect(err.name).toBe('AccessDeniedException');
    await h.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }));
  });

  it('adds latency', async () => {
    const id = await createApp();
    await h.control.fault({ operation: 'GetApplication', latencyMs: 200 });
    const t0 = Date.now();
    await getApp(id);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    await h.control.clearFaults();
  });

  it('holds the answer after the effect: the change is made and logged before the caller hears', async () => {
    const id = await createApp();
    await h.control.fault({ operation: 'StartApplication', holdAnswerMs: 600, count: 1 });
    const mark = (await h.control.calls()).length;
    const t0 = Date.now();
    const answered = h.emr.send(new StartApplicationCommand({ applicationId: id })).then(() => Date.now());
    // While the answer is held, the start has happened and the calls log says so.
    await waitForState(h.emr, id, 'STARTED');
    const logged = (await h.control.calls()).slice(mark).map((c) => `${c.operation} ${c.status}`);
    expect(logged).toContain('StartApplication 200');
    expect(Date.now() - t0).toBeLessThan(550);
    expect((await answered) - t0).toBeGreaterThanOrEqual(590);
    // A count-only hold is used up by one call: the next is answered at once.
    const t1 = Date.now();
    await h.emr.send(new StartApplicationCommand({ applicationId: id }));
    expect(Date.now() - t1).toBeLessThan(500);
  });

  it('refuses a hold together with an error', async () => {
    await expect(
      h.control.fault({ operation: 'StartApplication', holdAnswerMs: 100, status: 500 }),
    ).rejects.toBeInstanceOf(EmulatorControlError);
  });

  it('refuses a fault without an operation', async () => {
    await expect(h.control.fault({ operation: '', status: 500 })).rejects.toBeInstanceOf(
      EmulatorControlError,
    );
  });
});

describe('out-of-band changes', () => {
  it('patches any application field and the state without the API rules', async () => {
    const id = await createApp();
    await h.control.patchApplication(id, {
      state: 'STARTED',
      diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN, encryptionContext: { drift: 'yes' } },
    });
    let app = (await getApp(id)).application!;
    expect(app.state).toBe('STARTED');
    expect(app.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: KEY_ARN,
      encryptionContext: { drift: 'yes' },
    });

    // `{}` is kept as `{}` (to test clients against both plausible answers); null removes.
    await h.control.patchApplication(id, { diskEncryptionConfiguration: {} });
    expect((await getApp(id)).application!.diskEncryptionConfiguration).toEqual({});
    await h.control.patchApplication(id, { diskEncryptionConfiguration: null, state: 'TERMINATED' });
    app = (await getApp(id)).application!;
    expect(app.diskEncryptionConfiguration).toBeUndefined();
    expect(app.state).toBe('TERMINATED');
  });

  it('names a key by id, by percent-encoded ARN or by raw ARN', async () => {
    const key = await h.control.createKey({ region: REGION });
    const describe = async () =>
      (await h.kms.send(new DescribeKeyCommand({ KeyId: key.Arn }))).KeyMetadata!.KeyState;
    const control = (method: string, path: string, body?: object) =>
      fetch(`${h.emulator.endpoint}/_emulator/keys/${path}`, {
        method,
        ...(body && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });

    expect((await control('PATCH', key.Arn, { keyState: 'Disabled' })).status).toBe(200);
    expect(await describe()).toBe('Disabled');
    expect((await control('PATCH', encodeURIComponent(key.Arn), { keyState: 'Enabled' })).status).toBe(200);
    expect(await describe()).toBe('Enabled');
    expect((await control('PATCH', key.KeyId, { keyState: 'Disabled' })).status).toBe(200);
    expect(await describe()).toBe('Disabled');

    expect((await control('POST', `${key.Arn}/deny`)).status).toBe(200);
    expect(await rejection(describe())).toMatchObject({ name: 'AccessDeniedException' });
    expect((await control('POST', `${key.Arn}/allow`)).status).toBe(200);
    expect(await describe()).toBe('Disabled');
  });

  it('answers 404 for an unknown application', async () => {
    const err = await rejection(h.control.patchApplication('00fmissing', { state: 'STOPPED' }));
    expect(err).toBeInstanceOf(EmulatorControlError);
    expect((err as EmulatorControlError).status).toBe(404);
  });

  it('is not recorded in the calls log', async () => {
    const id = await createApp();
    await h.control.patchApplication(id, { state: 'STOPPED' });
    await h.control.createJobRun(id, 'RUNNING');
    const operations = new Set((await h.control.calls()).map((c) => c.operation));
    expect([...operations].sort()).toEqual(['CreateApplication', 'GetApplication']);
  });
});

describe('malformed requests', () => {
  const raw = (path: string, init: RequestInit = {}) => fetch(`${h.emulator.endpoint}${path}`, init);

  async function expectJsonError(res: Response, status: number, type?: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/json/);
    if (type) expect(res.headers.get('x-amzn-errortype')).toMatch(new RegExp(`^${type}`));
    const body = (await res.json()) as { message?: string };
    expect(typeof body.message).toBe('string');
    expect(body.message!.length).toBeGreaterThan(0);
  }

  it('bad JSON, unknown paths, wrong methods and bad encodings get clear 4xx JSON errors', async () => {
    await expectJsonError(
      await raw('/applications', {
        method: 'POST',
        body: '{"releaseLabel": ',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'SerializationException',
    );
    await expectJsonError(
      await raw('/applications', { method: 'POST', body: '[1,2]' }),
      400,
      'SerializationException',
    );
    await expectJsonError(await raw('/nothing/here'), 404, 'UnknownOperationException');
    await expectJsonError(await raw('/applications', { method: 'PUT' }), 405, 'MethodNotAllowedException');
    await expectJsonError(await raw('/applications/00fabc/start', { method: 'GET' }), 405);
    await expectJsonError(await raw('/applications/%E0%A4%A'), 400);
    await expectJsonError(
      await raw('/', {
        method: 'POST',
        body: '{}',
        headers: { 'x-amz-target': 'TrentService.Nope', 'content-type': 'application/x-amz-json-1.1' },
      }),
      400,
      'UnknownOperationException',
    );
    await expectJsonError(
      await raw('/', {
        method: 'POST',
        body: '{not json',
        headers: { 'x-amz-target': 'TrentService.DescribeKey', 'content-type': 'application/x-amz-json-1.1' },
      }),
      400,
    );
    await expectJsonError(await raw('/_emulator/nope'), 404);
    await expectJsonError(await raw('/_emulator/faults', { method: 'POST', body: 'nope' }), 400);

    // Still alive and well.
    const id = await createApp();
    expect((await getApp(id)).application?.state).toBe('CREATED');
  });
});
