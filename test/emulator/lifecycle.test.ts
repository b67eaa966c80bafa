// The application state machine and job runs through the real SDK client: transitions, start and
// stop rules, autoStart on StartJobRun, autoStop when idle, job runs listing and cancelling.
import {
  CancelJobRunCommand,
  CreateApplicationCommand,
  type CreateApplicationCommandInput,
  GetApplicationCommand,
  GetJobRunCommand,
  ListJobRunsCommand,
  ResourceNotFoundException,
  StartApplicationCommand,
  StartJobRunCommand,
  StopApplicationCommand,
  ValidationException,
} from '@aws-sdk/client-emr-serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  type Harness,
  harness,
  REGION,
  ROLE_ARN,
  rejection,
  sleep,
  waitFor,
  waitForState,
} from './helpers.js';

// `slow`: transitions long enough to observe the transitional states, autoStop practically never.
// `fast`: short transitions and 10 ms per idle minute, for autoStop.
let slow: Harness;
let fast: Harness;
beforeAll(async () => {
  slow = await harness({ transitionMs: 500, idleMinuteMs: 60_000 });
  fast = await harness({ transitionMs: 20, idleMinuteMs: 10 });
});
afterAll(async () => {
  await slow.close();
  await fast.close();
});

const NON_FINAL = ['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'CANCELLING', 'QUEUED'] as const;

async function createdApp(h: Harness, extra: Partial<CreateApplicationCommandInput> = {}): Promise<string> {
  const out = await h.emr.send(
    new CreateApplicationCommand({ name: 'lifecycle', releaseLabel: 'emr-7.1.0', type: 'SPARK', ...extra }),
  );
  await waitForState(h.emr, out.applicationId!, 'CREATED');
  return out.applicationId!;
}

const stateOf = async (h: Harness, applicationId: string) =>
  (await h.emr.send(new GetApplicationCommand({ applicationId }))).application!.state;

describe('state machine', () => {
  it('CREATING -> CREATED, STARTING -> STARTED, STOPPING -> STOPPED, and again', async () => {
    const out = await slow.emr.send(
      new CreateApplicationCommand({ releaseLabel: 'emr-7.1.0', type: 'HIVE' }),
    );
    const id = out.applicationId!;
    expect(await stateOf(slow, id)).toBe('CREATING');
    await waitForState(slow.emr, id, 'CREATED');

    await slow.emr.send(new StartApplicationCommand({ applicationId: id }));
    expect(await stateOf(slow, id)).toBe('STARTING');
    await waitForState(slow.emr, id, 'STARTED');

    await slow.emr.send(new StopApplicationCommand({ applicationId: id }));
    expect(await stateOf(slow, id)).toBe('STOPPING');
    await waitForState(slow.emr, id, 'STOPPED');

    await slow.emr.send(new StartApplicationCommand({ applicationId: id }));
    await waitForState(slow.emr, id, 'STARTED');
  });

  it('starting a STARTED app and stopping a STOPPED app succeed without a change', async () => {
    const id = await createdApp(slow);
    await slow.emr.send(new StartApplicationCommand({ applicationId: id }));
    await waitForState(slow.emr, id, 'STARTED');
    await slow.emr.send(new StartApplicationCommand({ applicationId: id }));
    expect(await stateOf(slow, id)).toBe('STARTED');
    await slow.emr.send(new StopApplicationCommand({ applicationId: id }));
    await waitForState(slow.emr, id, 'STOPPED');
    await slow.emr.send(new StopApplicationCommand({ applicationId: id }));
    expect(await stateOf(slow, id)).toBe('STOPPED');
  });

  it('refuses to start a TERMINATED application', async () => {
    const id = await createdApp(slow);
    await slow.control.patchApplication(id, { state: 'TERMINATED' });
    const err = await rejection(slow.emr.send(new StartApplicationCommand({ applicationId: id })));
    expect(err).toBeInstanceOf(ValidationException);
    expect(err.message).toContain('Current status: TERMINATED');
  });

  it('answers ResourceNotFoundException to start or stop an unknown application', async () => {
    await expect(
      slow.emr.send(new StartApplicationCommand({ applicationId: '00fnope' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      slow.emr.send(new StopApplicationCommand({ applicationId: '00fnope' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('refuses StopApplication while a job run is in any non-final state', async () => {
    const id = await createdApp(slow);
    await slow.control.patchApplication(id, { state: 'STARTED' });
    for (const state of NON_FINAL) {
      const { jobRunId } = await slow.control.createJobRun(id, state);
      const err = await rejection(slow.emr.send(new StopApplicationCommand({ applicationId: id })));
      expect(err).toBeInstanceOf(ValidationException);
      expect(err.message).toMatch(/cannot be stopped.*non-final state/);
      expect(await stateOf(slow, id)).toBe('STARTED');
      await slow.control.setJobRunState(id, jobRunId, state === 'CANCELLING' ? 'CANCELLED' : 'SUCCESS');
    }
    await slow.control.createJobRun(id, 'FAILED');
    await slow.emr.send(new StopApplicationCommand({ applicationId: id }));
    await waitForState(slow.emr, id, 'STOPPED');
  });
});

describe('job runs', () => {
  it('StartJobRun on a CREATED app starts it (autoStart) and the job stays SUBMITTED', async () => {
    const id = await createdApp(slow, { releaseLabel: 'emr-7.2.0' });
    const out = await slow.emr.send(
      new StartJobRunCommand({
        applicationId: id,
        executionRoleArn: ROLE_ARN,
        name: 'nightly',
        jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py', entryPointArguments: ['--day', '1'] } },
        configurationOverrides: {
          diskEncryptionConfiguration: {
            encryptionKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/abcd-1234-ef`,
          },
        },
        tags: { run: '1' },
      }),
    );
    expect(out.applicationId).toBe(id);
    expect(out.jobRunId).toMatch(/^[0-9a-z]+$/);
    expect(out.arn).toBe(
      `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${id}/jobruns/${out.jobRunId}`,
    );
    expect(await stateOf(slow, id)).toBe('STARTING');
    await waitForState(slow.emr, id, 'STARTED');

    const { jobRun } = await slow.emr.send(
      new GetJobRunCommand({ applicationId: id, jobRunId: out.jobRunId }),
    );
    expect(jobRun).toMatchObject({
      applicationId: id,
      jobRunId: out.jobRunId,
      name: 'nightly',
      state: 'SUBMITTED',
      releaseLabel: 'emr-7.2.0',
      executionRole: ROLE_ARN,
      jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py', entryPointArguments: ['--day', '1'] } },
      configurationOverrides: {
        diskEncryptionConfiguration: {
          encryptionKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/abcd-1234-ef`,
        },
      },
      tags: { run: '1' },
    });
    expect(jobRun?.createdAt).toBeInstanceOf(Date);
  });

  it('StartJobRun is refused when autoStart is disabled and the app is not started', async () => {
    const id = await createdApp(slow, { autoStartConfiguration: { enabled: false } });
    const err = await rejection(
      slow.emr.send(new StartJobRunCommand({ applicationId: id, executionRoleArn: ROLE_ARN })),
    );
    expect(err).toBeInstanceOf(ValidationException);
    expect(await stateOf(slow, id)).toBe('CREATED');
  });

  it('StartJobRun validates its input and is idempotent on clientToken', async () => {
    const id = await createdApp(slow);
    const err = await rejection(
      slow.emr.send(
        new StartJobRunCommand({ applicationId: id, executionRoleArn: undefined as unknown as string }),
      ),
    );
    expect(err).toBeInstanceOf(ValidationException);
    expect(err.message).toContain("Value null at 'executionRoleArn'");
    await expect(
      slow.emr.send(
        new StartJobRunCommand({ applicationId: id, executionRoleArn: 'not-a-role-arn-but-long' }),
      ),
    ).rejects.toBeInstanceOf(ValidationException);

    const a = await slow.emr.send(
      new StartJobRunCommand({ applicationId: id, executionRoleArn: ROLE_ARN, clientToken: 't1' }),
    );
    const b = await slow.emr.send(
      new StartJobRunCommand({ applicationId: id, executionRoleArn: ROLE_ARN, clientToken: 't1' }),
    );
    expect(b.jobRunId).toBe(a.jobRunId);
  });

  it('CancelJobRun: CANCELLING, then CANCELLED', async () => {
    const id = await createdApp(slow);
    await slow.control.patchApplication(id, { state: 'STARTED' });
    const { jobRunId } = await slow.control.createJobRun(id, 'RUNNING');
    const out = await slow.emr.send(new CancelJobRunCommand({ applicationId: id, jobRunId }));
    expect(out).toMatchObject({ applicationId: id, jobRunId });
    const get = async () =>
      (await slow.emr.send(new GetJobRunCommand({ applicationId: id, jobRunId }))).jobRun!.state;
    expect(await get()).toBe('CANCELLING');
    await waitFor(get, (s) => s === 'CANCELLED', 'the job run to be CANCELLED');
    const done = await slow.control.createJobRun(id, 'SUCCESS');
    await expect(
      slow.emr.send(new CancelJobRunCommand({ applicationId: id, jobRunId: done.jobRunId })),
    ).rejects.toBeInstanceOf(ValidationException);
  });

  it('GetJobRun answers ResourceNotFoundException for an unknown job run or application', async () => {
    const id = await createdApp(slow);
    await expect(
      slow.emr.send(new GetJobRunCommand({ applicationId: id, jobRunId: '00fnojob' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      slow.emr.send(new GetJobRunCommand({ applicationId: '00fnoapp', jobRunId: '00fnojob' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('ListJobRuns pages newest first and filters by states (counting non-final runs)', async () => {
    const id = await createdApp(slow);
    const states = ['RUNNING', 'SUCCESS', 'PENDING', 'FAILED', 'QUEUED', 'CANCELLED', 'SUBMITTED'];
    const ids: string[] = [];
    for (const s of states) ids.push((await slow.control.createJobRun(id, s)).jobRunId);

    const all: string[] = [];
    let nextToken: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await slow.emr.send(
        new ListJobRunsCommand({ applicationId: id, maxResults: 3, nextToken }),
      );
      sizes.push(page.jobRuns!.length);
      all.push(...page.jobRuns!.map((j) => j.id!));
      for (const j of page.jobRuns!) {
        expect(j).toMatchObject({ applicationId: id, releaseLabel: 'emr-7.1.0', type: 'SPARK' });
        expect(j.arn).toContain(`/jobruns/${j.id}`);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    expect(sizes).toEqual([3, 3, 1]);
    expect(all).toEqual([...ids].reverse());

    const active = await slow.emr.send(new ListJobRunsCommand({ applicationId: id, states: [...NON_FINAL] }));
    expect(active.jobRuns?.map((j) => j.state).sort()).toEqual(['PENDING', 'QUEUED', 'RUNNING', 'SUBMITTED']);
    const one = await slow.emr.send(new ListJobRunsCommand({ applicationId: id, states: ['FAILED'] }));
    expect(one.jobRuns?.map((j) => j.id)).toEqual([ids[3]]);
    await expect(
      slow.emr.send(new ListJobRunsCommand({ applicationId: id, maxResults: 51 })),
    ).rejects.toBeInstanceOf(ValidationException);
  });
});

describe('autoStop', () => {
  it('stops a STARTED app after idleTimeoutMinutes without job runs', async () => {
    const id = await createdApp(fast, { autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 3 } });
    await fast.emr.send(new StartApplicationCommand({ applicationId: id }));
    // STARTED lasts 3 idle "minutes" (30 ms) here, too short to poll for on a loaded machine: the
    // proof is STOPPED with no StopApplication sent.
    await waitForState(fast.emr, id, 'STOPPED');
    const stops = (await fast.control.calls()).filter(
      (c) => c.operation === 'StopApplication' && c.applicationId === id,
    );
    expect(stops).toEqual([]);
  });

  it('waits while a job run is not final, then stops', async () => {
    const id = await createdApp(fast, { autoStopConfiguration: { idleTimeoutMinutes: 2 } });
    const { jobRunId } = await fast.emr.send(
      new StartJobRunCommand({ applicationId: id, executionRoleArn: ROLE_ARN }),
    );
    await waitForState(fast.emr, id, 'STARTED');
    await sleep(150); // 7 idle "minutes"
    expect(await stateOf(fast, id)).toBe('STARTED');
    await fast.control.setJobRunState(id, jobRunId!, 'SUCCESS');
    await waitForState(fast.emr, id, 'STOPPED');
  });

  it('uses the default of 15 minutes and never stops when disabled', async () => {
    const on = await createdApp(fast);
    const off = await createdApp(fast, { autoStopConfiguration: { enabled: false } });
    await fast.emr.send(new StartApplicationCommand({ applicationId: on }));
    await fast.emr.send(new StartApplicationCommand({ applicationId: off }));
    await waitForState(fast.emr, on, 'STOPPED');
    expect(await stateOf(fast, off)).toBe('STARTED');
  });
});
