// The Argo CD health check (argocd/health.lua), run by gopher-lua, the Lua engine Argo CD embeds,
// through the small Go harness in test/argocd (which loads the script and the object the way
// Argo CD's util/lua does). Conditions come from the operator's own conditionsFor(), so the
// fixtures are what the operator really writes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { API_VERSION, APPLICATION_KIND, FINALIZER, GROUP, JOB_RUN_KIND } from '../../../src/api/constants.js';
import type { EmrServerlessJobRun } from '../../../src/api/jobrun-schema.js';
import { nullValueMessage } from '../../../src/api/nulls.js';
import type { Condition } from '../../../src/api/schema.js';
import type { AwsJobRun } from '../../../src/aws/port.js';
import { conditionsFor, type Verdict } from '../../../src/reconcile/conditions.js';
import { type JobRunObserved, planJobRun } from '../../../src/reconcile/jobrun/planner.js';
import {
  CONDITION_REASONS,
  type ConditionReason,
  type Phase,
  SUSPENDED_REASONS,
} from '../../../src/reconcile/reasons.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const healthLua = join(repo, 'argocd', 'health.lua');
const cmPatch = join(repo, 'argocd', 'argocd-cm-patch.yaml');
const CM_KEYS = [APPLICATION_KIND, JOB_RUN_KIND].map(
  (kind) => `resource.customizations.health.${GROUP}_${kind}`,
);

interface Health {
  status?: string;
  message?: string;
  error?: string;
}

let binDir: string;
let harness: string;

beforeAll(async () => {
  binDir = mkdtempSync(join(tmpdir(), 'argocd-health-'));
  harness = join(binDir, 'argocd-health');
  // Go's module and build caches make this a second or two after the first time.
  await run('go', ['build', '-o', harness, '.'], {
    cwd: join(repo, 'test', 'argocd'),
    env: { ...process.env, GOFLAGS: '-mod=readonly -buildvcs=false' },
  });
}, 120_000);

afterAll(() => {
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

/** Runs the health check over several objects in one process. */
async function healthOf(objects: object[], script = healthLua): Promise<Health[]> {
  const child = execFile(harness, ['-script', script]);
  child.stdin?.end(JSON.stringify(objects));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`argocd-health exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as Health[];
}

const NOW = new Date('2026-01-01T00:00:00Z');

function app(options: {
  generation: number;
  status?: Record<string, unknown>;
  deletionTimestamp?: string;
}): object {
  return {
    apiVersion: API_VERSION,
    kind: APPLICATION_KIND,
    metadata: {
      name: 'analytics',
      namespace: 'data',
      uid: '6f1d3c1e-9a51-4bd5-8a5e-0c7f6f7c1a10',
      resourceVersion: '4242',
      generation: options.generation,
      ...(options.deletionTimestamp && {
        deletionTimestamp: options.deletionTimestamp,
        finalizers: [`${GROUP}/finalizer`],
      }),
    },
    spec: { name: 'analytics', type: 'SPARK', releaseLabel: 'emr-7.5.0' },
    ...(options.status && { status: options.status }),
  };
}

/** The status the operator writes for `verdict`, reconciled at `observed`. */
function statusFor(verdict: Verdict, observed: number, extra: Record<string, unknown> = {}) {
  return {
    observedGeneration: observed,
    applicationId: '00fabc123',
    state: 'STARTED',
    conditions: conditionsFor(verdict, observed, undefined, NOW),
    ...extra,
  };
}

const reconciled: Verdict = {
  phase: 'Ready',
  reason: 'Reconciled',
  message: 'Application 00fabc123 is STARTED and matches spec.',
};

interface Case {
  name: string;
  object: object;
  status: string;
  message: string;
}

const waitingForStop =
  'The change to diskEncryptionConfiguration needs application 00fabc123 STOPPED; it is STARTED. ' +
  'It is applied once the application stops (autoStop stops it after 15 idle minutes). ' +
  'Set spec.updateStrategy: StopWhenIdle to let the operator stop it once no job runs.';
const keyDisabled =
  'KMS key arn:aws:kms:eu-west-1:111122223333:key/1234abcd is Disabled: enable it or name another key.';
const nullKey = nullValueMessage([
  { path: 'spec.diskEncryptionConfiguration.encryptionKeyArn', source: 'lastApplied' },
]);
const terminated =
  'Application 00fabc123 was terminated outside the operator. It is not re-created silently: delete this resource and apply it again, or adopt another application.';

const stateConflict =
  'UpdateApplication failed: Application 00fabc123 must be in one of the statuses to be updated: [STOPPED, CREATED]. Current status: STARTING. The application changed state; looking again with backoff.';
const fight =
  "Something else keeps changing application 00fabc123 back: the operator's correction of diskEncryptionConfiguration " +
  '(declared {"encryptionContext":{},"encryptionKeyArn":"arn:aws:kms:eu-west-1:111122223333:key/a"}) was undone 3 times. ' +
  'Find the other writer (CloudTrail records who calls UpdateApplication on the application) and stop it.';
const notConverging =
  'UpdateApplication was sent 3 times with the same change and AWS accepted it, but application 00fabc123 still differs ' +
  '(diskEncryptionConfiguration: sent {"encryptionContext":{},"encryptionKeyArn":"arn:aws:kms:eu-west-1:111122223333:key/b"}, ' +
  'AWS has {"encryptionKeyArn":"arn:aws:kms:eu-west-1:111122223333:key/a"}). Something else may be changing it back, ' +
  'or AWS may not take these values as given. Nothing more is sent until the spec changes or the next resync, in 598 s.';

const cases: Case[] = [
  {
    name: 'no status yet',
    object: app({ generation: 1 }),
    status: 'Progressing',
    message: 'Waiting for the operator to reconcile this resource.',
  },
  {
    name: 'an empty status',
    object: app({ generation: 1, status: {} }),
    status: 'Progressing',
    message: 'Waiting for the operator to reconcile this resource.',
  },
  {
    name: 'Creating',
    object: app({
      generation: 1,
      status: statusFor(
        { phase: 'Progressing', reason: 'Creating', message: 'Creating application analytics in eu-west-1.' },
        1,
        { state: undefined, applicationId: undefined },
      ),
    }),
    status: 'Progressing',
    message: 'Creating application analytics in eu-west-1.',
  },
  {
    name: 'Ready for the current generation',
    object: app({ generation: 3, status: statusFor(reconciled, 3) }),
    status: 'Healthy',
    message: 'Application 00fabc123 is STARTED and matches spec.',
  },
  {
    name: 'Ready, but for an older generation (spec changed, not reconciled yet)',
    object: app({ generation: 4, status: statusFor(reconciled, 3) }),
    status: 'Progressing',
    message: 'Waiting for the operator to reconcile generation 4.',
  },
  {
    name: 'status.observedGeneration current but the Ready condition older',
    object: app({
      generation: 4,
      status: { ...statusFor(reconciled, 3), observedGeneration: 4 },
    }),
    status: 'Progressing',
    message: 'Waiting for the operator to reconcile generation 4.',
  },
  {
    name: 'WaitingForStop',
    object: app({
      generation: 2,
      status: statusFor({ phase: 'Progressing', reason: 'WaitingForStop', message: waitingForStop }, 2),
    }),
    status: 'Progressing',
    message: waitingForStop,
  },
  {
    name: 'WaitingForJobRuns',
    object: app({
      generation: 2,
      status: statusFor(
        {
          phase: 'Progressing',
          reason: 'WaitingForJobRuns',
          message:
            'The change to releaseLabel needs application 00fabc123 stopped; 2 job run(s) are not finished.',
        },
        2,
      ),
    }),
    status: 'Progressing',
    message: 'The change to releaseLabel needs application 00fabc123 stopped; 2 job run(s) are not finished.',
  },
  {
    name: 'Updating',
    object: app({
      generation: 2,
      status: statusFor(
        {
          phase: 'Progressing',
          reason: 'Updating',
          message: 'Updating maximumCapacity of application 00fabc123.',
        },
        2,
      ),
    }),
    status: 'Progressing',
    message: 'Updating maximumCapacity of application 00fabc123.',
  },
  {
    name: 'AWS throttling (retried with backoff)',
    object: app({
      generation: 2,
      status: statusFor(
        {
          phase: 'Progressing',
          reason: 'AwsThrottled',
          message: 'GetApplication failed: Rate exceeded. Retrying with backoff.',
        },
        2,
      ),
    }),
    status: 'Progressing',
    message: 'GetApplication failed: Rate exceeded. Retrying with backoff.',
  },
  {
    name: 'WaitingForState (the application is STARTING)',
    object: app({
      generation: 2,
      status: statusFor(
        {
          phase: 'Progressing',
          reason: 'WaitingForState',
          message: 'Application 00fabc123 is STARTING; the operator looks again once it settles.',
        },
        2,
        { state: 'STARTING' },
      ),
    }),
    status: 'Progressing',
    message: 'Application 00fabc123 is STARTING; the operator looks again once it settles.',
  },
  {
    name: 'ApplicationStateChanged (a state conflict, retried with backoff)',
    object: app({
      generation: 2,
      status: statusFor(
        { phase: 'Progressing', reason: 'ApplicationStateChanged', message: stateConflict },
        2,
      ),
    }),
    status: 'Progressing',
    message: stateConflict,
  },
  {
    name: 'Stalled NotConverging',
    object: app({
      generation: 3,
      status: statusFor({ phase: 'Stalled', reason: 'NotConverging', message: notConverging }, 3),
    }),
    status: 'Degraded',
    message: notConverging,
  },
  {
    name: 'Stalled ExternalChangeFight',
    object: app({
      generation: 3,
      status: statusFor({ phase: 'Stalled', reason: 'ExternalChangeFight', message: fight }, 3),
    }),
    status: 'Degraded',
    message: fight,
  },
  {
    name: 'Stalled KeyDisabled',
    object: app({
      generation: 5,
      status: statusFor({ phase: 'Stalled', reason: 'KeyDisabled', message: keyDisabled }, 5),
    }),
    status: 'Degraded',
    message: keyDisabled,
  },
  {
    name: 'Stalled NullValue (a template value that did not render)',
    object: app({
      generation: 2,
      status: statusFor({ phase: 'Stalled', reason: 'NullValue', message: nullKey }, 2),
    }),
    status: 'Degraded',
    message: nullKey,
  },
  {
    name: 'Stalled ApplicationTerminated',
    object: app({
      generation: 1,
      status: statusFor({ phase: 'Stalled', reason: 'ApplicationTerminated', message: terminated }, 1, {
        state: 'TERMINATED',
      }),
    }),
    status: 'Degraded',
    message: terminated,
  },
  {
    name: 'Stalled AccessDenied',
    object: app({
      generation: 1,
      status: statusFor(
        {
          phase: 'Stalled',
          reason: 'AccessDenied',
          message: "UpdateApplication failed: not authorized. Grant the operator's role this permission.",
        },
        1,
      ),
    }),
    status: 'Degraded',
    message: "UpdateApplication failed: not authorized. Grant the operator's role this permission.",
  },
  {
    name: 'Stalled for an older generation: the fix was applied, not reconciled yet',
    object: app({
      generation: 6,
      status: statusFor({ phase: 'Stalled', reason: 'KeyDisabled', message: keyDisabled }, 5),
    }),
    status: 'Progressing',
    message: 'Waiting for the operator to reconcile generation 6.',
  },
  {
    name: 'Deleting (the operator is stopping the application)',
    object: app({
      generation: 3,
      deletionTimestamp: '2026-01-01T00:00:00Z',
      status: statusFor(
        { phase: 'Progressing', reason: 'Deleting', message: 'Stopping application 00fabc123 to delete it.' },
        3,
      ),
    }),
    status: 'Progressing',
    message: 'Stopping application 00fabc123 to delete it.',
  },
  {
    name: 'deletion requested, not yet seen by the operator',
    object: app({
      generation: 4,
      deletionTimestamp: '2026-01-01T00:00:00Z',
      status: statusFor(reconciled, 3),
    }),
    status: 'Progressing',
    message: 'Deletion requested; waiting for the operator.',
  },
];

describe('argocd/health.lua in gopher-lua (as Argo CD runs it)', () => {
  it('gives the expected health and message for every state', async () => {
    const results = await healthOf(cases.map((c) => c.object));
    const got = cases.map((c, i) => ({ name: c.name, ...results[i] }));
    const want = cases.map((c) => ({ name: c.name, status: c.status, message: c.message }));
    expect(got).toEqual(want);
  });

  it('gives every reason the operator can write the health of its phase, with or without Reconciling/Stalled', async () => {
    const health: Record<Phase, string> = {
      Ready: 'Healthy',
      Progressing: 'Progressing',
      Stalled: 'Degraded',
    };
    const reasons = Object.keys(CONDITION_REASONS) as ConditionReason[];
    const objects = reasons.flatMap((reason) => {
      const verdict = { phase: CONDITION_REASONS[reason], reason, message: `Because ${reason}.` } as Verdict;
      const conditions = conditionsFor(verdict, 2, undefined, NOW);
      return [
        app({ generation: 2, status: { observedGeneration: 2, conditions } }),
        // Ready alone, as a hand-written or foreign status may have it: the script's own table of
        // waiting reasons decides, so it must know every Progressing reason.
        app({
          generation: 2,
          status: { observedGeneration: 2, conditions: conditions.filter((c) => c.type === 'Ready') },
        }),
      ];
    });
    const results = await healthOf(objects);
    const got = reasons.flatMap((reason, i) => [
      { reason, ...results[2 * i] },
      { reason, readyOnly: true, ...results[2 * i + 1] },
    ]);
    const want = reasons.flatMap((reason) => {
      const suspended = (SUSPENDED_REASONS as readonly string[]).includes(reason);
      const expected = {
        status: suspended ? 'Suspended' : health[CONDITION_REASONS[reason]],
        message: `Because ${reason}.`,
      };
      return [
        { reason, ...expected },
        { reason, readyOnly: true, ...expected },
      ];
    });
    expect(got).toEqual(want);
  });

  it('handles conditions written by hand or by older operators', async () => {
    const condition = (c: Partial<Condition>) => ({
      lastTransitionTime: '2026-01-01T00:00:00Z',
      reason: 'Reconciled',
      message: '',
      ...c,
    });
    const results = await healthOf([
      // Ready=False with a waiting reason and no Reconciling condition.
      app({
        generation: 2,
        status: {
          observedGeneration: 2,
          conditions: [
            condition({
              type: 'Ready',
              status: 'False',
              observedGeneration: 2,
              reason: 'WaitingForState',
              message: 'Application 00fabc123 is STOPPING.',
            }),
          ],
        },
      }),
      // Ready=False for some other reason, nothing else: Degraded.
      app({
        generation: 2,
        status: {
          observedGeneration: 2,
          conditions: [
            condition({ type: 'Ready', status: 'False', observedGeneration: 2, reason: 'Broken' }),
          ],
        },
      }),
      // Ready=Unknown.
      app({
        generation: 2,
        status: {
          observedGeneration: 2,
          conditions: [
            condition({ type: 'Ready', status: 'Unknown', observedGeneration: 2, message: 'Checking.' }),
          ],
        },
      }),
      // Conditions without observedGeneration follow status.observedGeneration.
      app({
        generation: 2,
        status: {
          observedGeneration: 2,
          conditions: [condition({ type: 'Ready', status: 'True', message: 'Fine.' })],
        },
      }),
      // A Stalled condition whose status is False is ignored.
      app({
        generation: 2,
        status: {
          observedGeneration: 2,
          conditions: [
            condition({ type: 'Ready', status: 'True', observedGeneration: 2, message: 'Fine.' }),
            condition({ type: 'Stalled', status: 'False', observedGeneration: 2, reason: 'KeyDisabled' }),
          ],
        },
      }),
      // Large generations compare as numbers.
      app({ generation: 1_000_001, status: statusFor(reconciled, 1_000_000) }),
    ]);
    expect(results).toEqual([
      { status: 'Progressing', message: 'Application 00fabc123 is STOPPING.' },
      { status: 'Degraded', message: 'Broken' },
      { status: 'Progressing', message: 'Checking.' },
      { status: 'Healthy', message: 'Fine.' },
      { status: 'Healthy', message: 'Fine.' },
      { status: 'Progressing', message: 'Waiting for the operator to reconcile generation 1000001.' },
    ]);
  });

  it('the harness reports what Argo CD would: errors, and Unknown for an invalid status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'argocd-lua-'));
    try {
      const usesString = join(dir, 'string.lua');
      writeFileSync(usesString, 'return { status = string.upper("healthy") }\n');
      const invalid = join(dir, 'invalid.lua');
      writeFileSync(invalid, 'return { status = "Fine" }\n');
      const [s] = await healthOf([app({ generation: 1 })], usesString);
      expect(s?.error).toMatch(/string/);
      const [i] = await healthOf([app({ generation: 1 })], invalid);
      expect(i).toEqual({ status: 'Unknown', message: 'Lua returned an invalid health status' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stays within Lua 5.1 (no goto, no integer division, no bitwise operators)', () => {
    const code = readFileSync(healthLua, 'utf8')
      .split('\n')
      .map((line) => line.replace(/--.*$/, ''))
      .join('\n');
    expect(code).not.toMatch(/\bgoto\b|::\w+::|\/\/|&|\||~(?!=)|<<|>>/);
  });
});

/** An EmrServerlessJobRun with the status the job run planner writes for `observed`. */
function jobRunWith(observed: JobRunObserved, submitted = true): EmrServerlessJobRun {
  const resource: EmrServerlessJobRun = {
    apiVersion: API_VERSION,
    kind: JOB_RUN_KIND,
    metadata: { name: 'nightly', namespace: 'data', uid: 'u-1', generation: 1, finalizers: [FINALIZER] },
    spec: {
      applicationRef: { name: 'analytics' },
      executionRoleArn: 'arn:aws:iam::111122223333:role/emr-job',
      jobDriver: { sparkSubmit: { entryPoint: 's3://b/job.py' } },
    },
    ...(submitted && {
      status: { applicationId: '00fabc123', region: 'eu-west-1', jobRunId: '00frun', state: 'SUBMITTED' },
    }),
  };
  const { status } = planJobRun({
    resource,
    observed,
    options: { defaultRegion: 'eu-west-1', verifyKeys: true, resyncPeriodMs: 600_000 },
    now: NOW,
  });
  return { ...resource, status };
}

const runIn = (state: AwsJobRun['state'], stateDetails?: string): JobRunObserved => ({
  run: {
    applicationId: '00fabc123',
    jobRunId: '00frun',
    arn: 'arn',
    state,
    tags: {},
    ...(stateDetails && { stateDetails }),
  },
});

describe('argocd/health.lua for EmrServerlessJobRun', () => {
  it('follows the run: Progressing while it runs, Healthy on SUCCESS, Degraded on FAILED or CANCELLED, Suspended without its application', async () => {
    const results = await healthOf([
      jobRunWith(runIn('RUNNING')),
      jobRunWith(runIn('CANCELLING')),
      jobRunWith(runIn('SUCCESS')),
      jobRunWith(runIn('FAILED', 'Job failed, ExitCode: 1.')),
      jobRunWith(runIn('CANCELLED', 'Cancelled by user.')),
      jobRunWith({}, false),
    ]);
    expect(results).toEqual([
      { status: 'Progressing', message: 'Job run 00frun on application 00fabc123 is RUNNING.' },
      { status: 'Progressing', message: 'Job run 00frun on application 00fabc123 is CANCELLING.' },
      { status: 'Healthy', message: 'Job run 00frun on application 00fabc123 succeeded.' },
      {
        status: 'Degraded',
        message:
          'Job run 00frun on application 00fabc123 failed: Job failed, ExitCode: 1. A job run is submitted once per declaration: fix the job (a changed spec is a new run).',
      },
      {
        status: 'Degraded',
        message:
          'Job run 00frun on application 00fabc123 was cancelled: Cancelled by user. A job run is submitted once per declaration: recreate this resource with a new spec.rerunToken to run it again.',
      },
      {
        status: 'Suspended',
        message:
          'EmrServerlessApplication analytics does not exist in namespace data: the job run is submitted once it exists and is bound to an AWS application.',
      },
    ]);
  });
});

describe('argocd/application.yaml', () => {
  it('syncs with server-side apply and no ignoreDifferences (the operator never writes spec)', () => {
    const apps = parseAllDocuments(readFileSync(join(repo, 'argocd', 'application.yaml'), 'utf8')).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { annotations?: Record<string, string> };
          spec: {
            source: { path: string };
            syncPolicy: { syncOptions: string[] };
            ignoreDifferences?: unknown;
          };
        },
    );
    expect(apps.map((a) => a.kind)).toEqual(['Application', 'Application']);
    for (const app of apps) {
      expect(app.spec.syncPolicy.syncOptions).toContain('ServerSideApply=true');
      expect(app.spec.ignoreDifferences).toBeUndefined();
    }
    // The team's Application (EmrServerlessApplications) needs the compare option that
    // test/argocd-e2e showed server-side apply needs; the operator's own does not.
    const team = apps.find((a) => a.spec.source.path !== 'manifests');
    expect(team?.metadata.annotations?.['argocd.argoproj.io/compare-options']).toBe(
      'IncludeMutationWebhook=true',
    );
  });
});

describe('argocd/argocd-cm-patch.yaml', () => {
  it('carries argocd/health.lua byte for byte under the argocd-cm key for the kind', () => {
    const patch = parse(readFileSync(cmPatch, 'utf8')) as {
      kind: string;
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(patch.kind).toBe('ConfigMap');
    expect(patch.metadata).toMatchObject({ name: 'argocd-cm', namespace: 'argocd' });
    expect(Object.keys(patch.data)).toEqual(CM_KEYS);
    // On failure, regenerate the patch with the command in its header comment.
    for (const key of CM_KEYS) expect(patch.data[key]).toBe(readFileSync(healthLua, 'utf8'));
  });
});
