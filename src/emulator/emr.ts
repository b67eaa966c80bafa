// EMR Serverless: applications, their state machine, tags and job runs.
//
// State machine (each arrow through a transitional state takes `transitionMs`):
//   CreateApplication                     -> CREATING -> CREATED
//   StartApplication (CREATED/STOPPED)    -> STARTING -> STARTED
//   StopApplication (STARTED, no job run in a non-final state) -> STOPPING -> STOPPED
//   DeleteApplication (CREATED/STOPPED)   -> TERMINATED at once
//   StartJobRun on CREATED/STOPPED with autoStart -> STARTING -> STARTED
//   STARTED, autoStop on, no job run in a non-final state for idleTimeoutMinutes -> STOPPING -> STOPPED
// Job runs stay in their state until the control API moves them, except CancelJobRun
// (CANCELLING -> CANCELLED after `transitionMs`) and, when `jobRunStepMs` > 0 (the demo), the
// happy path SUBMITTED -> PENDING -> SCHEDULED -> RUNNING -> SUCCESS, one step per jobRunStepMs
// (a run waits in SCHEDULED until its application is STARTED).
//
// A job run keeps the configuration it was submitted with: its configurationOverrides are
// resolved at StartJobRun (the application's disk encryption filled in when the job sends none)
// and GetJobRun answers them, so changing the application's key later does not touch it.
import { createHash, randomBytes } from 'node:crypto';
import { notFoundError, validationError } from './errors.js';
import type { Principal } from './sts.js';
import type { Timers } from './timers.js';
import {
  APPLICATION_STATES,
  type ApplicationState,
  applicationId as applicationIdSchema,
  applicationStates,
  createApplicationRequest,
  JOB_RUN_STATES,
  type JobRunState,
  jobRunId as jobRunIdSchema,
  jobRunStates,
  maxResults as maxResultsSchema,
  nextToken as nextTokenSchema,
  parseInput,
  parseMember,
  RESOURCE_ARN,
  resourceArn as resourceArnSchema,
  startJobRunRequest,
  tagResourceRequest,
  UPDATABLE_FIELDS,
  untagKeys,
  updateApplicationRequest,
} from './validation.js';

/** Who is calling: the account of the signing credentials and the region of the SigV4 credential scope. */
export interface CallContext {
  account: string;
  region: string;
  /** The role session, when the credentials were issued by AssumeRole. */
  principal?: Principal;
}

export interface EmrOptions {
  accountId: string;
  transitionMs: number;
  idleMinuteMs: number;
  /** > 0: job runs move on by themselves, one state per this many ms, to SUCCESS. */
  jobRunStepMs?: number;
}

type Json = Record<string, unknown>;

interface AppRecord {
  id: string;
  arn: string;
  /** The account that created it: only calls signed in that account see it. */
  account: string;
  region: string;
  seq: number;
  state: ApplicationState;
  stateDetails?: string | undefined;
  createdAt: number;
  updatedAt: number;
  /** name, releaseLabel, type and every application field, as sent (input shapes). */
  fields: Json;
  tags: Record<string, string>;
  /** The app has reached STARTED at least once (image digests are resolved then). */
  everStarted: boolean;
  /** Control API: UpdateApplication is accepted (validated, answered) but changes nothing. */
  ignoreUpdates?: boolean;
  transition?: NodeJS.Timeout | undefined;
  idle?: NodeJS.Timeout | undefined;
}

interface JobRecord {
  id: string;
  appId: string;
  arn: string;
  region: string;
  seq: number;
  state: JobRunState;
  stateDetails: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
  releaseLabel: string;
  type: string;
  fields: Json;
  /** configurationOverrides as resolved at submission (what GetJobRun answers). */
  resolvedOverrides: Json | undefined;
  tags: Record<string, string>;
  transition?: NodeJS.Timeout | undefined;
}

/** The happy path a run follows on the jobRunStepMs timer. */
const NEXT_JOB_STATE: Partial<Record<JobRunState, JobRunState>> = {
  SUBMITTED: 'PENDING',
  PENDING: 'SCHEDULED',
  SCHEDULED: 'RUNNING',
  RUNNING: 'SUCCESS',
};

/** Resources one second of a run uses (the utilisation figures GetJobRun reports). */
const RUN_VCPU = 4;
const RUN_MEMORY_GB = 16;
const RUN_STORAGE_GB = 20;

export const NON_FINAL_JOB_STATES: ReadonlySet<JobRunState> = new Set<JobRunState>([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'RUNNING',
  'CANCELLING',
  'QUEUED',
]);

/** Fields UpdateApplication accepts while the application is STARTED. */
const STARTED_UPDATABLE = new Set([
  'maximumCapacity',
  'schedulerConfiguration',
  'imageConfiguration',
  'workerTypeSpecifications',
]);

const DEFAULT_IDLE_TIMEOUT_MINUTES = 15;
const DEFAULT_MAX_RESULTS = 50;

const seconds = (ms: number): number => ms / 1000;

/** A 16-character id like the service's (`00f` + 13 characters of [0-9a-z]). */
function newId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const bytes = randomBytes(13);
  let id = '00f';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

function isEmpty(v: unknown): boolean {
  return v !== null && typeof v === 'object' && Object.keys(v).length === 0;
}

/** Opaque, stable pagination: the token is the sort key of the last item answered. */
function encodeToken(key: number[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeToken(token: string): number[] {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 2 && key.every((n) => typeof n === 'number')) return key;
  } catch {
    // fall through
  }
  throw validationError(`Invalid nextToken: ${token}`);
}

function compareKeys(a: number[], b: number[]): number {
  return (a[0]! - b[0]!) * 1e12 + (a[1]! - b[1]!);
}

/** Sorts newest first, grouped by the order of the `states` filter when one is given, and pages. */
function page<T extends { seq: number; state: string }>(
  items: T[],
  states: readonly string[] | undefined,
  max: number,
  token: string | undefined,
): { items: T[]; nextToken?: string } {
  const keyOf = (it: T): number[] => [states ? states.indexOf(it.state) : 0, -it.seq];
  let sorted = items.map((it) => ({ it, key: keyOf(it) })).sort((a, b) => compareKeys(a.key, b.key));
  if (token) {
    const after = decodeToken(token);
    sorted = sorted.filter((s) => compareKeys(s.key, after) > 0);
  }
  const chunk = sorted.slice(0, max);
  const last = chunk[chunk.length - 1];
  return sorted.length > max && last
    ? { items: chunk.map((s) => s.it), nextToken: encodeToken(last.key) }
    : { items: chunk.map((s) => s.it) };
}

/**
 * The overrides a run starts with: as sent, and the application's disk encryption when the
 * job sends none (a job-level `{}` stays `{}`: the AWS-owned key for that job).
 */
function resolveOverrides(sent: Json | undefined, app: AppRecord): Json | undefined {
  const appDisk = app.fields.diskEncryptionConfiguration as Json | undefined;
  if (sent?.diskEncryptionConfiguration !== undefined || !appDisk || isEmpty(appDisk)) return sent;
  return { ...sent, diskEncryptionConfiguration: structuredClone(appDisk) };
}

/** Applications live in one account and one region. */
const visibleTo = (app: AppRecord, ctx: CallContext): boolean =>
  app.account === ctx.account && app.region === ctx.region;

function imageOut(input: unknown): Json | undefined {
  if (!input || typeof input !== 'object') return undefined;
  const img = input as Json;
  if (typeof img.imageUri !== 'string') return undefined;
  return { ...img };
}

export class EmrService {
  private apps = new Map<string, AppRecord>();
  private jobs = new Map<string, JobRecord>();
  /** `${account} ${region} ${clientToken}` -> application id (CreateApplication idempotency). */
  private appTokens = new Map<string, string>();
  /** `${applicationId} ${clientToken}` -> job run id (StartJobRun idempotency). */
  private jobTokens = new Map<string, string>();
  private seq = 0;
  /**
   * How long a new application or job run stays out of ListApplications / ListJobRuns (the
   * listing-lag control): AWS documents no consistency for its lists, reads by id are immediate.
   */
  private listingLagMs = 0;

  constructor(
    private readonly opts: EmrOptions,
    private readonly timers: Timers,
  ) {}

  reset(): void {
    this.apps.clear();
    this.jobs.clear();
    this.appTokens.clear();
    this.jobTokens.clear();
    this.listingLagMs = 0;
  }

  /** Leaves items created less than `ms` ago out of list answers (0: lists are immediate). */
  setListingLag(ms: number): void {
    this.listingLagMs = ms;
  }

  get listingLag(): number {
    return this.listingLagMs;
  }

  /** Whether a list answer shows an item created at `createdAt` yet (Get calls always do). */
  private listed(createdAt: number): boolean {
    return this.listingLagMs <= 0 || Date.now() - createdAt >= this.listingLagMs;
  }

  // ------------------------------------------------------------------ application API

  createApplication(ctx: CallContext, body: unknown): Json {
    const input = parseInput(createApplicationRequest, body);
    const tokenKey = input.clientToken ? `${ctx.account} ${ctx.region} ${input.clientToken}` : undefined;
    const known = tokenKey ? this.apps.get(this.appTokens.get(tokenKey) ?? '') : undefined;
    if (known) {
      // Same token: the same application, whatever the other parameters (their reuse with
      // different parameters is unknown; answering the first application is the safe guess).
      return { applicationId: known.id, name: known.fields.name, arn: known.arn };
    }
    const id = newId();
    const now = Date.now();
    const { clientToken: _token, tags, ...fields } = input;
    const app: AppRecord = {
      id,
      arn: `arn:aws:emr-serverless:${ctx.region}:${ctx.account}:/applications/${id}`,
      account: ctx.account,
      region: ctx.region,
      seq: ++this.seq,
      state: 'CREATING',
      createdAt: now,
      updatedAt: now,
      fields: fields as Json,
      tags: { ...(tags ?? {}) },
      everStarted: false,
    };
    this.apps.set(id, app);
    if (tokenKey) this.appTokens.set(tokenKey, id);
    this.transition(app, 'CREATING', 'CREATED');
    return { applicationId: id, name: app.fields.name, arn: app.arn };
  }

  getApplication(ctx: CallContext, id: string): Json {
    return { application: this.applicationOut(this.app(ctx, id)) };
  }

  updateApplication(ctx: CallContext, id: string, body: unknown): Json {
    this.checkApplicationId(id);
    const input = parseInput(updateApplicationRequest, body) as Json;
    const app = this.app(ctx, id);
    const present = UPDATABLE_FIELDS.filter((k) => input[k] !== undefined);
    if (!this.updateAllowed(app, present, input)) {
      throw validationError(
        `Application ${id} must be in one of the statuses to be updated: [STOPPED, CREATED]. Current status: ${app.state}`,
      );
    }
    if (app.ignoreUpdates) return { application: this.applicationOut(app) };
    for (const k of present) {
      const v = input[k];
      if (k === 'diskEncryptionConfiguration' && isEmpty(v)) {
        // `{}` returns the application to the AWS-owned key. What the real GetApplication shows
        // afterwards is unknown; the emulator omits the field.
        delete app.fields[k];
      } else if (k === 'imageConfiguration' && (v as Json).imageUri === undefined) {
        // A blank image URI removes the image configuration (API reference).
        delete app.fields[k];
      } else {
        app.fields[k] = v;
      }
    }
    app.updatedAt = Date.now();
    return { application: this.applicationOut(app) };
  }

  deleteApplication(ctx: CallContext, id: string): Json {
    const app = this.app(ctx, id);
    if (app.state === 'TERMINATED') return {};
    if (app.state !== 'CREATED' && app.state !== 'STOPPED') {
      throw validationError(
        `Application ${id} must be in one of the statuses to be deleted: [STOPPED, CREATED]. Current status: ${app.state}`,
      );
    }
    this.setState(app, 'TERMINATED');
    return {};
  }

  startApplication(ctx: CallContext, id: string): Json {
    const app = this.app(ctx, id);
    if (app.state === 'STARTED' || app.state === 'STARTING') return {};
    if (app.state !== 'CREATED' && app.state !== 'STOPPED') {
      throw validationError(
        `Application ${id} must be in one of the statuses to be started: [STOPPED, CREATED]. Current status: ${app.state}`,
      );
    }
    this.transition(app, 'STARTING', 'STARTED');
    return {};
  }

  stopApplication(ctx: CallContext, id: string): Json {
    const app = this.app(ctx, id);
    if (app.state === 'STOPPED' || app.state === 'STOPPING' || app.state === 'CREATED') return {};
    if (app.state !== 'STARTED') {
      throw validationError(
        `Application ${id} must be in one of the statuses to be stopped: [STARTED]. Current status: ${app.state}`,
      );
    }
    const active = this.activeJobs(app.id);
    if (active.length > 0) {
      throw validationError(
        `Application ${id} cannot be stopped while it has ${active.length} job run(s) in a non-final state. ` +
          'All scheduled and running jobs must be completed or cancelled before stopping an application.',
      );
    }
    this.transition(app, 'STOPPING', 'STOPPED');
    return {};
  }

  listApplications(ctx: CallContext, query: URLSearchParams): Json {
    const states = query.getAll('states');
    const filter =
      states.length > 0 ? (parseMember(applicationStates, 'states', states) as string[]) : undefined;
    const max = this.maxResults(query);
    const token = this.nextToken(query);
    const candidates = [...this.apps.values()].filter(
      (a) => visibleTo(a, ctx) && (!filter || filter.includes(a.state)) && this.listed(a.createdAt),
    );
    const { items, nextToken } = page(candidates, filter, max, token);
    return {
      applications: items.map((a) => ({
        id: a.id,
        name: a.fields.name,
        arn: a.arn,
        releaseLabel: a.fields.releaseLabel,
        type: a.fields.type,
        state: a.state,
        stateDetails: a.stateDetails,
        createdAt: seconds(a.createdAt),
        updatedAt: seconds(a.updatedAt),
        architecture: a.fields.architecture ?? 'X86_64',
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  // ------------------------------------------------------------------ tags

  tagResource(ctx: CallContext, arn: string, body: unknown): Json {
    const target = this.taggable(ctx, arn);
    const { tags } = parseInput(tagResourceRequest, body);
    const merged = { ...target.tags, ...tags };
    if (Object.keys(merged).length > 200) {
      throw validationError(`Resource ${arn} would have more than 200 tags`);
    }
    target.tags = merged;
    return {};
  }

  untagResource(ctx: CallContext, arn: string, query: URLSearchParams): Json {
    const target = this.taggable(ctx, arn);
    const keys = parseMember(untagKeys, 'tagKeys', query.getAll('tagKeys')) as string[];
    for (const k of keys) delete target.tags[k];
    return {};
  }

  listTagsForResource(ctx: CallContext, arn: string): Json {
    return { tags: { ...this.taggable(ctx, arn).tags } };
  }

  /** The application id named by a resource ARN (for the calls log), if any. */
  static applicationIdOfArn(arn: string): string | undefined {
    return /:\/applications\/([0-9a-zA-Z]+)/.exec(arn)?.[1];
  }

  // ------------------------------------------------------------------ job runs

  startJobRun(ctx: CallContext, appId: string, body: unknown): Json {
    this.checkApplicationId(appId);
    const input = parseInput(startJobRunRequest, body);
    const app = this.app(ctx, appId);
    const tokenKey = input.clientToken ? `${appId} ${input.clientToken}` : undefined;
    const known = tokenKey ? this.jobs.get(this.jobTokens.get(tokenKey) ?? '') : undefined;
    if (known) return { applicationId: appId, jobRunId: known.id, arn: known.arn };

    if (app.state === 'CREATED' || app.state === 'STOPPED') {
      const autoStart = (app.fields.autoStartConfiguration as Json | undefined)?.enabled ?? true;
      if (!autoStart) {
        throw validationError(
          `Application ${appId} must be started before job runs can be submitted: autoStart is disabled. Current status: ${app.state}`,
        );
      }
      this.transition(app, 'STARTING', 'STARTED');
    } else if (app.state !== 'STARTED' && app.state !== 'STARTING') {
      throw validationError(`Application ${appId} cannot accept job runs. Current status: ${app.state}`);
    }
    const { clientToken: _token, tags, ...fields } = input;
    const job = this.newJob(app, 'SUBMITTED', fields as Json, tags ?? {});
    if (tokenKey) this.jobTokens.set(tokenKey, job.id);
    this.armJobStep(job);
    return { applicationId: appId, jobRunId: job.id, arn: job.arn };
  }

  getJobRun(ctx: CallContext, appId: string, jobRunId: string): Json {
    this.checkJobRunId(jobRunId);
    const job = this.job(ctx, appId, jobRunId);
    const f = job.fields;
    return {
      jobRun: {
        applicationId: job.appId,
        jobRunId: job.id,
        name: f.name,
        arn: job.arn,
        createdBy: this.createdBy(),
        createdAt: seconds(job.createdAt),
        updatedAt: seconds(job.updatedAt),
        executionRole: f.executionRoleArn,
        executionIamPolicy: f.executionIamPolicy,
        state: job.state,
        stateDetails: job.stateDetails,
        releaseLabel: job.releaseLabel,
        configurationOverrides: job.resolvedOverrides,
        jobDriver: f.jobDriver,
        tags: { ...job.tags },
        networkConfiguration: this.apps.get(job.appId)?.fields.networkConfiguration,
        executionTimeoutMinutes: f.executionTimeoutMinutes ?? 720,
        mode: f.mode ?? 'BATCH',
        retryPolicy: f.retryPolicy,
        attempt: 1,
        attemptCreatedAt: seconds(job.createdAt),
        attemptUpdatedAt: seconds(job.updatedAt),
        startedAt: job.startedAt === undefined ? undefined : seconds(job.startedAt),
        endedAt: job.endedAt === undefined ? undefined : seconds(job.endedAt),
        ...this.utilization(job),
      },
    };
  }

  listJobRuns(ctx: CallContext, appId: string, query: URLSearchParams): Json {
    this.checkApplicationId(appId);
    const states = query.getAll('states');
    const filter = states.length > 0 ? (parseMember(jobRunStates, 'states', states) as string[]) : undefined;
    const max = this.maxResults(query);
    const token = this.nextToken(query);
    const after = this.dateParam(query, 'createdAtAfter');
    const before = this.dateParam(query, 'createdAtBefore');
    const mode = query.get('mode');
    if (mode !== null && mode !== 'BATCH' && mode !== 'STREAMING') {
      throw validationError(
        `1 validation error detected: Value '${mode}' at 'mode' failed to satisfy constraint: Member must satisfy enum value set: [BATCH, STREAMING]`,
      );
    }
    // ListJobRuns models no ResourceNotFoundException: an unknown application lists nothing.
    const candidates = [...this.jobs.values()].filter(
      (j) =>
        j.appId === appId &&
        j.region === ctx.region &&
        (!filter || filter.includes(j.state)) &&
        (after === undefined || j.createdAt >= after) &&
        (before === undefined || j.createdAt <= before) &&
        (mode === null || (j.fields.mode ?? 'BATCH') === mode) &&
        this.listed(j.createdAt),
    );
    const { items, nextToken } = page(candidates, filter, max, token);
    return {
      jobRuns: items.map((j) => ({
        applicationId: j.appId,
        id: j.id,
        name: j.fields.name,
        mode: j.fields.mode ?? 'BATCH',
        arn: j.arn,
        createdBy: this.createdBy(),
        createdAt: seconds(j.createdAt),
        updatedAt: seconds(j.updatedAt),
        executionRole: j.fields.executionRoleArn,
        state: j.state,
        stateDetails: j.stateDetails,
        releaseLabel: j.releaseLabel,
        type: j.type,
        attempt: 1,
        attemptCreatedAt: seconds(j.createdAt),
        attemptUpdatedAt: seconds(j.updatedAt),
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  cancelJobRun(ctx: CallContext, appId: string, jobRunId: string): Json {
    this.checkJobRunId(jobRunId);
    const job = this.job(ctx, appId, jobRunId);
    if (job.state === 'CANCELLING' || job.state === 'CANCELLED') return { applicationId: appId, jobRunId };
    if (!NON_FINAL_JOB_STATES.has(job.state)) {
      throw validationError(`Job run ${jobRunId} is already in a final state: ${job.state}`);
    }
    this.timers.cancel(job.transition);
    this.setJobState(job, 'CANCELLING');
    job.transition = this.timers.after(this.opts.transitionMs, () => {
      job.transition = undefined;
      this.setJobState(job, 'CANCELLED');
    });
    return { applicationId: appId, jobRunId };
  }

  // ------------------------------------------------------------------ control API (no API rules)

  /** Changes an application out of band. `null` removes a field; `state` moves it at once. */
  patchApplication(id: string, patch: Json): Json {
    const app = this.apps.get(id);
    if (!app) throw notFoundError(`Application ${id} does not exist`);
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'state') {
        if (!APPLICATION_STATES.includes(v as ApplicationState)) {
          throw validationError(`state must be one of ${APPLICATION_STATES.join(', ')}`);
        }
      } else if (k === 'ignoreUpdates') {
        app.ignoreUpdates = v === true;
      } else if (k === 'stateDetails') {
        app.stateDetails = v === null ? undefined : String(v);
      } else if (k === 'tags') {
        app.tags = v === null ? {} : { ...(v as Record<string, string>) };
      } else if (k === 'applicationId' || k === 'arn' || k === 'createdAt' || k === 'updatedAt') {
        // identity and clock are the emulator's
      } else if (v === null) {
        delete app.fields[k];
      } else {
        app.fields[k] = v;
      }
    }
    if (typeof patch.state === 'string') {
      this.timers.cancel(app.transition);
      app.transition = undefined;
      this.setState(app, patch.state as ApplicationState);
    } else {
      // As TagResource, a change of tags alone is not an update of the application; neither is
      // the emulator's own ignoreUpdates switch.
      if (Object.keys(patch).some((k) => k !== 'tags' && k !== 'ignoreUpdates')) app.updatedAt = Date.now();
      this.armIdle(app);
    }
    return { application: this.applicationOut(app) };
  }

  /** Makes a job run exist in the given state (default RUNNING), without autoStart. */
  createJobRun(appId: string, state: unknown, extra: Json = {}): Json {
    const app = this.apps.get(appId);
    if (!app) throw notFoundError(`Application ${appId} does not exist`);
    const s = this.jobState(state ?? 'RUNNING');
    const job = this.newJob(
      app,
      s,
      {
        executionRoleArn: `arn:aws:iam::${this.opts.accountId}:role/emulator-job-role`,
        jobDriver: { sparkSubmit: { entryPoint: 's3://emulator/job.py' } },
        ...extra,
      },
      {},
    );
    return { applicationId: appId, jobRunId: job.id, arn: job.arn, state: job.state };
  }

  /** Moves a job run to `state` at once (its timer, if any, stops), with AWS-style `stateDetails`. */
  setJobRunState(appId: string, jobRunId: string, state: unknown, stateDetails?: unknown): Json {
    const job = this.jobs.get(jobRunId);
    if (!job || job.appId !== appId) throw notFoundError(`Job run ${jobRunId} does not exist`);
    this.timers.cancel(job.transition);
    job.transition = undefined;
    this.setJobState(job, this.jobState(state));
    if (stateDetails !== undefined) job.stateDetails = stateDetails === null ? '' : String(stateDetails);
    return { applicationId: appId, jobRunId, state: job.state };
  }

  /**
   * A job run as GetJobRun answers it, plus `submitted`: the StartJobRun request as it was sent
   * (without clientToken), to tell what the caller sent from what the service resolved.
   */
  describeJobRunForControl(appId: string, jobRunId: string): Json {
    const job = this.jobs.get(jobRunId);
    if (!job || job.appId !== appId) throw notFoundError(`Job run ${jobRunId} does not exist`);
    const answer = this.getJobRun({ account: this.opts.accountId, region: job.region }, appId, jobRunId);
    return { ...answer, submitted: { ...structuredClone(job.fields), tags: { ...job.tags } } };
  }

  /** The application as GetApplication answers it, looked up in any region (control API). */
  describeForControl(id: string): Json | undefined {
    const app = this.apps.get(id);
    return app ? this.applicationOut(app) : undefined;
  }

  // ------------------------------------------------------------------ internals

  private app(ctx: CallContext, id: string): AppRecord {
    this.checkApplicationId(id);
    const app = this.apps.get(id);
    // Another account's application is not found, exactly as one that does not exist.
    if (!app || !visibleTo(app, ctx)) throw notFoundError(`Application ${id} does not exist`);
    return app;
  }

  private job(ctx: CallContext, appId: string, jobRunId: string): JobRecord {
    this.app(ctx, appId);
    const job = this.jobs.get(jobRunId);
    if (!job || job.appId !== appId) {
      throw notFoundError(`Job run ${jobRunId} does not exist for application ${appId}`);
    }
    return job;
  }

  private checkApplicationId(id: string): void {
    parseMember(applicationIdSchema, 'applicationId', id);
  }

  private checkJobRunId(id: string): void {
    parseMember(jobRunIdSchema, 'jobRunId', id);
  }

  private maxResults(query: URLSearchParams): number {
    const raw = query.get('maxResults');
    if (raw === null) return DEFAULT_MAX_RESULTS;
    const n = Number(raw);
    return parseMember(maxResultsSchema, 'maxResults', Number.isFinite(n) ? n : raw) as number;
  }

  private nextToken(query: URLSearchParams): string | undefined {
    const raw = query.get('nextToken');
    return raw === null ? undefined : (parseMember(nextTokenSchema, 'nextToken', raw) as string);
  }

  private dateParam(query: URLSearchParams, name: string): number | undefined {
    const raw = query.get(name);
    if (raw === null) return undefined;
    const t = Date.parse(raw);
    if (Number.isNaN(t)) throw validationError(`Invalid timestamp for '${name}': ${raw}`);
    return t;
  }

  private jobState(state: unknown): JobRunState {
    if (!JOB_RUN_STATES.includes(state as JobRunState)) {
      throw validationError(`state must be one of ${JOB_RUN_STATES.join(', ')}`);
    }
    return state as JobRunState;
  }

  private taggable(ctx: CallContext, arn: string): { tags: Record<string, string> } {
    parseMember(resourceArnSchema, 'resourceArn', arn);
    const m = RESOURCE_ARN.exec(arn);
    const appId = EmrService.applicationIdOfArn(arn) ?? '';
    const jobId = m?.[3]?.slice('/jobruns/'.length);
    const app = this.apps.get(appId);
    if (!app || app.arn !== arn.replace(/\/jobruns\/.*$/, '') || !visibleTo(app, ctx)) {
      throw notFoundError(`Application ${appId} does not exist`);
    }
    if (jobId === undefined) return app;
    const job = this.jobs.get(jobId);
    if (!job || job.appId !== appId)
      throw notFoundError(`Job run ${jobId} does not exist for application ${appId}`);
    return job;
  }

  private updateAllowed(app: AppRecord, present: string[], input: Json): boolean {
    if (app.state === 'CREATED' || app.state === 'STOPPED') return true;
    if (app.state !== 'STARTED') return false;
    return present.every((k) => {
      if (!STARTED_UPDATABLE.has(k)) return false;
      if (k === 'schedulerConfiguration') {
        // Only maxConcurrentRuns may change while STARTED.
        const sent = input[k] as Json;
        const stored = (app.fields[k] as Json | undefined) ?? {};
        return (
          sent.queueTimeoutMinutes === undefined || sent.queueTimeoutMinutes === stored.queueTimeoutMinutes
        );
      }
      return true;
    });
  }

  private activeJobs(appId: string): JobRecord[] {
    return [...this.jobs.values()].filter((j) => j.appId === appId && NON_FINAL_JOB_STATES.has(j.state));
  }

  private newJob(app: AppRecord, state: JobRunState, fields: Json, tags: Record<string, string>): JobRecord {
    const id = newId();
    const now = Date.now();
    const job: JobRecord = {
      id,
      appId: app.id,
      arn: `${app.arn}/jobruns/${id}`,
      region: app.region,
      seq: ++this.seq,
      state,
      stateDetails: '',
      createdAt: now,
      updatedAt: now,
      startedAt: state === 'RUNNING' ? now : undefined,
      endedAt: NON_FINAL_JOB_STATES.has(state) ? undefined : now,
      releaseLabel: String(app.fields.releaseLabel),
      type: String(app.fields.type),
      fields,
      resolvedOverrides: resolveOverrides(fields.configurationOverrides as Json | undefined, app),
      tags: { ...tags },
    };
    this.jobs.set(id, job);
    this.armIdle(app);
    return job;
  }

  /** On the jobRunStepMs timer, moves the run one step along the happy path. */
  private armJobStep(job: JobRecord): void {
    const step = this.opts.jobRunStepMs ?? 0;
    const next = NEXT_JOB_STATE[job.state];
    if (step <= 0 || !next) return;
    job.transition = this.timers.after(step, () => {
      job.transition = undefined;
      const app = this.apps.get(job.appId);
      // Workers only run on a STARTED application: a scheduled run waits for it.
      if (next !== 'RUNNING' || app?.state === 'STARTED') this.setJobState(job, next);
      this.armJobStep(job);
    });
  }

  /** Duration and utilisation, once a run has started (figures grow with its run time). */
  private utilization(job: JobRecord): Json {
    if (job.startedAt === undefined) return {};
    const seconds = Math.max(1, Math.round(((job.endedAt ?? Date.now()) - job.startedAt) / 1000));
    const hours = seconds / 3600;
    const round = (n: number) => Math.round(n * 1000) / 1000;
    const usage = (h: number) => ({
      vCPUHour: round(RUN_VCPU * h),
      memoryGBHour: round(RUN_MEMORY_GB * h),
      storageGBHour: round(RUN_STORAGE_GB * h),
    });
    return {
      ...(job.endedAt !== undefined ? { totalExecutionDurationSeconds: seconds } : {}),
      totalResourceUtilization: usage(hours),
      // Billed with a one-minute minimum, as EMR Serverless bills workers.
      billedResourceUtilization: usage(Math.max(hours, 1 / 60)),
    };
  }

  private setJobState(job: JobRecord, state: JobRunState): void {
    const now = Date.now();
    job.state = state;
    job.updatedAt = now;
    if (state === 'RUNNING' && job.startedAt === undefined) job.startedAt = now;
    if (!NON_FINAL_JOB_STATES.has(state)) job.endedAt ??= now;
    else job.endedAt = undefined;
    const app = this.apps.get(job.appId);
    if (app) this.armIdle(app);
  }

  private createdBy(): string {
    return `arn:aws:sts::${this.opts.accountId}:assumed-role/emulator/emulator`;
  }

  /** Moves to `via` now and to `to` after transitionMs. */
  private transition(app: AppRecord, via: ApplicationState, to: ApplicationState): void {
    this.timers.cancel(app.transition);
    this.setState(app, via);
    app.transition = this.timers.after(this.opts.transitionMs, () => {
      app.transition = undefined;
      this.setState(app, to);
    });
  }

  private setState(app: AppRecord, state: ApplicationState): void {
    app.state = state;
    app.updatedAt = Date.now();
    if (state === 'STARTED') app.everStarted = true;
    this.armIdle(app);
  }

  /** (Re)arms the autoStop timer: only a STARTED app with autoStop on and no active job runs. */
  private armIdle(app: AppRecord): void {
    this.timers.cancel(app.idle);
    app.idle = undefined;
    if (app.state !== 'STARTED') return;
    const cfg = (app.fields.autoStopConfiguration as Json | undefined) ?? {};
    if (cfg.enabled === false) return;
    if (this.activeJobs(app.id).length > 0) return;
    const minutes =
      typeof cfg.idleTimeoutMinutes === 'number' ? cfg.idleTimeoutMinutes : DEFAULT_IDLE_TIMEOUT_MINUTES;
    app.idle = this.timers.after(minutes * this.opts.idleMinuteMs, () => {
      app.idle = undefined;
      if (app.state === 'STARTED' && this.activeJobs(app.id).length === 0) {
        this.transition(app, 'STOPPING', 'STOPPED');
      }
    });
  }

  private resolvedImage(input: unknown, started: boolean): Json | undefined {
    const img = imageOut(input);
    if (!img) return undefined;
    const { applicationLevelDigestResolution, ...rest } = img;
    const out: Json = { ...rest };
    if (started) {
      out.resolvedImageDigest = `sha256:${createHash('sha256').update(String(img.imageUri)).digest('hex')}`;
    }
    if (applicationLevelDigestResolution !== undefined)
      out.applicationLevelDigestResolution = applicationLevelDigestResolution;
    return out;
  }

  private applicationOut(app: AppRecord): Json {
    const f = app.fields;
    const autoStart = (f.autoStartConfiguration as Json | undefined) ?? {};
    const autoStop = (f.autoStopConfiguration as Json | undefined) ?? {};
    const autoStopEnabled = autoStop.enabled ?? true;
    const workers = f.workerTypeSpecifications as Record<string, Json> | undefined;
    const identity = f.identityCenterConfiguration as Json | undefined;
    return {
      applicationId: app.id,
      name: f.name,
      arn: app.arn,
      releaseLabel: f.releaseLabel,
      type: f.type,
      state: app.state,
      stateDetails: app.stateDetails,
      initialCapacity: f.initialCapacity,
      maximumCapacity: f.maximumCapacity,
      createdAt: seconds(app.createdAt),
      updatedAt: seconds(app.updatedAt),
      tags: { ...app.tags },
      autoStartConfiguration: { enabled: autoStart.enabled ?? true },
      autoStopConfiguration:
        autoStopEnabled || autoStop.idleTimeoutMinutes !== undefined
          ? {
              enabled: autoStopEnabled,
              idleTimeoutMinutes: autoStop.idleTimeoutMinutes ?? DEFAULT_IDLE_TIMEOUT_MINUTES,
            }
          : { enabled: false },
      networkConfiguration: f.networkConfiguration,
      architecture: f.architecture ?? 'X86_64',
      imageConfiguration: this.resolvedImage(f.imageConfiguration, app.everStarted),
      workerTypeSpecifications: workers
        ? Object.fromEntries(
            Object.entries(workers).map(([k, w]) => {
              const img = this.resolvedImage(w?.imageConfiguration, app.everStarted);
              return [k, img ? { imageConfiguration: img } : {}];
            }),
          )
        : undefined,
      runtimeConfiguration: f.runtimeConfiguration,
      monitoringConfiguration: f.monitoringConfiguration,
      diskEncryptionConfiguration: f.diskEncryptionConfiguration,
      interactiveConfiguration: f.interactiveConfiguration,
      schedulerConfiguration: f.schedulerConfiguration,
      identityCenterConfiguration: identity
        ? {
            ...identity,
            identityCenterApplicationArn: `arn:aws:sso::${this.opts.accountId}:application/ssoins-emulator/apl-${app.id}`,
          }
        : undefined,
      jobLevelCostAllocationConfiguration: f.jobLevelCostAllocationConfiguration,
    };
  }
}
