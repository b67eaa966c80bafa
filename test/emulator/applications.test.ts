// Applications through the real EMR Serverless SDK client: every field round-trips, disk
// encryption set/change/unset, the Smithy limits, update and delete rules, tags, idempotency,
// regions and pagination.
import {
  CreateApplicationCommand,
  type CreateApplicationCommandInput,
  DeleteApplicationCommand,
  GetApplicationCommand,
  ListApplicationsCommand,
  ListTagsForResourceCommand,
  paginateListApplications,
  ResourceNotFoundException,
  StartApplicationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
  ValidationException,
} from '@aws-sdk/client-emr-serverless';
import { describe, expect, it } from 'vitest';
import { ACCOUNT, KEY_ARN, OTHER_KEY_ARN, REGION, rejection, useHarness, waitForState } from './helpers.js';

const h = useHarness();

const minimal = (extra: Partial<CreateApplicationCommandInput> = {}): CreateApplicationCommandInput => ({
  name: 'app',
  releaseLabel: 'emr-7.1.0',
  type: 'SPARK',
  ...extra,
});

async function create(extra: Partial<CreateApplicationCommandInput> = {}): Promise<string> {
  const out = await h.emr.send(new CreateApplicationCommand(minimal(extra)));
  return out.applicationId!;
}

async function created(extra: Partial<CreateApplicationCommandInput> = {}): Promise<string> {
  const id = await create(extra);
  await waitForState(h.emr, id, 'CREATED');
  return id;
}

const get = async (applicationId: string) =>
  (await h.emr.send(new GetApplicationCommand({ applicationId }))).application!;

async function validation(p: Promise<unknown>): Promise<string> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(ValidationException);
  expect(err.name).toBe('ValidationException');
  expect(err.$metadata?.httpStatusCode).toBe(400);
  return err.message;
}

describe('CreateApplication and GetApplication', () => {
  it('stores and answers every field as sent', async () => {
    const input: CreateApplicationCommandInput = {
      name: 'analytics/prod_1.x#2-a',
      releaseLabel: 'emr-7.1.0',
      type: 'SPARK',
      initialCapacity: {
        Driver: { workerCount: 1, workerConfiguration: { cpu: '2 vCPU', memory: '4 GB', disk: '20 GB' } },
        Executor: {
          workerCount: 4,
          workerConfiguration: { cpu: '4 vCPU', memory: '8 GB', diskType: 'SHUFFLE_OPTIMIZED' },
        },
      },
      maximumCapacity: { cpu: '200 vCPU', memory: '400 GB', disk: '1000 GB' },
      tags: { team: 'data', 'k8s.io/uid': 'abc-123' },
      autoStartConfiguration: { enabled: false },
      autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 30 },
      networkConfiguration: { subnetIds: ['subnet-0123'], securityGroupIds: ['sg-0123'] },
      architecture: 'ARM64',
      imageConfiguration: { imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark:7.1' },
      workerTypeSpecifications: {
        Driver: { imageConfiguration: { imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/driver:1' } },
      },
      runtimeConfiguration: [
        {
          classification: 'spark-defaults',
          properties: { 'spark.executor.cores': '4' },
          configurations: [{ classification: 'nested', properties: { a: 'b' } }],
        },
      ],
      monitoringConfiguration: {
        s3MonitoringConfiguration: { logUri: 's3://logs/', encryptionKeyArn: KEY_ARN },
        managedPersistenceMonitoringConfiguration: { enabled: false },
        cloudWatchLoggingConfiguration: {
          enabled: true,
          logGroupName: '/emr/app',
          logStreamNamePrefix: 'p',
          logTypes: { SPARK_DRIVER: ['STDOUT', 'STDERR'] },
        },
        prometheusMonitoringConfiguration: {
          remoteWriteUrl:
            'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write',
        },
      },
      diskEncryptionConfiguration: {
        encryptionKeyArn: KEY_ARN,
        encryptionContext: { app: 'analytics', env: 'prod' },
      },
      interactiveConfiguration: { studioEnabled: true, livyEndpointEnabled: false, sessionEnabled: true },
      schedulerConfiguration: { queueTimeoutMinutes: 60, maxConcurrentRuns: 10 },
      identityCenterConfiguration: {
        identityCenterInstanceArn: 'arn:aws:sso:::instance/ssoins-1234567890abcdef',
        userBackgroundSessionsEnabled: true,
      },
      jobLevelCostAllocationConfiguration: { enabled: true },
    };
    const out = await h.emr.send(new CreateApplicationCommand(input));
    expect(out.applicationId).toMatch(/^[0-9a-z]{16}$/);
    expect(out.name).toBe(input.name);
    expect(out.arn).toBe(`arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${out.applicationId}`);

    const app = await get(out.applicationId!);
    expect(['CREATING', 'CREATED']).toContain(app.state);
    expect(app.createdAt).toBeInstanceOf(Date);
    expect(app.updatedAt).toBeInstanceOf(Date);
    expect(Math.abs(app.createdAt!.getTime() - Date.now())).toBeLessThan(10_000);
    expect(app).toMatchObject({
      applicationId: out.applicationId,
      arn: out.arn,
      name: input.name,
      releaseLabel: input.releaseLabel,
      type: input.type,
      initialCapacity: input.initialCapacity,
      maximumCapacity: input.maximumCapacity,
      tags: input.tags,
      autoStartConfiguration: { enabled: false },
      autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 30 },
      networkConfiguration: input.networkConfiguration,
      architecture: 'ARM64',
      runtimeConfiguration: input.runtimeConfiguration,
      monitoringConfiguration: input.monitoringConfiguration,
      diskEncryptionConfiguration: input.diskEncryptionConfiguration,
      interactiveConfiguration: input.interactiveConfiguration,
      schedulerConfiguration: input.schedulerConfiguration,
      identityCenterConfiguration: {
        identityCenterInstanceArn: input.identityCenterConfiguration!.identityCenterInstanceArn,
        userBackgroundSessionsEnabled: true,
      },
      jobLevelCostAllocationConfiguration: { enabled: true },
    });
    // Output shape of images: the URI, and no digest before the application has started.
    expect(app.imageConfiguration).toEqual({ imageUri: input.imageConfiguration!.imageUri });
    expect(app.workerTypeSpecifications).toEqual({
      Driver: { imageConfiguration: { imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/driver:1' } },
    });
    await waitForState(h.emr, out.applicationId!, 'CREATED');
  });

  it('answers the documented defaults for fields not sent', async () => {
    const id = await create({ name: undefined });
    const app = await get(id);
    expect(app.name).toBeUndefined();
    expect(app.autoStartConfiguration).toEqual({ enabled: true });
    expect(app.autoStopConfiguration).toEqual({ enabled: true, idleTimeoutMinutes: 15 });
    expect(app.architecture).toBe('X86_64');
    expect(app.diskEncryptionConfiguration).toBeUndefined();
    expect(app.tags).toEqual({});
  });

  it('answers ResourceNotFoundException (404) for an unknown application', async () => {
    const err = await rejection(
      h.emr.send(new GetApplicationCommand({ applicationId: '00fnothere0000000' })),
    );
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect(err.message).toBe('Application 00fnothere0000000 does not exist');
    expect(err.$metadata?.httpStatusCode).toBe(404);
  });

  it('keeps applications per region (the SigV4 credential scope)', async () => {
    const id = await create();
    const other = h.emrIn('us-east-2');
    await expect(other.send(new GetApplicationCommand({ applicationId: id }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    const there = await other.send(new CreateApplicationCommand(minimal()));
    expect(there.arn).toContain(':us-east-2:');
    const list = await h.emr.send(new ListApplicationsCommand({}));
    expect(list.applications?.map((a) => a.id)).toEqual([id]);
  });

  it('is idempotent on clientToken within a region', async () => {
    const a = await h.emr.send(new CreateApplicationCommand(minimal({ clientToken: 'uid-1234' })));
    const b = await h.emr.send(
      new CreateApplicationCommand(minimal({ clientToken: 'uid-1234', name: 'other' })),
    );
    expect(b.applicationId).toBe(a.applicationId);
    expect(b.name).toBe('app');
    const c = await h.emr.send(new CreateApplicationCommand(minimal({ clientToken: 'uid-5678' })));
    expect(c.applicationId).not.toBe(a.applicationId);
    const list = await h.emr.send(new ListApplicationsCommand({}));
    expect(list.applications).toHaveLength(2);
    const elsewhere = await h
      .emrIn('eu-central-1')
      .send(new CreateApplicationCommand(minimal({ clientToken: 'uid-1234' })));
    expect(elsewhere.applicationId).not.toBe(a.applicationId);
  });

  it('allows two applications with the same name', async () => {
    const a = await create({ name: 'same' });
    const b = await create({ name: 'same' });
    expect(a).not.toBe(b);
  });
});

describe('Smithy limits answer ValidationException', () => {
  const cases: [string, Partial<CreateApplicationCommandInput>, RegExp][] = [
    [
      'name pattern',
      { name: 'has space' },
      /at 'name'.*regular expression pattern: \^\[A-Za-z0-9\._\/#-\]\+\$/,
    ],
    ['name too long', { name: 'a'.repeat(65) }, /at 'name'.*length less than or equal to 64/],
    ['name empty', { name: '' }, /at 'name'.*length greater than or equal to 1/],
    [
      'releaseLabel too long',
      { releaseLabel: 'e'.repeat(65) },
      /at 'releaseLabel'.*length less than or equal to 64/,
    ],
    ['releaseLabel empty', { releaseLabel: '' }, /at 'releaseLabel'/],
    [
      'type missing',
      { type: undefined },
      /Value null at 'type' failed to satisfy constraint: Member must not be null/,
    ],
    [
      'key ARN is an alias ARN',
      { diskEncryptionConfiguration: { encryptionKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/mine` } },
      /at 'diskEncryptionConfiguration.encryptionKeyArn'.*regular expression pattern/,
    ],
    [
      'key ARN is a bare key id',
      { diskEncryptionConfiguration: { encryptionKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab' } },
      /encryptionKeyArn.*regular expression pattern/,
    ],
    [
      'key ARN too short',
      { diskEncryptionConfiguration: { encryptionKeyArn: 'arn:aws:kms' } },
      /encryptionKeyArn.*length greater than or equal to 20/,
    ],
    [
      'key ARN too long',
      { diskEncryptionConfiguration: { encryptionKeyArn: `${KEY_ARN}${'a'.repeat(2048)}` } },
      /encryptionKeyArn.*length less than or equal to 2048/,
    ],
    [
      'more than 8 context pairs',
      {
        diskEncryptionConfiguration: {
          encryptionKeyArn: KEY_ARN,
          encryptionContext: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])),
        },
      },
      /encryptionContext.*length less than or equal to 8/,
    ],
    [
      'context key too long',
      {
        diskEncryptionConfiguration: {
          encryptionKeyArn: KEY_ARN,
          encryptionContext: { ['k'.repeat(129)]: 'v' },
        },
      },
      /encryptionContext.*Map keys must satisfy constraint.*less than or equal to 128/,
    ],
    [
      'context value too long',
      {
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN, encryptionContext: { k: 'v'.repeat(385) } },
      },
      /encryptionContext\.k.*less than or equal to 384/,
    ],
    [
      'context value empty',
      { diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN, encryptionContext: { k: '' } } },
      /encryptionContext\.k.*greater than or equal to 1/,
    ],
    [
      'more than 200 tags',
      { tags: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`t${i}`, 'v'])) },
      /at 'tags'.*less than or equal to 200/,
    ],
    ['tag key pattern', { tags: { 'bad!key': 'v' } }, /at 'tags'.*Map keys must satisfy constraint/],
    ['tag key too long', { tags: { ['k'.repeat(129)]: 'v' } }, /at 'tags'.*less than or equal to 128/],
    ['tag value too long', { tags: { k: 'v'.repeat(257) } }, /at 'tags\.k'.*less than or equal to 256/],
    [
      'idleTimeoutMinutes 0',
      { autoStopConfiguration: { idleTimeoutMinutes: 0 } },
      /autoStopConfiguration\.idleTimeoutMinutes.*value greater than or equal to 1/,
    ],
    [
      'idleTimeoutMinutes 10081',
      { autoStopConfiguration: { idleTimeoutMinutes: 10081 } },
      /idleTimeoutMinutes.*value less than or equal to 10080/,
    ],
  ];
  for (const [what, extra, message] of cases) {
    it(what, async () => {
      expect(await validation(h.emr.send(new CreateApplicationCommand(minimal(extra))))).toMatch(message);
    });
  }

  it('accepts the limits themselves', async () => {
    await create({
      name: 'n'.repeat(64),
      releaseLabel: 'r'.repeat(64),
      tags: {
        ...Object.fromEntries(Array.from({ length: 199 }, (_, i) => [`t${i}`, ''])),
        ['k'.repeat(128)]: 'v'.repeat(256),
      },
      autoStopConfiguration: { idleTimeoutMinutes: 10080 },
      diskEncryptionConfiguration: {
        encryptionKeyArn: `arn:aws-cn:kms:cn-north-1:999999999999:key/${'a'.repeat(20)}`,
        encryptionContext: {
          ...Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}`, 'v'])),
          ['c'.repeat(128)]: 'x'.repeat(384),
        },
      },
    });
    await create({ diskEncryptionConfiguration: { encryptionKeyArn: OTHER_KEY_ARN } });
  });

  it('checks the applicationId pattern', async () => {
    expect(await validation(h.emr.send(new GetApplicationCommand({ applicationId: 'Not-An-Id' })))).toMatch(
      /at 'applicationId'.*regular expression pattern: \^\[0-9a-z\]\+\$/,
    );
  });

  it('checks maxResults 1..50', async () => {
    expect(await validation(h.emr.send(new ListApplicationsCommand({ maxResults: 0 })))).toMatch(
      /at 'maxResults'.*greater than or equal to 1/,
    );
    expect(await validation(h.emr.send(new ListApplicationsCommand({ maxResults: 51 })))).toMatch(
      /at 'maxResults'.*less than or equal to 50/,
    );
  });
});

describe('UpdateApplication', () => {
  it('replaces each top-level field present and keeps the others', async () => {
    const id = await created({
      maximumCapacity: { cpu: '100 vCPU', memory: '200 GB', disk: '500 GB' },
      networkConfiguration: { subnetIds: ['subnet-1'] },
      tags: { a: '1' },
    });
    const before = await get(id);
    const out = await h.emr.send(
      new UpdateApplicationCommand({
        applicationId: id,
        maximumCapacity: { cpu: '50 vCPU', memory: '100 GB' },
        releaseLabel: 'emr-7.2.0',
        autoStopConfiguration: { enabled: false },
      }),
    );
    expect(out.application?.maximumCapacity).toEqual({ cpu: '50 vCPU', memory: '100 GB' });
    expect(out.application?.releaseLabel).toBe('emr-7.2.0');
    expect(out.application?.autoStopConfiguration).toEqual({ enabled: false });
    const app = await get(id);
    expect(app.maximumCapacity).toEqual({ cpu: '50 vCPU', memory: '100 GB' });
    expect(app.networkConfiguration).toEqual({ subnetIds: ['subnet-1'] });
    expect(app.tags).toEqual({ a: '1' });
    expect(app.name).toBe('app');
    expect(app.updatedAt!.getTime()).toBeGreaterThanOrEqual(before.updatedAt!.getTime());
  });

  it('sets, changes and unsets diskEncryptionConfiguration', async () => {
    const id = await created();
    expect((await get(id)).diskEncryptionConfiguration).toBeUndefined();

    await h.emr.send(
      new UpdateApplicationCommand({
        applicationId: id,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN, encryptionContext: { a: 'b' } },
      }),
    );
    expect((await get(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: KEY_ARN,
      encryptionContext: { a: 'b' },
    });

    await h.emr.send(
      new UpdateApplicationCommand({
        applicationId: id,
        diskEncryptionConfiguration: { encryptionKeyArn: OTHER_KEY_ARN },
      }),
    );
    expect((await get(id)).diskEncryptionConfiguration).toEqual({ encryptionKeyArn: OTHER_KEY_ARN });

    const out = await h.emr.send(
      new UpdateApplicationCommand({ applicationId: id, diskEncryptionConfiguration: {} }),
    );
    expect(out.application?.diskEncryptionConfiguration).toBeUndefined();
    expect((await get(id)).diskEncryptionConfiguration).toBeUndefined();
  });

  it('validates like CreateApplication', async () => {
    const id = await created();
    expect(
      await validation(
        h.emr.send(
          new UpdateApplicationCommand({
            applicationId: id,
            diskEncryptionConfiguration: { encryptionKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/x` },
          }),
        ),
      ),
    ).toMatch(
      /^1 validation error detected: Value 'arn:aws:kms:.*:alias\/x' at 'diskEncryptionConfiguration\.encryptionKeyArn'/,
    );
  });

  it('removes the image configuration when the image URI is blank', async () => {
    const id = await created({ imageConfiguration: { imageUri: 'repo.example/spark:1' } });
    await h.emr.send(new UpdateApplicationCommand({ applicationId: id, imageConfiguration: {} }));
    expect((await get(id)).imageConfiguration).toBeUndefined();
  });

  it('while STARTED accepts only maximumCapacity, maxConcurrentRuns and images', async () => {
    const id = await created({
      schedulerConfiguration: { queueTimeoutMinutes: 60, maxConcurrentRuns: 5 },
      imageConfiguration: { imageUri: 'repo.example/spark:1' },
    });
    await h.emr.send(new StartApplicationCommand({ applicationId: id }));
    await waitForState(h.emr, id, 'STARTED');
    const started = await get(id);
    expect(started.imageConfiguration?.resolvedImageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const ok = await h.emr.send(
      new UpdateApplicationCommand({
        applicationId: id,
        maximumCapacity: { cpu: '10 vCPU', memory: '20 GB' },
        schedulerConfiguration: { maxConcurrentRuns: 20 },
        imageConfiguration: { imageUri: 'repo.example/spark:2' },
        workerTypeSpecifications: { Driver: { imageConfiguration: { imageUri: 'repo.example/driver:2' } } },
      }),
    );
    expect(ok.application?.state).toBe('STARTED');
    expect(ok.application?.maximumCapacity).toEqual({ cpu: '10 vCPU', memory: '20 GB' });
    expect(ok.application?.schedulerConfiguration).toEqual({ maxConcurrentRuns: 20 });
    expect(ok.application?.imageConfiguration?.imageUri).toBe('repo.example/spark:2');
    expect(ok.application?.workerTypeSpecifications?.Driver?.imageConfiguration?.imageUri).toBe(
      'repo.example/driver:2',
    );

    const refused = `Application ${id} must be in one of the statuses to be updated: [STOPPED, CREATED]. Current status: STARTED`;
    expect(
      await validation(
        h.emr.send(
          new UpdateApplicationCommand({
            applicationId: id,
            diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN },
          }),
        ),
      ),
    ).toBe(refused);
    expect(
      await validation(
        h.emr.send(new UpdateApplicationCommand({ applicationId: id, diskEncryptionConfiguration: {} })),
      ),
    ).toBe(refused);
    expect(
      await validation(
        h.emr.send(new UpdateApplicationCommand({ applicationId: id, releaseLabel: 'emr-7.3.0' })),
      ),
    ).toBe(refused);
    // One field that is not allowed refuses the whole request.
    expect(
      await validation(
        h.emr.send(
          new UpdateApplicationCommand({
            applicationId: id,
            maximumCapacity: { cpu: '1 vCPU', memory: '2 GB' },
            networkConfiguration: { subnetIds: ['subnet-9'] },
          }),
        ),
      ),
    ).toBe(refused);
    // schedulerConfiguration only for maxConcurrentRuns.
    expect(
      await validation(
        h.emr.send(
          new UpdateApplicationCommand({
            applicationId: id,
            schedulerConfiguration: { queueTimeoutMinutes: 30 },
          }),
        ),
      ),
    ).toBe(refused);
    expect((await get(id)).maximumCapacity).toEqual({ cpu: '10 vCPU', memory: '20 GB' });
    expect((await get(id)).diskEncryptionConfiguration).toBeUndefined();
  });

  for (const state of ['CREATING', 'STARTING', 'STOPPING', 'TERMINATED'] as const) {
    it(`is refused in ${state}, even for fields allowed while STARTED`, async () => {
      const id = await created();
      await h.control.patchApplication(id, { state });
      expect(
        await validation(
          h.emr.send(
            new UpdateApplicationCommand({
              applicationId: id,
              maximumCapacity: { cpu: '1 vCPU', memory: '1 GB' },
            }),
          ),
        ),
      ).toBe(
        `Application ${id} must be in one of the statuses to be updated: [STOPPED, CREATED]. Current status: ${state}`,
      );
    });
  }

  it('answers ResourceNotFoundException for an unknown application', async () => {
    await expect(
      h.emr.send(new UpdateApplicationCommand({ applicationId: '00fmissing', releaseLabel: 'emr-7.0.0' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('DeleteApplication', () => {
  it('terminates a CREATED or STOPPED application; TERMINATED is still answered and listed', async () => {
    const id = await created();
    await h.emr.send(new DeleteApplicationCommand({ applicationId: id }));
    expect((await get(id)).state).toBe('TERMINATED');
    const list = await h.emr.send(new ListApplicationsCommand({ states: ['TERMINATED'] }));
    expect(list.applications?.map((a) => a.id)).toEqual([id]);
    // Deleting again is idempotent.
    await h.emr.send(new DeleteApplicationCommand({ applicationId: id }));

    const stopped = await created();
    await h.control.patchApplication(stopped, { state: 'STOPPED' });
    await h.emr.send(new DeleteApplicationCommand({ applicationId: stopped }));
    expect((await get(stopped)).state).toBe('TERMINATED');
  });

  it('is refused while STARTED', async () => {
    const id = await created();
    await h.control.patchApplication(id, { state: 'STARTED' });
    expect(await validation(h.emr.send(new DeleteApplicationCommand({ applicationId: id })))).toBe(
      `Application ${id} must be in one of the statuses to be deleted: [STOPPED, CREATED]. Current status: STARTED`,
    );
  });

  it('answers ResourceNotFoundException for an unknown application', async () => {
    await expect(
      h.emr.send(new DeleteApplicationCommand({ applicationId: '00fmissing' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('tags', () => {
  it('tags, untags and lists on the application ARN', async () => {
    const id = await created({ tags: { owner: 'me' } });
    const { arn } = await get(id);
    await h.emr.send(
      new TagResourceCommand({ resourceArn: arn, tags: { env: 'prod', 'app.kubernetes.io/uid': 'u-1' } }),
    );
    expect((await h.emr.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags).toEqual({
      owner: 'me',
      env: 'prod',
      'app.kubernetes.io/uid': 'u-1',
    });
    await h.emr.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['owner', 'absent'] }));
    expect((await get(id)).tags).toEqual({ env: 'prod', 'app.kubernetes.io/uid': 'u-1' });
  });

  it('validates tags and refuses more than 200 in all', async () => {
    const id = await created({
      tags: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`a${i}`, 'v'])),
    });
    const { arn } = await get(id);
    await validation(h.emr.send(new TagResourceCommand({ resourceArn: arn, tags: { 'no!': 'v' } })));
    await validation(
      h.emr.send(
        new TagResourceCommand({
          resourceArn: arn,
          tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`b${i}`, 'v'])),
        }),
      ),
    );
  });

  it('answers ResourceNotFoundException for an unknown ARN and ValidationException for a bad one', async () => {
    const err = await rejection(
      h.emr.send(
        new ListTagsForResourceCommand({
          resourceArn: `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/00fmissing00000000`,
        }),
      ),
    );
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    await validation(
      h.emr.send(
        new ListTagsForResourceCommand({
          resourceArn: 'arn:aws:s3:::bucket/with/a/long/enough/name/to/pass/length',
        }),
      ),
    );
  });
});

describe('ListApplications', () => {
  it('pages newest first with nextToken and maxResults', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await create({ name: `app-${i}` }));
    const seen: string[] = [];
    let nextToken: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await h.emr.send(new ListApplicationsCommand({ maxResults: 3, nextToken }));
      sizes.push(page.applications!.length);
      for (const a of page.applications!) {
        expect(a).toMatchObject({
          arn: expect.stringContaining(a.id!),
          releaseLabel: 'emr-7.1.0',
          type: 'SPARK',
        });
        expect(a.createdAt).toBeInstanceOf(Date);
        seen.push(a.id!);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual([...ids].reverse());

    const viaPaginator: string[] = [];
    for await (const page of paginateListApplications({ client: h.emr, pageSize: 2 }, {})) {
      viaPaginator.push(...page.applications!.map((a) => a.id!));
    }
    expect(viaPaginator).toEqual(seen);
  });

  it('filters by repeated states', async () => {
    const a = await created();
    const b = await created();
    const c = await created();
    await h.control.patchApplication(b, { state: 'STOPPED' });
    await h.control.patchApplication(c, { state: 'STARTED' });
    const only = await h.emr.send(new ListApplicationsCommand({ states: ['STOPPED'] }));
    expect(only.applications?.map((x) => x.id)).toEqual([b]);
    const two = await h.emr.send(new ListApplicationsCommand({ states: ['STARTED', 'CREATED'] }));
    expect(two.applications?.map((x) => x.id)).toEqual([c, a]);
    const paged = await h.emr.send(
      new ListApplicationsCommand({ states: ['STARTED', 'CREATED'], maxResults: 1 }),
    );
    expect(paged.applications?.map((x) => x.id)).toEqual([c]);
    const rest = await h.emr.send(
      new ListApplicationsCommand({
        states: ['STARTED', 'CREATED'],
        maxResults: 1,
        nextToken: paged.nextToken,
      }),
    );
    expect(rest.applications?.map((x) => x.id)).toEqual([a]);
    expect(rest.nextToken).toBeUndefined();
  });

  it('refuses an invalid nextToken', async () => {
    await validation(h.emr.send(new ListApplicationsCommand({ nextToken: 'garbage' })));
  });
});
