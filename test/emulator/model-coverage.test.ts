// The local service against AWS's published EMR Serverless model (botocore's service-2.json at a
// pinned version, see scripts/aws-model.sh): every operation of the model is called in one
// scenario, on the wire the SDK uses, and every answer is walked against the operation's output
// shape (required members, members the model does not have, types, enums, lengths, ranges,
// patterns); a few input limits are read from the model and tried at their edge. The test fails on
// any departure that is not in ACCEPTED below, and on an accepted one that no longer happens.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  conformance,
  loadModel,
  membersOf,
  type RawAnswer,
  rawCall,
  type ServiceModel,
} from './aws-model.js';
import { ACCOUNT, KEY_ARN, REGION, ROLE_ARN, useHarness, waitForState } from './helpers.js';

/**
 * Departures from the model the local service keeps on purpose, each with its reason. Anything
 * else the test finds fails it.
 */
const ACCEPTED: Record<string, string> = {};

/** The same for the input limits tried at their edge. */
const ACCEPTED_LIMITS: Record<string, string> = {};

/**
 * Output structures whose every member some answer of the scenario must carry: an answer missing
 * a member the real service sends would let a caller's handling of it go untested.
 */
const FULLY_ANSWERED = ['JobRun', 'JobRunSummary', 'Session', 'SessionSummary', 'JobRunAttemptSummary'];

/**
 * `stateDetails` is required by the model yet has a minimum length of 1: when there is nothing to
 * say the local service leaves it out rather than answer an empty string below the model's minimum.
 */
const mayOmit = (_shape: string, member: string): boolean => member === 'stateDetails';

const h = useHarness({ transitionMs: 20 }, { reset: false });
let model: ServiceModel;

beforeAll(() => {
  model = loadModel();
}, 300_000);

const notImplemented = (a: RawAnswer): boolean =>
  (a.status === 404 && a.errorType === 'UnknownOperationException') ||
  (a.status === 405 && a.errorType === 'MethodNotAllowedException');

describe('the local service against the EMR Serverless service model', () => {
  it('implements every operation and answers each as the model describes', async () => {
    await h.control.reset();
    const problems: string[] = [];
    const seen = new Set<string>();
    const answered = new Set<string>();
    const missing = new Set<string>();

    /** Calls an operation, checks its answer against the model, and returns the answer's body. */
    const call = async (
      operation: string,
      input: Record<string, unknown>,
    ): Promise<Record<string, unknown> | undefined> => {
      const answer = await rawCall(model, h.emulator.endpoint, operation, input);
      if (notImplemented(answer)) {
        missing.add(operation);
        return undefined;
      }
      if (answer.status !== (model.operations[operation]!.http.responseCode ?? 200)) {
        problems.push(
          `${operation}: answered ${answer.status} ${answer.errorType}: ${String(answer.body.message)}`,
        );
        return undefined;
      }
      answered.add(operation);
      const output = model.operations[operation]!.output?.shape;
      if (output) problems.push(...conformance(model, output, answer.body, operation, seen, mayOmit));
      return answer.body;
    };
    const until = async (what: string, read: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 5_000;
      while (!(await read())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const appState = async (applicationId: string): Promise<unknown> =>
      (
        (await rawCall(model, h.emulator.endpoint, 'GetApplication', { applicationId })).body.application as
          | Record<string, unknown>
          | undefined
      )?.state;

    // ---------------------------------------------------------------- applications
    const image = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/spark:7.13`;
    const created = await call('CreateApplication', {
      name: 'coverage',
      releaseLabel: 'emr-7.13.0',
      type: 'SPARK',
      clientToken: 'coverage-app',
      tags: { team: 'data' },
      networkConfiguration: { subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0abc'] },
      imageConfiguration: { imageUri: image },
      workerTypeSpecifications: { Driver: { imageConfiguration: { imageUri: image } } },
      initialCapacity: { Driver: { workerCount: 1, workerConfiguration: { cpu: '2vCPU', memory: '4GB' } } },
      maximumCapacity: { cpu: '200vCPU', memory: '200GB' },
      diskEncryptionConfiguration: { encryptionKeyArn: KEY_ARN },
      interactiveConfiguration: { sessionEnabled: true, livyEndpointEnabled: true },
      schedulerConfiguration: { queueTimeoutMinutes: 60, maxConcurrentRuns: 10 },
    });
    const applicationId = String(created?.applicationId);
    await until('CREATED', async () => (await appState(applicationId)) === 'CREATED');
    await call('GetApplication', { applicationId });
    await call('ListApplications', { maxResults: 10 });
    await call('UpdateApplication', {
      applicationId,
      clientToken: 'coverage-update',
      maximumCapacity: { cpu: '100vCPU', memory: '100GB' },
    });
    await call('StartApplication', { applicationId });
    await until('STARTED', async () => (await appState(applicationId)) === 'STARTED');

    // ---------------------------------------------------------------- job runs
    const started = await call('StartJobRun', {
      applicationId,
      clientToken: 'coverage-run',
      executionRoleArn: ROLE_ARN,
      name: 'coverage-run',
      mode: 'BATCH',
      jobDriver: { sparkSubmit: { entryPoint: 's3://bucket/job.py', entryPointArguments: ['--day', '1'] } },
      configurationOverrides: {
        applicationConfiguration: [{ classification: 'spark-defaults', properties: { a: 'b' } }],
      },
      retryPolicy: { maxAttempts: 2 },
      executionIamPolicy: { policyArns: [`arn:aws:iam::${ACCOUNT}:policy/coverage`] },
      executionTimeoutMinutes: 60,
      tags: { run: 'coverage' },
    });
    const jobRunId = String(started?.jobRunId);
    await call('GetJobRun', { applicationId, jobRunId });
    await call('ListJobRuns', { applicationId });
    await h.control.setJobRunState(applicationId, jobRunId, 'RUNNING', 'Job run is running.');
    await call('GetJobRun', { applicationId, jobRunId });
    await call('ListJobRuns', { applicationId });
    await call('ListJobRunAttempts', { applicationId, jobRunId });
    await call('GetDashboardForJobRun', { applicationId, jobRunId });
    await call('CancelJobRun', { applicationId, jobRunId, shutdownGracePeriodInSeconds: 0 });
    await until('the run to be CANCELLED', async () => {
      const out = await rawCall(model, h.emulator.endpoint, 'GetJobRun', { applicationId, jobRunId });
      return (out.body.jobRun as Record<string, unknown>).state === 'CANCELLED';
    });
    await call('GetJobRun', { applicationId, jobRunId });
    await call('ListJobRuns', { applicationId, states: ['CANCELLED'] });

    // ---------------------------------------------------------------- tags
    const arn = `arn:aws:emr-serverless:${REGION}:${ACCOUNT}:/applications/${applicationId}`;
    await call('TagResource', { resourceArn: arn, tags: { owner: 'coverage' } });
    await call('ListTagsForResource', { resourceArn: arn });
    await call('UntagResource', { resourceArn: arn, tagKeys: ['owner'] });

    // ---------------------------------------------------------------- sessions
    const session = await call('StartSession', {
      applicationId,
      clientToken: 'coverage-session',
      executionRoleArn: ROLE_ARN,
      name: 'coverage-session',
      idleTimeoutMinutes: 30,
      tags: { session: 'coverage' },
      configurationOverrides: {
        runtimeConfiguration: [{ classification: 'spark-defaults', properties: { a: 'b' } }],
      },
    });
    if (session) {
      const sessionId = String(session.sessionId);
      await call('GetSession', { applicationId, sessionId });
      await until('the session to be IDLE', async () => {
        const out = await rawCall(model, h.emulator.endpoint, 'GetSession', { applicationId, sessionId });
        return (out.body.session as Record<string, unknown>).state === 'IDLE';
      });
      await call('GetSession', { applicationId, sessionId });
      await call('ListSessions', { applicationId });
      await call('GetSessionEndpoint', { applicationId, sessionId });
      await call('GetResourceDashboard', { applicationId, resourceId: sessionId, resourceType: 'SESSION' });
      await call('TerminateSession', { applicationId, sessionId });
      await until('the session to end', async () => {
        const out = await rawCall(model, h.emulator.endpoint, 'GetSession', { applicationId, sessionId });
        return (out.body.session as Record<string, unknown>).state === 'TERMINATED';
      });
      await call('GetSession', { applicationId, sessionId });
      await call('ListSessions', { applicationId, states: ['TERMINATED'] });
    } else {
      for (const op of [
        'GetSession',
        'ListSessions',
        'GetSessionEndpoint',
        'TerminateSession',
        'GetResourceDashboard',
      ]) {
        await call(op, {
          applicationId,
          ...(op === 'ListSessions'
            ? {}
            : op === 'GetResourceDashboard'
              ? { resourceId: 'x1', resourceType: 'SESSION' }
              : { sessionId: 'x1' }),
        });
      }
    }

    // ---------------------------------------------------------------- the end of the application
    await call('StopApplication', { applicationId });
    await until('STOPPED', async () => (await appState(applicationId)) === 'STOPPED');
    await call('DeleteApplication', { applicationId });

    for (const op of Object.keys(model.operations).sort()) {
      if (missing.has(op)) problems.push(`${op}: not implemented`);
      else if (!answered.has(op)) problems.push(`${op}: not called by this test`);
    }
    for (const shape of FULLY_ANSWERED) {
      for (const member of membersOf(model, shape)) {
        // A shape no answer held (its operation is missing) is reported as that operation.
        if (![...seen].some((s) => s.startsWith(`${shape}.`))) break;
        if (!seen.has(member)) problems.push(`${member}: never answered`);
      }
    }

    const operations = Object.keys(model.operations).length;
    console.info(
      `model coverage: ${operations - missing.size}/${operations} operations of EMR Serverless ${model.metadata.apiVersion}`,
    );
    const unexpected = problems.filter((p) => !(p in ACCEPTED));
    const gone = Object.keys(ACCEPTED).filter((p) => !problems.includes(p));
    expect({ unexpected, gone }).toEqual({ unexpected: [], gone: [] });
  });

  it('accepts and refuses inputs at the limits the model sets', async () => {
    await h.control.reset();
    const problems: string[] = [];
    const app = await rawCall(model, h.emulator.endpoint, 'CreateApplication', {
      name: 'limits',
      releaseLabel: 'emr-7.13.0',
      type: 'SPARK',
      clientToken: 'limits',
    });
    const applicationId = String(app.body.applicationId);
    await waitForState(h.emr, applicationId, 'CREATED');

    // A list filter takes as many states as the model's set allows, and no more.
    const stateSet = model.shapes[model.shapes.ListJobRunsRequest!.members!.states!.shape]!;
    const allStates = model.shapes[stateSet.member!.shape]!.enum!;
    const atMax = allStates.slice(0, stateSet.max);
    const overMax = [...atMax, allStates[stateSet.max!] ?? atMax[0]];
    const ok = await rawCall(model, h.emulator.endpoint, 'ListJobRuns', { applicationId, states: atMax });
    if (ok.status !== 200) problems.push(`ListJobRuns: refuses ${atMax.length} states (max ${stateSet.max})`);
    const over = await rawCall(model, h.emulator.endpoint, 'ListJobRuns', { applicationId, states: overMax });
    if (over.status !== 400)
      problems.push(`ListJobRuns: accepts ${overMax.length} states (max ${stateSet.max})`);

    // An entry point argument as short as the model allows.
    const argument = model.shapes.EntryPointArgument!;
    const shortest = 'x'.repeat(argument.min ?? 0);
    const run = await rawCall(model, h.emulator.endpoint, 'StartJobRun', {
      applicationId,
      clientToken: 'limits-run',
      executionRoleArn: ROLE_ARN,
      jobDriver: {
        sparkSubmit: { entryPoint: 's3://bucket/job.py', entryPointArguments: ['--flag', shortest] },
      },
    });
    if (run.status !== 200) {
      problems.push(
        `StartJobRun: refuses an entryPointArguments item of length ${shortest.length}: ${String(run.body.message)}`,
      );
    }

    const unexpected = problems.filter((p) => !(p in ACCEPTED_LIMITS));
    const gone = Object.keys(ACCEPTED_LIMITS).filter((p) => !problems.includes(p));
    expect({ unexpected, gone }).toEqual({ unexpected: [], gone: [] });
  });
});
