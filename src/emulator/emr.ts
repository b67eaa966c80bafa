// EMR Serverless: applications, their state machine, tags, job runs and sessions.
//
// State machine (each arrow through a transitional state takes `transitionMs`):
//   CreateApplication                     -> CREATING -> CREATED
//   StartApplication (CREATED/STOPPED)    -> STARTING -> STARTED
//   StopApplication (STARTED, no job run in a non-final state) -> STOPPING -> STOPPED
//   DeleteApplication (CREATED/STOPPED)   -> TERMINATED at once
//   StartJobRun on CREATED/STOPPED with autoStart -> STARTING -> STARTED
//   STARTED, autoStop on, no job run in a non-final state for idleTimeoutMinutes -> STOPPING -> STOPPED
//   StartSession (EMR 7.13+, sessionEnabled; autoStart as StartJobRun) -> SUBMITTED -> STARTING
//     -> STARTED (once the app is STARTED) -> IDLE; IDLE for idleTimeoutMinutes, or
//     TerminateSession -> TERMINATING -> TERMINATED. An active session, like an active job run,
//     keeps the app from autoStop, StopApplication and DeleteApplication.
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
  attemptNumber as attemptNumberSchema,
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
  resourceId as resourceIdSchema,
  resourceType as resourceTypeSchema,
  SESSION_STATES,
  type SessionState,
  sessionId as sessionIdSchema,
  sessionStates,
  startJobRunRequest,
  startSessionRequest,
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
  /** AWS's reason, when there is one (the model's minimum length is 1: no reason, no member). */
  stateDetails?: string | undefined;
  createdAt: number;
  updatedAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
  releaseLabel: string;
  type: string;
  fields: Json;
  /** configurationOverrides as resolved at submission (what GetJobRun answers). */
  resolvedOverrides: Json | undefined;
  /** The application's images as resolved at submission (digests included). */
  imageConfiguration: Json | undefined;
  workerTypeSpecifications: Record<string, Json> | undefined;
  /** Time spent in QUEUED before now, and since when it is queued (while it is). */
  queuedMs: number;
  queuedSince?: number | undefined;
  /** CancelJobRun's shutdownGracePeriodInSeconds, as asked (a local run ends at once). */
  shutdownGracePeriodInSeconds?: number | undefined;
  tags: Record<string, string>;
  transition?: NodeJS.Timeout | undefined;
}

interface SessionRecord {
  id: string;
  appId: string;
  arn: string;
  region: string;
  seq: number;
  state: SessionState;
  stateDetails?: string | undefined;
  createdAt: number;
  updatedAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
  idleSince?: number | undefined;
  releaseLabel: string;
  /** executionRoleArn, name, configurationOverrides and idleTimeoutMinutes as sent. */
  fields: Json;
  idleTimeoutMinutes: number;
  tags: Record<string, string>;
  transition?: NodeJS.Timeout | undefined;
  idle?: NodeJS.Timeout | undefined;
}

/** A session is work in progress until it failed or was terminated. */
const FINAL_SESSION_STATES: ReadonlySet<SessionState> = new Set<SessionState>(['FAILED', 'TERMINATED']);
/** The states in which a session has a driver to connect to (GetSessionEndpoint). */
const READY_SESSION_STATES: ReadonlySet<SessionState> = new Set<SessionState>(['STARTED', 'IDLE', 'BUSY']);
/** How a session comes up on its own, one step per transitionMs (STARTED waits for a STARTED application). */
const NEXT_SESSION_STATE: Partial<Record<SessionState, SessionState>> = {
  SUBMITTED: 'STARTING',
  STARTING: 'STARTED',
  STARTED: 'IDLE',
};
/** The first EMR release with the Sessions API. */
const SESSIONS_SINCE: readonly number[] = [7, 13, 0];
/** The idle timeout of a session that names none (an assumption: AWS documents no default). */
export const DEFAULT_SESSION_IDLE_TIMEOUT_MINUTES = 60;
/** How long a session endpoint's token and a dashboard URL are valid. */
const URL_LIFETIME_MS = 60 * 60 * 1000;

/** `emr-7.13.0` -> [7, 13, 0]; undefined for a label of another form. */
function releaseVersion(label: string): number[] | undefined {
  const m = /^emr-(\d+)\.(\d+)\.(\d+)/.exec(label);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(version: readonly number[], floor: readonly number[]): boolean {
  for (let i = 0; i < floor.length; i++) {
    const a = version[i] ?? 0;
    const b = floor[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
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

const EMPTY_QUERY = new URLSearchParams();

/** Flex capacity, off unless the run asked for it (the API reference's default). */
function flexExecutionOut(fields: Json): Json {
  const sent = fields.flexExecution as Json | undefined;
  return { enabled: sent?.enabled === true };
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

/** The workers' use of a run's customer-managed key, as KMS is asked for it when the run starts. */
export interface WorkersKeyUse {
  keyArn: string;
  applicationArn: string;
  account: string;
  region: string;
  /** The run's encryption context, with the `applicationId` EMR Serverless adds. */
  encryptionContext: Record<string, string>;
}

export class EmrService {
  /**
   * Set by the server: asks KMS for the workers' use of the run's key when a run starts; answers
   * AWS's reason when it is refused (the run then fails), undefined when it may go on.
   */
  workersKeyCheck?: (use: WorkersKeyUse) => string | undefined;
  private apps = new Map<string, AppRecord>();
  private jobs = new Map<string, JobRecord>();
  /** `${account} ${region} ${clientToken}` -> application id (CreateApplication idempotency). */
  private appTokens = new Map<string, string>();
  /** `${applicationId} ${clientToken}` -> job run id (StartJobRun idempotency). */
  private jobTokens = new Map<string, string>();
  private sessions = new Map<string, SessionRecord>();
  /** `${applicationId} ${clientToken}` -> session id (StartSession idempotency). */
  private sessionTokens = new Map<string, string>();
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
    this.sessions.clear();
    this.sessionTokens.clear();
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
    this.refuseWhileSessions(app, 'deleted');
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
    this.refuseWhileSessions(app, 'stopped');
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
  /** The tags of the application, job run or session an ARN names, if the caller can see it (for IAM). */
  tagsOfArn(ctx: CallContext, arn: string): Record<string, string> | undefined {
    try {
      return { ...this.taggable(ctx, arn).tags };
    } catch {
      return undefined;
    }
  }

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

    this.admitWork(app, 'job runs');
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
        stateDetails: job.stateDetails || undefined,
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
        queuedDurationMilliseconds:
          job.queuedMs + (job.queuedSince === undefined ? 0 : Date.now() - job.queuedSince),
        imageConfiguration: job.imageConfiguration,
        workerTypeSpecifications: job.workerTypeSpecifications,
        flexExecution: flexExecutionOut(f),
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
        ...this.runSummary(j),
        attemptCreatedAt: seconds(j.createdAt),
        attemptUpdatedAt: seconds(j.updatedAt),
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  cancelJobRun(
    ctx: CallContext,
    appId: string,
    jobRunId: string,
    query: URLSearchParams = EMPTY_QUERY,
  ): Json {
    this.checkJobRunId(jobRunId);
    const grace = this.integerParam(query, 'shutdownGracePeriodInSeconds');
    const job = this.job(ctx, appId, jobRunId);
    if (job.state === 'CANCELLING' || job.state === 'CANCELLED') return { applicationId: appId, jobRunId };
    if (!NON_FINAL_JOB_STATES.has(job.state)) {
      throw validationError(`Job run ${jobRunId} is already in a final state: ${job.state}`);
    }
    this.timers.cancel(job.transition);
    // The grace period is how long the service waits for the job to stop before it kills it; a
    // run in the local service stops at once, so it only is kept (the control API shows it).
    job.shutdownGracePeriodInSeconds = grace;
    this.setJobState(job, 'CANCELLING');
    job.transition = this.timers.after(this.opts.transitionMs, () => {
      job.transition = undefined;
      this.setJobState(job, 'CANCELLED');
    });
    return { applicationId: appId, jobRunId };
  }

  /** The members a JobRunSummary and a JobRunAttemptSummary share (a local run has one attempt). */
  private runSummary(j: JobRecord): Json {
    return {
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
      stateDetails: j.stateDetails || undefined,
      releaseLabel: j.releaseLabel,
      type: j.type,
      attempt: 1,
      flexExecution: flexExecutionOut(j.fields),
    };
  }

  listJobRunAttempts(ctx: CallContext, appId: string, jobRunId: string, query: URLSearchParams): Json {
    this.checkJobRunId(jobRunId);
    const job = this.job(ctx, appId, jobRunId);
    const max = this.maxResults(query);
    const token = this.nextToken(query);
    // A run of the local service has one attempt: the run itself.
    const { items, nextToken } = page([job], undefined, max, token);
    return {
      jobRunAttempts: items.map((j) => ({ ...this.runSummary(j), jobCreatedAt: seconds(j.createdAt) })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  getDashboardForJobRun(ctx: CallContext, appId: string, jobRunId: string, query: URLSearchParams): Json {
    this.checkJobRunId(jobRunId);
    const raw = query.get('attempt');
    const attempt =
      raw === null
        ? undefined
        : (parseMember(
            attemptNumberSchema,
            'attempt',
            Number.isFinite(Number(raw)) ? Number(raw) : raw,
          ) as number);
    const job = this.job(ctx, appId, jobRunId);
    if (attempt !== undefined && attempt > 1) {
      throw validationError(
        `Attempt ${attempt} does not exist for job run ${jobRunId}: the run has 1 attempt`,
      );
    }
    // The live UI while the run runs, the persistent history server once it has ended.
    const ui = NON_FINAL_JOB_STATES.has(job.state) ? 'sparkui' : 'shs';
    return { url: this.dashboardUrl(job.region, appId, jobRunId, ui) };
  }

  // ------------------------------------------------------------------ sessions

  startSession(ctx: CallContext, appId: string, body: unknown): Json {
    this.checkApplicationId(appId);
    const input = parseInput(startSessionRequest, body);
    const app = this.app(ctx, appId);
    const tokenKey = input.clientToken ? `${appId} ${input.clientToken}` : undefined;
    const known = tokenKey ? this.sessions.get(this.sessionTokens.get(tokenKey) ?? '') : undefined;
    if (known) return { applicationId: appId, sessionId: known.id, arn: known.arn };

    const release = String(app.fields.releaseLabel);
    const version = releaseVersion(release);
    if (!version || !atLeast(version, SESSIONS_SINCE)) {
      throw validationError(
        `Sessions are supported for EMR release ${SESSIONS_SINCE.join('.')} and later. Application ${appId} uses ${release}`,
      );
    }
    if (String(app.fields.type).toUpperCase() !== 'SPARK') {
      throw validationError(
        `Sessions are supported on Spark applications only. Application ${appId} is ${String(app.fields.type)}`,
      );
    }
    const interactive = (app.fields.interactiveConfiguration as Json | undefined) ?? {};
    if (interactive.sessionEnabled !== true) {
      throw validationError(
        `Interactive sessions are not enabled for application ${appId}: set interactiveConfiguration.sessionEnabled to true`,
      );
    }
    this.admitWork(app, 'sessions');
    const id = newId();
    const now = Date.now();
    const { clientToken: _token, tags, ...fields } = input;
    const session: SessionRecord = {
      id,
      appId,
      arn: `${app.arn}/sessions/${id}`,
      region: app.region,
      seq: ++this.seq,
      state: 'SUBMITTED',
      createdAt: now,
      updatedAt: now,
      releaseLabel: release,
      fields: fields as Json,
      idleTimeoutMinutes: input.idleTimeoutMinutes ?? DEFAULT_SESSION_IDLE_TIMEOUT_MINUTES,
      tags: { ...(tags ?? {}) },
    };
    this.sessions.set(id, session);
    if (tokenKey) this.sessionTokens.set(tokenKey, id);
    this.armIdle(app);
    this.armSessionStep(session);
    return { applicationId: appId, sessionId: id, arn: session.arn };
  }

  getSession(ctx: CallContext, appId: string, sessionId: string): Json {
    return { session: this.sessionOut(this.session(ctx, appId, sessionId)) };
  }

  listSessions(ctx: CallContext, appId: string, query: URLSearchParams): Json {
    this.app(ctx, appId);
    const states = query.getAll('states');
    const filter = states.length > 0 ? (parseMember(sessionStates, 'states', states) as string[]) : undefined;
    const max = this.maxResults(query);
    const token = this.nextToken(query);
    const after = this.dateParam(query, 'createdAtAfter');
    const before = this.dateParam(query, 'createdAtBefore');
    const candidates = [...this.sessions.values()].filter(
      (x) =>
        x.appId === appId &&
        (!filter || filter.includes(x.state)) &&
        (after === undefined || x.createdAt >= after) &&
        (before === undefined || x.createdAt <= before) &&
        this.listed(x.createdAt),
    );
    const { items, nextToken } = page(candidates, filter, max, token);
    return {
      sessions: items.map((x) => ({
        applicationId: x.appId,
        sessionId: x.id,
        arn: x.arn,
        name: x.fields.name,
        state: x.state,
        stateDetails: x.stateDetails,
        releaseLabel: x.releaseLabel,
        executionRoleArn: x.fields.executionRoleArn,
        createdBy: this.createdBy(),
        createdAt: seconds(x.createdAt),
        updatedAt: seconds(x.updatedAt),
      })),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  terminateSession(ctx: CallContext, appId: string, sessionId: string): Json {
    const session = this.session(ctx, appId, sessionId);
    const answer = { applicationId: appId, sessionId };
    if (session.state === 'TERMINATING' || session.state === 'TERMINATED') return answer;
    if (session.state === 'FAILED') {
      throw validationError(`Session ${sessionId} is already in a final state: ${session.state}`);
    }
    this.endSession(session, 'Session terminated by request.');
    return answer;
  }

  getSessionEndpoint(ctx: CallContext, appId: string, sessionId: string): Json {
    const session = this.session(ctx, appId, sessionId);
    if (!READY_SESSION_STATES.has(session.state)) {
      throw validationError(
        `Session ${sessionId} has no endpoint in its current state: ${session.state}. ` +
          `It must be in one of the states [${[...READY_SESSION_STATES].join(', ')}]`,
      );
    }
    return {
      applicationId: appId,
      sessionId,
      endpoint: `https://${sessionId}.${appId}.sessions.emr-serverless-services.${session.region}.amazonaws.com`,
      authToken: randomBytes(32).toString('base64url'),
      authTokenExpiresAt: seconds(Date.now() + URL_LIFETIME_MS),
    };
  }

  getResourceDashboard(ctx: CallContext, appId: string, query: URLSearchParams): Json {
    this.checkApplicationId(appId);
    const resourceId = parseMember(
      resourceIdSchema,
      'resourceId',
      query.get('resourceId') ?? undefined,
    ) as string;
    parseMember(resourceTypeSchema, 'resourceType', query.get('resourceType') ?? undefined);
    const session = this.session(ctx, appId, resourceId);
    // The live Spark UI while the session runs; the Spark History Server once it has ended.
    const ui = FINAL_SESSION_STATES.has(session.state) ? 'shs' : 'sparkui';
    return { url: this.dashboardUrl(session.region, appId, resourceId, ui) };
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
    if (stateDetails !== undefined)
      job.stateDetails = stateDetails === null ? undefined : String(stateDetails);
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
    return {
      ...answer,
      submitted: { ...structuredClone(job.fields), tags: { ...job.tags } },
      ...(job.shutdownGracePeriodInSeconds !== undefined && {
        shutdownGracePeriodInSeconds: job.shutdownGracePeriodInSeconds,
      }),
    };
  }

  /**
   * Moves a session to `state` at once (its start-up timer, if any, stops; IDLE arms the idle
   * timeout), with AWS-style `stateDetails` (`null` removes them).
   */
  setSessionState(appId: string, sessionId: string, state: unknown, stateDetails?: unknown): Json {
    const session = this.sessions.get(sessionId);
    if (!session || session.appId !== appId) throw notFoundError(`Session ${sessionId} does not exist`);
    if (!SESSION_STATES.includes(state as SessionState)) {
      throw validationError(`state must be one of ${SESSION_STATES.join(', ')}`);
    }
    this.timers.cancel(session.transition);
    session.transition = undefined;
    if (stateDetails !== undefined)
      session.stateDetails = stateDetails === null ? undefined : String(stateDetails);
    this.moveSession(session, state as SessionState);
    return { applicationId: appId, sessionId, state: session.state };
  }

  /** A session as GetSession answers it, in any region (control API). */
  describeSessionForControl(appId: string, sessionId: string): Json {
    const session = this.sessions.get(sessionId);
    if (!session || session.appId !== appId) throw notFoundError(`Session ${sessionId} does not exist`);
    return { session: this.sessionOut(session) };
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

  private session(ctx: CallContext, appId: string, sessionId: string): SessionRecord {
    this.checkApplicationId(appId);
    parseMember(sessionIdSchema, 'sessionId', sessionId);
    this.app(ctx, appId);
    const session = this.sessions.get(sessionId);
    if (!session || session.appId !== appId) {
      throw notFoundError(`Session ${sessionId} does not exist for application ${appId}`);
    }
    return session;
  }

  /**
   * Whether the application takes new work (a job run, a session): STARTED or STARTING, or
   * CREATED / STOPPED with autoStart, which starts it.
   */
  private admitWork(app: AppRecord, what: 'job runs' | 'sessions'): void {
    if (app.state === 'CREATED' || app.state === 'STOPPED') {
      const autoStart = (app.fields.autoStartConfiguration as Json | undefined)?.enabled ?? true;
      if (!autoStart) {
        throw validationError(
          `Application ${app.id} must be started before ${what} can be submitted: autoStart is disabled. Current status: ${app.state}`,
        );
      }
      this.transition(app, 'STARTING', 'STARTED');
    } else if (app.state !== 'STARTED' && app.state !== 'STARTING') {
      throw validationError(`Application ${app.id} cannot accept ${what}. Current status: ${app.state}`);
    }
  }

  /** Brings a new session up, one step per transitionMs; it starts once its application has. */
  private armSessionStep(session: SessionRecord): void {
    const next = NEXT_SESSION_STATE[session.state];
    if (!next) return;
    session.transition = this.timers.after(this.opts.transitionMs, () => {
      session.transition = undefined;
      const app = this.apps.get(session.appId);
      if (next !== 'STARTED' || app?.state === 'STARTED') this.moveSession(session, next);
      this.armSessionStep(session);
    });
  }

  /** TERMINATING now, TERMINATED after transitionMs, with `details` as the reason. */
  private endSession(session: SessionRecord, details: string): void {
    this.timers.cancel(session.transition);
    session.stateDetails = details;
    this.moveSession(session, 'TERMINATING');
    session.transition = this.timers.after(this.opts.transitionMs, () => {
      session.transition = undefined;
      this.moveSession(session, 'TERMINATED');
    });
  }

  private moveSession(session: SessionRecord, state: SessionState): void {
    const now = Date.now();
    session.state = state;
    session.updatedAt = now;
    if (READY_SESSION_STATES.has(state)) session.startedAt ??= now;
    session.idleSince = state === 'IDLE' ? now : undefined;
    if (FINAL_SESSION_STATES.has(state)) session.endedAt ??= now;
    else session.endedAt = undefined;
    this.armSessionIdle(session);
    const app = this.apps.get(session.appId);
    if (app) this.armIdle(app);
  }

  /** An IDLE session ends after its idleTimeoutMinutes (0: never). */
  private armSessionIdle(session: SessionRecord): void {
    this.timers.cancel(session.idle);
    session.idle = undefined;
    const minutes = session.idleTimeoutMinutes;
    if (session.state !== 'IDLE' || minutes <= 0) return;
    session.idle = this.timers.after(minutes * this.opts.idleMinuteMs, () => {
      session.idle = undefined;
      if (session.state === 'IDLE') {
        this.endSession(session, `Session terminated after being idle for ${minutes} minute(s).`);
      }
    });
  }

  private sessionOut(session: SessionRecord): Json {
    const f = session.fields;
    return {
      applicationId: session.appId,
      sessionId: session.id,
      arn: session.arn,
      name: f.name,
      state: session.state,
      stateDetails: session.stateDetails,
      releaseLabel: session.releaseLabel,
      executionRoleArn: f.executionRoleArn,
      createdBy: this.createdBy(),
      createdAt: seconds(session.createdAt),
      updatedAt: seconds(session.updatedAt),
      startedAt: session.startedAt === undefined ? undefined : seconds(session.startedAt),
      endedAt: session.endedAt === undefined ? undefined : seconds(session.endedAt),
      idleSince: session.idleSince === undefined ? undefined : seconds(session.idleSince),
      configurationOverrides: f.configurationOverrides,
      networkConfiguration: this.apps.get(session.appId)?.fields.networkConfiguration,
      idleTimeoutMinutes: session.idleTimeoutMinutes,
      tags: { ...session.tags },
      ...this.utilization(session),
    };
  }

  /** A signed-looking UI URL, valid for an hour as the API reference says (never checked here). */
  private dashboardUrl(region: string, appId: string, resourceId: string, ui: 'sparkui' | 'shs'): string {
    const token = randomBytes(24).toString('base64url');
    return `https://p-${appId}-${resourceId}.emrappui-prod.${region}.amazonaws.com/${ui}/?authToken=${token}`;
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
    const sub = m?.[3];
    const app = this.apps.get(appId);
    if (!app || app.arn !== arn.replace(/\/(jobruns|sessions)\/.*$/, '') || !visibleTo(app, ctx)) {
      throw notFoundError(`Application ${appId} does not exist`);
    }
    if (sub === undefined) return app;
    if (sub.startsWith('/sessions/')) {
      const sessionId = sub.slice('/sessions/'.length);
      const session = this.sessions.get(sessionId);
      if (!session || session.appId !== appId)
        throw notFoundError(`Session ${sessionId} does not exist for application ${appId}`);
      return session;
    }
    const jobId = sub.slice('/jobruns/'.length);
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

  private activeSessions(appId: string): SessionRecord[] {
    return [...this.sessions.values()].filter((x) => x.appId === appId && !FINAL_SESSION_STATES.has(x.state));
  }

  /** An active session is work in progress: the application cannot be stopped or deleted under it. */
  private refuseWhileSessions(app: AppRecord, verb: 'stopped' | 'deleted'): void {
    const active = this.activeSessions(app.id);
    if (active.length === 0) return;
    throw validationError(
      `Application ${app.id} cannot be ${verb} while it has ${active.length} session(s) in a non-final state. ` +
        'All sessions must be terminated first.',
    );
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
      createdAt: now,
      updatedAt: now,
      startedAt: state === 'RUNNING' ? now : undefined,
      endedAt: NON_FINAL_JOB_STATES.has(state) ? undefined : now,
      releaseLabel: String(app.fields.releaseLabel),
      type: String(app.fields.type),
      fields,
      resolvedOverrides: resolveOverrides(fields.configurationOverrides as Json | undefined, app),
      // A run uses the images of its application as they are when it is submitted.
      imageConfiguration: this.resolvedImage(app.fields.imageConfiguration, true),
      workerTypeSpecifications: this.resolvedWorkers(app, true),
      queuedMs: 0,
      queuedSince: state === 'QUEUED' ? now : undefined,
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
  private utilization(job: { startedAt?: number | undefined; endedAt?: number | undefined }): Json {
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
    if (job.queuedSince !== undefined && state !== 'QUEUED') {
      job.queuedMs += now - job.queuedSince;
      job.queuedSince = undefined;
    } else if (job.queuedSince === undefined && state === 'QUEUED') {
      job.queuedSince = now;
    }
    const refused =
      state === 'RUNNING' && job.startedAt === undefined ? this.workersCannotStart(job) : undefined;
    if (refused) {
      // The workers never came up: the run fails with KMS's reason, as AWS reports it.
      state = 'FAILED';
      job.stateDetails = refused;
    }
    job.state = state;
    job.updatedAt = now;
    if (state === 'RUNNING' && job.startedAt === undefined) job.startedAt = now;
    if (!NON_FINAL_JOB_STATES.has(state)) job.endedAt ??= now;
    else job.endedAt = undefined;
    const app = this.apps.get(job.appId);
    if (app) this.armIdle(app);
  }

  /** Why the workers of a run cannot use its customer-managed key, if they cannot. */
  private workersCannotStart(job: JobRecord): string | undefined {
    const app = this.apps.get(job.appId);
    const disk = job.resolvedOverrides?.diskEncryptionConfiguration as
      | { encryptionKeyArn?: string; encryptionContext?: Record<string, string> }
      | undefined;
    if (!app || !this.workersKeyCheck || typeof disk?.encryptionKeyArn !== 'string') return undefined;
    return this.workersKeyCheck({
      keyArn: disk.encryptionKeyArn,
      applicationArn: app.arn,
      account: app.account,
      region: app.region,
      encryptionContext: { ...disk.encryptionContext, applicationId: app.id },
    });
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
    if (this.activeJobs(app.id).length > 0 || this.activeSessions(app.id).length > 0) return;
    const minutes =
      typeof cfg.idleTimeoutMinutes === 'number' ? cfg.idleTimeoutMinutes : DEFAULT_IDLE_TIMEOUT_MINUTES;
    app.idle = this.timers.after(minutes * this.opts.idleMinuteMs, () => {
      app.idle = undefined;
      if (
        app.state === 'STARTED' &&
        this.activeJobs(app.id).length === 0 &&
        this.activeSessions(app.id).length === 0
      ) {
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

  private resolvedWorkers(app: AppRecord, started: boolean): Record<string, Json> | undefined {
    const workers = app.fields.workerTypeSpecifications as Record<string, Json> | undefined;
    if (!workers) return undefined;
    return Object.fromEntries(
      Object.entries(workers).map(([k, w]) => {
        const img = this.resolvedImage(w?.imageConfiguration, started);
        return [k, img ? { imageConfiguration: img } : {}];
      }),
    );
  }

  private integerParam(query: URLSearchParams, name: string): number | undefined {
    const raw = query.get(name);
    if (raw === null) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isSafeInteger(n)) {
      throw validationError(
        `1 validation error detected: Value '${raw}' at '${name}' failed to satisfy constraint: Member must be of type integer`,
      );
    }
    return n;
  }

  private applicationOut(app: AppRecord): Json {
    const f = app.fields;
    const autoStart = (f.autoStartConfiguration as Json | undefined) ?? {};
    const autoStop = (f.autoStopConfiguration as Json | undefined) ?? {};
    const autoStopEnabled = autoStop.enabled ?? true;
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
      workerTypeSpecifications: this.resolvedWorkers(app, app.everStarted),
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
