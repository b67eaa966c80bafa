// The listing-lag control: ListApplications and ListJobRuns leave out items created less than the
// lag ago, as an eventually consistent listing would; GetApplication and GetJobRun never lag.
import {
  CreateApplicationCommand,
  GetApplicationCommand,
  GetJobRunCommand,
  ListApplicationsCommand,
  ListJobRunsCommand,
  StartJobRunCommand,
} from '@aws-sdk/client-emr-serverless';
import { describe, expect, it } from 'vitest';
import { EmulatorControlError } from '../../src/emulator/index.js';
import { sleep, useHarness, waitForState } from './helpers.js';

const h = useHarness();

const LAG_MS = 600;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/emr-job';

async function createApp(name: string): Promise<string> {
  const out = await h.emr.send(
    new CreateApplicationCommand({ name, releaseLabel: 'emr-7.5.0', type: 'SPARK' }),
  );
  return out.applicationId!;
}

const listedApps = async () =>
  ((await h.emr.send(new ListApplicationsCommand({}))).applications ?? []).map((a) => a.id);
const listedRuns = async (applicationId: string) =>
  ((await h.emr.send(new ListJobRunsCommand({ applicationId }))).jobRuns ?? []).map((j) => j.id);

describe('listing lag', () => {
  it('is off by default and reads back as set', async () => {
    expect(await h.control.listingLag()).toBe(0);
    const id = await createApp('now');
    expect(await listedApps()).toEqual([id]);
    await h.control.setListingLag(LAG_MS);
    expect(await h.control.listingLag()).toBe(LAG_MS);
  });

  it('leaves a new application out of ListApplications until it is older than the lag; GetApplication sees it at once', async () => {
    const old = await createApp('old');
    await sleep(LAG_MS + 50);
    await h.control.setListingLag(LAG_MS);
    const fresh = await createApp('fresh');
    // Items older than the lag are listed as before.
    expect(await listedApps()).toEqual([old]);
    const got = await h.emr.send(new GetApplicationCommand({ applicationId: fresh }));
    expect(got.application?.applicationId).toBe(fresh);
    await sleep(LAG_MS + 50);
    expect((await listedApps()).sort()).toEqual([fresh, old].sort());
  });

  it('leaves a new job run out of ListJobRuns until it is older than the lag; GetJobRun sees it at once', async () => {
    const app = await createApp('jobs');
    await waitForState(h.emr, app, 'CREATED');
    const old = (await h.control.createJobRun(app, 'RUNNING')).jobRunId;
    await sleep(LAG_MS + 50);
    await h.control.setListingLag(LAG_MS);
    const started = await h.emr.send(
      new StartJobRunCommand({
        applicationId: app,
        executionRoleArn: ROLE_ARN,
        jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
      }),
    );
    const fresh = started.jobRunId!;
    const made = (await h.control.createJobRun(app, 'RUNNING')).jobRunId;
    expect(await listedRuns(app)).toEqual([old]);
    const got = await h.emr.send(new GetJobRunCommand({ applicationId: app, jobRunId: fresh }));
    expect(got.jobRun?.jobRunId).toBe(fresh);
    await sleep(LAG_MS + 50);
    expect((await listedRuns(app)).sort()).toEqual([old, fresh, made].sort());
  });

  it('ends with 0 and with a reset', async () => {
    await h.control.setListingLag(60_000);
    const a = await createApp('a');
    expect(await listedApps()).toEqual([]);
    await h.control.setListingLag(0);
    expect(await listedApps()).toEqual([a]);
    await h.control.setListingLag(60_000);
    await h.control.reset();
    expect(await h.control.listingLag()).toBe(0);
    const b = await createApp('b');
    expect(await listedApps()).toEqual([b]);
  });

  it('refuses a lag that is not a number of milliseconds', async () => {
    for (const ms of [-1, '100', null, 3_600_001]) {
      const err = await h.control.setListingLag(ms as number).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EmulatorControlError);
      expect((err as EmulatorControlError).status).toBe(400);
    }
  });
});
