// The Sessions API through the real SDK client: EMR 7.13 and later, interactive sessions enabled,
// the way a session comes up (SUBMITTED -> STARTING -> STARTED -> IDLE), its idle timeout, its
// endpoint and dashboard, TerminateSession, and an active session keeping its application busy
// (no autoStop, StopApplication and DeleteApplication refused). Also ListJobRunAttempts and
// GetDashboardForJobRun.
import {
  CreateApplicationCommand,
  DeleteApplicationCommand,
  GetDashboardForJobRunCommand,
  GetResourceDashboardCommand,
  GetSessionCommand,
  GetSessionEndpointCommand,
  ListJobRunAttemptsCommand,
  ListSessionsCommand,
  ListTagsForResourceCommand,
  type Session,
  StartJobRunCommand,
  StartSessionCommand,
  StopApplicationCommand,
  TagResourceCommand,
  TerminateSessionCommand,
} from '@aws-sdk/client-emr-serverless';
import { describe, expect, it } from 'vitest';
import { ROLE_ARN, rejection, useHarness, waitFor, waitForState } from './helpers.js';

// One simulated minute is 200 ms: idle timeouts and autoStop can be watched.
const h = useHarness({ transitionMs: 20, idleMinuteMs: 200 });

async function app(extra: Record<string, unknown> = {}): Promise<string> {
  const out = await h.emr.send(
    new CreateApplicationCommand({
      name: 'sessions',
      releaseLabel: 'emr-7.13.0',
      type: 'SPARK',
      interactiveConfiguration: { sessionEnabled: true },
      ...extra,
    }),
  );
  await waitForState(h.emr, out.applicationId!, 'CREATED');
  return out.applicationId!;
}

const get = async (applicationId: string, sessionId: string): Promise<Session> =>
  (await h.emr.send(new GetSessionCommand({ applicationId, sessionId }))).session!;

const waitForSession = (applicationId: string, sessionId: string, state: string): Promise<Session> =>
  waitFor(
    () => get(applicationId, sessionId),
    (s) => s.state === state,
    `session ${sessionId} to be ${state}`,
  );

async function start(applicationId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const out = await h.emr.send(
    new StartSessionCommand({ applicationId, executionRoleArn: ROLE_ARN, ...extra }),
  );
  expect(out.arn).toBe(
    `arn:aws:emr-serverless:eu-west-1:123456789012:/applications/${applicationId}/sessions/${out.sessionId}`,
  );
  return out.sessionId!;
}

describe('StartSession', () => {
  it('starts the application (autoStart) and comes up: SUBMITTED, STARTING, STARTED, IDLE', async () => {
    const id = await app();
    const sid = await start(id, {
      name: 'notebook',
      idleTimeoutMinutes: 30,
      tags: { team: 'data' },
      configurationOverrides: {
        runtimeConfiguration: [{ classification: 'spark-defaults', properties: { a: 'b' } }],
      },
    });
    const first = await get(id, sid);
    expect(first).toMatchObject({
      applicationId: id,
      sessionId: sid,
      name: 'notebook',
      releaseLabel: 'emr-7.13.0',
      executionRoleArn: ROLE_ARN,
      idleTimeoutMinutes: 30,
      tags: { team: 'data' },
      configurationOverrides: {
        runtimeConfiguration: [{ classification: 'spark-defaults', properties: { a: 'b' } }],
      },
    });
    // One step per 20 ms: how far it got before the first read depends on the machine's load, but
    // every state read is a step of the bring-up, in order.
    const bringUp = ['SUBMITTED', 'STARTING', 'STARTED', 'IDLE'];
    expect(bringUp).toContain(first.state);
    expect(first.createdAt).toBeInstanceOf(Date);
    expect(first).not.toHaveProperty('stateDetails');
    const seen: string[] = [first.state!];
    const idle = await waitFor(
      async () => {
        const s = await get(id, sid);
        seen.push(s.state!);
        return s;
      },
      (s) => s.state === 'IDLE',
      'the session to be IDLE',
    );
    const steps = seen.map((state) => bringUp.indexOf(state));
    expect(
      steps.every((step, i) => step >= 0 && step >= (steps[i - 1] ?? 0)),
      seen.join(' -> '),
    ).toBe(true);
    expect(idle.startedAt).toBeInstanceOf(Date);
    expect(idle.idleSince).toBeInstanceOf(Date);
    await waitForState(h.emr, id, 'STARTED');
  });

  it('is idempotent on clientToken', async () => {
    const id = await app();
    const a = await start(id, { clientToken: 'same' });
    const b = await start(id, { clientToken: 'same' });
    expect(b).toBe(a);
    const listed = (await h.emr.send(new ListSessionsCommand({ applicationId: id }))).sessions ?? [];
    expect(listed.map((s) => s.sessionId)).toEqual([a]);
  });

  it('is refused before EMR 7.13, without interactive sessions, on Hive, and with autoStart off', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ releaseLabel: 'emr-7.12.0' }, /7\.13\.0 and later/],
      [{ interactiveConfiguration: { livyEndpointEnabled: true } }, /sessionEnabled/],
      [{ type: 'HIVE' }, /Spark applications only/],
      [{ autoStartConfiguration: { enabled: false } }, /autoStart is disabled/],
    ];
    for (const [extra, message] of cases) {
      const id = await app(extra);
      const err = await rejection(
        h.emr.send(new StartSessionCommand({ applicationId: id, executionRoleArn: ROLE_ARN })),
      );
      expect(err.name, JSON.stringify(extra)).toBe('ValidationException');
      expect(err.message).toMatch(message);
    }
  });

  it('validates its input and answers ResourceNotFoundException for an unknown application', async () => {
    const id = await app();
    const bad = await rejection(
      h.emr.send(new StartSessionCommand({ applicationId: id, executionRoleArn: 'not-a-role' })),
    );
    expect(bad.name).toBe('ValidationException');
    const missing = await rejection(
      h.emr.send(new StartSessionCommand({ applicationId: '00fnothere', executionRoleArn: ROLE_ARN })),
    );
    expect(missing.name).toBe('ResourceNotFoundException');
    const none = await rejection(
      h.emr.send(new GetSessionCommand({ applicationId: id, sessionId: '00fnothere' })),
    );
    expect(none.name).toBe('ResourceNotFoundException');
  });
});

describe('a session', () => {
  it('ends after its idle timeout while IDLE, not while BUSY', async () => {
    const id = await app();
    const sid = await start(id, { idleTimeoutMinutes: 2 });
    await waitForSession(id, sid, 'IDLE');
    await h.control.setSessionState(id, sid, 'BUSY');
    await new Promise((r) => setTimeout(r, 600)); // three minutes busy
    expect((await get(id, sid)).state).toBe('BUSY');
    await h.control.setSessionState(id, sid, 'IDLE');
    const ended = await waitFor(
      () => get(id, sid),
      (s) => s.state === 'TERMINATED',
      'the idle session to end',
    );
    expect(ended.stateDetails).toMatch(/idle for 2 minute/);
    expect(ended.endedAt).toBeInstanceOf(Date);
    expect(ended.totalExecutionDurationSeconds).toBeGreaterThanOrEqual(1);
  });

  it('keeps its application from stopping: no autoStop, StopApplication and DeleteApplication refused', async () => {
    const id = await app({ autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 1 } });
    const sid = await start(id, { idleTimeoutMinutes: 0 });
    await waitForSession(id, sid, 'IDLE');
    await new Promise((r) => setTimeout(r, 500)); // past the application's idle minute
    await waitForState(h.emr, id, 'STARTED');
    const stop = await rejection(h.emr.send(new StopApplicationCommand({ applicationId: id })));
    expect(stop.name).toBe('ValidationException');
    expect(stop.message).toMatch(/session/);
    await h.control.patchApplication(id, { state: 'STOPPED' });
    const del = await rejection(h.emr.send(new DeleteApplicationCommand({ applicationId: id })));
    expect(del.name).toBe('ValidationException');
    await h.control.patchApplication(id, { state: 'STARTED' });

    await h.emr.send(new TerminateSessionCommand({ applicationId: id, sessionId: sid }));
    expect(['TERMINATING', 'TERMINATED']).toContain((await get(id, sid)).state);
    await waitForSession(id, sid, 'TERMINATED');
    // Idle at last: autoStop stops the application.
    await waitForState(h.emr, id, 'STOPPED');
  });

  it('TerminateSession is idempotent once terminating, and refused for a failed session', async () => {
    const id = await app();
    const sid = await start(id);
    await h.emr.send(new TerminateSessionCommand({ applicationId: id, sessionId: sid }));
    await h.emr.send(new TerminateSessionCommand({ applicationId: id, sessionId: sid }));
    const failed = await start(id);
    await h.control.setSessionState(id, failed, 'FAILED', 'Session failed: driver lost.');
    expect((await get(id, failed)).stateDetails).toBe('Session failed: driver lost.');
    const err = await rejection(
      h.emr.send(new TerminateSessionCommand({ applicationId: id, sessionId: failed })),
    );
    expect(err.name).toBe('ValidationException');
  });

  it('has an endpoint with a token once it is up, and a dashboard', async () => {
    const id = await app();
    const sid = await start(id);
    await h.control.setSessionState(id, sid, 'STARTING'); // held there: its start-up timer stops
    const early = await rejection(
      h.emr.send(new GetSessionEndpointCommand({ applicationId: id, sessionId: sid })),
    );
    expect(early.name).toBe('ValidationException');
    expect(early.message).toMatch(/STARTING/);
    await h.control.setSessionState(id, sid, 'IDLE');
    const ep = await h.emr.send(new GetSessionEndpointCommand({ applicationId: id, sessionId: sid }));
    expect(ep.endpoint).toMatch(/^https:\/\//);
    expect(ep.authToken).toBeTruthy();
    expect(ep.authTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    const live = await h.emr.send(
      new GetResourceDashboardCommand({ applicationId: id, resourceId: sid, resourceType: 'SESSION' }),
    );
    expect(live.url).toMatch(/sparkui/);
    await h.emr.send(new TerminateSessionCommand({ applicationId: id, sessionId: sid }));
    await waitForSession(id, sid, 'TERMINATED');
    const history = await h.emr.send(
      new GetResourceDashboardCommand({ applicationId: id, resourceId: sid, resourceType: 'SESSION' }),
    );
    expect(history.url).toMatch(/shs/);
  });

  it('is listed newest first, filtered by states, and tagged on its ARN', async () => {
    const id = await app();
    const a = await start(id);
    const b = await start(id);
    await h.control.setSessionState(id, a, 'FAILED');
    const all = (await h.emr.send(new ListSessionsCommand({ applicationId: id }))).sessions ?? [];
    expect(all.map((s) => s.sessionId)).toEqual([b, a]);
    const failed = (await h.emr.send(new ListSessionsCommand({ applicationId: id, states: ['FAILED'] })))
      .sessions;
    expect(failed?.map((s) => s.sessionId)).toEqual([a]);
    const arn = (await get(id, b)).arn!;
    await h.emr.send(new TagResourceCommand({ resourceArn: arn, tags: { k: 'v' } }));
    expect((await h.emr.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags).toEqual({ k: 'v' });
  });
});

describe('job run attempts and dashboards', () => {
  it('lists the one attempt of a run and gives its dashboard', async () => {
    const id = await app();
    const run = await h.emr.send(
      new StartJobRunCommand({
        applicationId: id,
        executionRoleArn: ROLE_ARN,
        jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py' } },
      }),
    );
    const attempts = await h.emr.send(
      new ListJobRunAttemptsCommand({ applicationId: id, jobRunId: run.jobRunId! }),
    );
    expect(attempts.jobRunAttempts).toEqual([
      expect.objectContaining({ applicationId: id, id: run.jobRunId, attempt: 1, state: 'SUBMITTED' }),
    ]);
    const dash = await h.emr.send(
      new GetDashboardForJobRunCommand({ applicationId: id, jobRunId: run.jobRunId! }),
    );
    expect(dash.url).toMatch(/^https:\/\/.*sparkui/);
    const second = await rejection(
      h.emr.send(
        new GetDashboardForJobRunCommand({ applicationId: id, jobRunId: run.jobRunId!, attempt: 2 }),
      ),
    );
    expect(second.name).toBe('ValidationException');
    const unknown = await rejection(
      h.emr.send(new ListJobRunAttemptsCommand({ applicationId: id, jobRunId: '00fnothere' })),
    );
    expect(unknown.name).toBe('ResourceNotFoundException');
  });
});
