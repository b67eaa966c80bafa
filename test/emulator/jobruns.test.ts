// Job runs as the operator relies on them: the configuration a run starts with is resolved and
// kept (the application's key when the job sends none, unchanged when the application's key
// changes later), the demo's timer moves runs to SUCCESS, and the control API sets AWS's reason.
import {
  CancelJobRunCommand,
  CreateApplicationCommand,
  GetJobRunCommand,
  type JobRun,
  type JobRunState,
  ListJobRunsCommand,
  StartJobRunCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_RUN_STATES } from '../../src/aws/port.js';
import {
  ACCOUNT,
  type Harness,
  harness,
  KEY_ARN,
  OTHER_KEY_ARN,
  ROLE_ARN,
  rejection,
  waitFor,
  waitForState,
} from './helpers.js';

let manual: Harness;
let timed: Harness;
beforeAll(async () => {
  manual = await harness();
  timed = await harness({ jobRunStepMs: 100 });
});
afterAll(async () => {
  await manual.close();
  await timed.close();
});

async function app(h: Harness, keyArn?: string): Promise<string> {
  const out = await h.emr.send(
    new CreateApplicationCommand({
      name: 'jobs',
      releaseLabel: 'emr-7.5.0',
      type: 'SPARK',
      ...(keyArn && {
        diskEncryptionConfiguration: { encryptionKeyArn: keyArn, encryptionContext: { a: '1' } },
      }),
    }),
  );
  await waitForState(h.emr, out.applicationId!, 'CREATED');
  return out.applicationId!;
}

const driver = { sparkSubmit: { entryPoint: 's3://bucket/job.py' } };

async function run(h: Harness, applicationId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const out = await h.emr.send(
    new StartJobRunCommand({ applicationId, executionRoleArn: ROLE_ARN, jobDriver: driver, ...extra }),
  );
  return out.jobRunId!;
}

const get = async (h: Harness, applicationId: string, jobRunId: string): Promise<JobRun> =>
  (await h.emr.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun!;

describe('the configuration a job run starts with', () => {
  it('is the application’s key when the job sends none, and stays so when the application’s key changes', async () => {
    const id = await app(manual, KEY_ARN);
    const inherited = await run(manual, id);
    const own = await run(manual, id, {
      configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: OTHER_KEY_ARN } },
    });
    const awsOwned = await run(manual, id, { configurationOverrides: { diskEncryptionConfiguration: {} } });
    expect((await get(manual, id, inherited)).configurationOverrides).toEqual({
      diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN, encryptionContext: { a: '1' } },
    });
    expect((await get(manual, id, own)).configurationOverrides?.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: OTHER_KEY_ARN,
    });
    expect((await get(manual, id, awsOwned)).configurationOverrides?.diskEncryptionConfiguration).toEqual({});

    // The application moves to another key (stopped first, as the service requires).
    for (const j of [inherited, own, awsOwned]) await manual.control.setJobRunState(id, j, 'SUCCESS');
    await manual.control.patchApplication(id, { state: 'STOPPED' });
    await manual.emr.send(
      new UpdateApplicationCommand({
        applicationId: id,
        diskEncryptionConfiguration: { encryptionKeyArn: OTHER_KEY_ARN },
      }),
    );
    expect((await get(manual, id, inherited)).configurationOverrides?.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: KEY_ARN,
      encryptionContext: { a: '1' },
    });
    const later = await run(manual, id);
    expect((await get(manual, id, later)).configurationOverrides?.diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: OTHER_KEY_ARN,
    });
  });

  it('has no configurationOverrides when neither the job nor the application sets any', async () => {
    const id = await app(manual);
    const j = await run(manual, id);
    expect((await get(manual, id, j)).configurationOverrides).toBeUndefined();
  });
});

describe('job run states', () => {
  it('on the timer: SUBMITTED to SUCCESS, through RUNNING once autoStart has started the application', async () => {
    const id = await app(timed);
    const j = await run(timed, id);
    const seen = new Set<string>();
    const done = await waitFor(
      async () => {
        const r = await get(timed, id, j);
        seen.add(r.state!);
        return r;
      },
      (r) => r.state === 'SUCCESS',
      'the run to succeed',
    );
    expect([...seen]).toEqual(expect.arrayContaining(['RUNNING', 'SUCCESS']));
    expect(done.startedAt).toBeInstanceOf(Date);
    expect(done.endedAt).toBeInstanceOf(Date);
    expect(done.totalExecutionDurationSeconds).toBeGreaterThanOrEqual(1);
    expect(done.totalResourceUtilization?.vCPUHour).toBeGreaterThan(0);
    expect(done.billedResourceUtilization?.vCPUHour).toBeGreaterThanOrEqual(
      done.totalResourceUtilization!.vCPUHour!,
    );
  });

  it('on the timer: CancelJobRun wins over the next step', async () => {
    const id = await app(timed);
    const j = await run(timed, id);
    await timed.emr.send(new CancelJobRunCommand({ applicationId: id, jobRunId: j }));
    await waitFor(
      () => get(timed, id, j),
      (r) => r.state === 'CANCELLED',
      'the run to be cancelled',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect((await get(timed, id, j)).state).toBe('CANCELLED');
  });

  it('through the control API, with AWS’s reason in stateDetails', async () => {
    const id = await app(manual);
    const j = await run(manual, id);
    expect((await get(manual, id, j)).state).toBe('SUBMITTED');
    await manual.control.setJobRunState(id, j, 'FAILED', 'Job failed, ExitCode: 1. Out of memory.');
    expect(await get(manual, id, j)).toMatchObject({
      state: 'FAILED',
      stateDetails: 'Job failed, ExitCode: 1. Out of memory.',
    });
  });
});

describe('what the service model allows and answers', () => {
  it('takes an empty entry point argument, as the model allows (length 0, no pattern)', async () => {
    const id = await app(manual);
    const j = await run(manual, id, {
      jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py', entryPointArguments: ['--sep', ''] } },
    });
    expect((await get(manual, id, j)).jobDriver?.sparkSubmit?.entryPointArguments).toEqual(['--sep', '']);
  });

  it('refuses a ListJobRuns filter of more than 8 states', async () => {
    const id = await app(manual);
    const all = [...JOB_RUN_STATES];
    await expect(
      manual.emr.send(
        new ListJobRunsCommand({ applicationId: id, states: all.slice(0, 8) as JobRunState[] }),
      ),
    ).resolves.toBeDefined();
    const err = await rejection(
      manual.emr.send(new ListJobRunsCommand({ applicationId: id, states: all as JobRunState[] })),
    );
    expect(err.name).toBe('ValidationException');
  });

  it('leaves stateDetails out while there is nothing to say, in GetJobRun and ListJobRuns', async () => {
    const id = await app(manual);
    const j = await run(manual, id);
    expect(await get(manual, id, j)).not.toHaveProperty('stateDetails');
    const listed = (await manual.emr.send(new ListJobRunsCommand({ applicationId: id }))).jobRuns ?? [];
    expect(listed.find((r) => r.id === j)).not.toHaveProperty('stateDetails');
    await manual.control.setJobRunState(id, j, 'FAILED', 'Job failed.');
    expect((await get(manual, id, j)).stateDetails).toBe('Job failed.');
  });

  it('answers the images a run was submitted with, the time it queued and its type', async () => {
    const image = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/spark:1`;
    const out = await manual.emr.send(
      new CreateApplicationCommand({
        name: 'images',
        releaseLabel: 'emr-7.5.0',
        type: 'SPARK',
        imageConfiguration: { imageUri: image },
        workerTypeSpecifications: { Driver: { imageConfiguration: { imageUri: image } } },
      }),
    );
    const id = out.applicationId!;
    await waitForState(manual.emr, id, 'CREATED');
    const j = await run(manual, id);
    const r = await get(manual, id, j);
    expect(r.imageConfiguration).toMatchObject({
      imageUri: image,
      resolvedImageDigest: expect.stringMatching(/^sha256:/),
    });
    expect(r.workerTypeSpecifications?.Driver?.imageConfiguration?.imageUri).toBe(image);
    expect(r.queuedDurationMilliseconds).toBe(0);
    await manual.control.setJobRunState(id, j, 'QUEUED');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await manual.control.setJobRunState(id, j, 'RUNNING');
    expect((await get(manual, id, j)).queuedDurationMilliseconds).toBeGreaterThanOrEqual(25);
    const summary = (await manual.emr.send(new ListJobRunsCommand({ applicationId: id }))).jobRuns?.[0];
    expect(summary).toMatchObject({ type: 'SPARK' });
  });

  it('takes CancelJobRun’s shutdownGracePeriodInSeconds and keeps it', async () => {
    const id = await app(manual);
    const j = await run(manual, id);
    await manual.emr.send(
      new CancelJobRunCommand({ applicationId: id, jobRunId: j, shutdownGracePeriodInSeconds: 90 }),
    );
    expect(await manual.control.jobRun(id, j)).toMatchObject({ shutdownGracePeriodInSeconds: 90 });
    await waitFor(
      () => get(manual, id, j),
      (r) => r.state === 'CANCELLED',
      'the run to be cancelled',
    );
  });
});
