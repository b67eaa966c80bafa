// The HTTP side of the local service: one node:http server answering
//  - EMR Serverless (restJson1) on its REST paths,
//  - KMS (awsJson1_1) on `POST /` with `x-amz-target: TrentService.*`,
//  - STS (awsQuery) on a form-encoded `POST /` (AssumeRole, GetCallerIdentity),
//  - the control API under `/_emulator/` (calls log, reset, faults, listing lag, out-of-band changes).
// Signatures are never checked; the caller's region is read from the SigV4 credential scope and
// its account from the access key id (keys issued by AssumeRole act in their role's account).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EMR_SERVERLESS_PRINCIPAL, type EmrCall, emrAccessRequests, emrKeyUses } from './authorization.js';
import { CLOUDTRAIL_TARGET_PREFIXES, CloudTrailService } from './cloudtrail.js';
import { type CallContext, EmrService, type WorkersKeyUse } from './emr.js';
import {
  defaultErrorType,
  internalError,
  ServiceError,
  type ServiceName,
  serializationError,
  wireError,
} from './errors.js';
import { IamService } from './iam.js';
import { contextKeys, KmsService } from './kms.js';
import { isBuiltIn, type Principal, principalArn, requestPrincipal, StsService, stsErrorXml } from './sts.js';
import { Timers } from './timers.js';

export interface ServerOptions {
  accountId: string;
  defaultRegion: string;
  transitionMs: number;
  idleMinuteMs: number;
  jobRunStepMs?: number;
}

/** One AWS API call, as the control API's calls log shows it. */
export interface Call {
  service: ServiceName;
  operation: string;
  applicationId?: string;
  jobRunId?: string;
  sessionId?: string;
  keyId?: string;
  /** The account the call acted in (of the credentials that signed it). */
  account: string;
  region: string;
  /** The access key id that signed the call: tells callers (e.g. two operator replicas) apart. */
  caller?: string;
  status: number;
  errorType?: string;
  at: string;
}

/** A fault injected through the control API. */
export interface Fault {
  /** An operation name (`GetApplication`, `DescribeKey`, ...) or `*` for every AWS operation. */
  operation: string;
  /** Only this service (default: both). */
  service?: ServiceName;
  /** Only calls on this application (default: any), so one test can refuse several apps differently. */
  applicationId?: string;
  /** HTTP status of the error answer (default 500, or the usual status of `errorType`). */
  status?: number;
  /** Error class (default from the status: 429 ThrottlingException, 5xx InternalServerException...). */
  errorType?: string;
  message?: string;
  /** Fraction 0..1 of matching calls that fail (after `count` is used up). */
  rate?: number;
  /** The next `count` matching calls fail; then the fault is removed unless it has a rate. */
  count?: number;
  /** Delay added to each matching call while the fault is active, before it takes effect. */
  latencyMs?: number;
  /**
   * Delay after the call took effect, before it is answered: the change is made (and logged in
   * the calls log at once) but the caller hears of it only this much later, or never if it dies
   * meanwhile. Crash tests kill the caller inside this window.
   */
  holdAnswerMs?: number;
}

interface ActiveFault extends Fault {
  remaining: number;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_CALLS_KEPT = 100_000;
const ERROR_STATUS: Record<string, number> = {
  ThrottlingException: 429,
  TooManyRequestsException: 429,
  InternalServerException: 500,
  ConflictException: 409,
  ServiceQuotaExceededException: 402,
  ResourceNotFoundException: 404,
  ValidationException: 400,
  AccessDeniedException: 403,
};

const EMPTY_QUERY = new URLSearchParams();
const CREDENTIAL_SCOPE = /Credential=([^/,\s]+)\/\d{8}\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;
const FORM_CONTENT = 'application/x-www-form-urlencoded';

type Json = Record<string, unknown>;

interface Route {
  service: ServiceName;
  operation: string;
  applicationId?: string | undefined;
  jobRunId?: string | undefined;
  sessionId?: string | undefined;
  keyId?: string | undefined;
  /** Runs the operation; throws ServiceError for an error answer. STS answers XML text. */
  run: (ctx: CallContext) => Json | string;
  /** EMR Serverless: the call as IAM judges it (KMS and STS judge their own calls). */
  call?: (ctx: CallContext) => EmrCall;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> | string {
  const length = req.headers['content-length'];
  if ((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined) {
    return ''; // no body (every GET of the SDK): skip the stream plumbing
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpProblem(413, 'RequestEntityTooLargeException', 'Request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJsonObject(text: string, service: ServiceName): Json {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const msg = `Malformed JSON request body: ${(e as Error).message}`;
    throw service === 'kms' ? new ServiceError(400, 'SerializationException', msg) : serializationError(msg);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw serializationError('Request body must be a JSON object');
  }
  return v as Json;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpProblem(400, 'SerializationException', `Malformed percent-encoding in path segment '${s}'`);
  }
}

/**
 * A key may be named by its ARN, raw or percent-encoded; a raw ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`)
 * brings a slash of its own. Under `keys/`, the key is everything up to an optional trailing action.
 */
function keyRouteSegments(segs: string[]): string[] {
  if (segs[0] !== 'keys' || segs.length <= 2) return segs;
  const last = segs[segs.length - 1]!;
  const action = KEY_ACTIONS.includes(last) ? [last] : [];
  return ['keys', segs.slice(1, segs.length - action.length).join('/'), ...action];
}
const KEY_ACTIONS = ['deny', 'allow', 'policy'];

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(text);
}

function sendXml(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

export class EmulatorServer {
  readonly timers = new Timers();
  readonly emr: EmrService;
  readonly kms: KmsService;
  readonly sts: StsService;
  readonly iam = new IamService();
  readonly cloudtrail = new CloudTrailService();
  private calls: Call[] = [];
  private faults: ActiveFault[] = [];
  private readonly server: Server;

  constructor(private readonly opts: ServerOptions) {
    this.emr = new EmrService(
      {
        accountId: opts.accountId,
        transitionMs: opts.transitionMs,
        idleMinuteMs: opts.idleMinuteMs,
        ...(opts.jobRunStepMs !== undefined && { jobRunStepMs: opts.jobRunStepMs }),
      },
      this.timers,
    );
    this.kms = new KmsService({
      accountId: opts.accountId,
      defaultRegion: opts.defaultRegion,
      iam: this.iam,
    });
    this.sts = new StsService({ accountId: opts.accountId, iam: this.iam });
    this.emr.workersKeyCheck = (use) => this.workersKeyCheck(use);
    this.kms.onKeyUse = (ctx, operation, keyArn, requestParameters) =>
      this.cloudtrail.record(
        {
          name: operation,
          accessKeyId: ctx.accessKeyId,
          ...callerIdentity(ctx.principal ?? { account: ctx.account }, ctx.accessKeyId),
          keyArn,
          requestParameters,
        },
        { keyAccount: keyArn.split(':')[4]!, region: keyArn.split(':')[3]!, callerAccount: ctx.account },
      );
    this.server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // Last resort: never let one request take the service down.
        if (!res.headersSent) {
          send(
            res,
            500,
            { message: `emulator error: ${(err as Error)?.message ?? String(err)}` },
            {
              'x-amzn-errortype': 'InternalServerException',
            },
          );
        } else {
          res.destroy();
        }
      });
    });
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  close(): Promise<void> {
    this.timers.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  reset(): void {
    this.timers.clear();
    this.emr.reset();
    this.kms.reset();
    this.sts.reset();
    this.iam.reset();
    this.cloudtrail.reset();
    this.calls = [];
    this.faults = [];
  }

  // ------------------------------------------------------------------ dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? EMPTY_QUERY : new URLSearchParams(url.slice(q + 1));
    const method = (req.method ?? 'GET').toUpperCase();
    try {
      const body = await readBody(req);
      if (rawPath === '/_emulator' || rawPath.startsWith('/_emulator/')) {
        this.control(res, method, rawPath, body);
        return;
      }
      const target = req.headers['x-amz-target'];
      if (method === 'POST' && rawPath === '/' && typeof target === 'string') {
        await this.aws(req, res, this.kmsRoute(target, body));
        return;
      }
      const contentType = String(req.headers['content-type'] ?? '');
      if (method === 'POST' && rawPath === '/' && contentType.startsWith(FORM_CONTENT)) {
        await this.aws(req, res, this.stsRoute(body));
        return;
      }
      await this.aws(req, res, this.emrRoute(method, rawPath, query, body));
    } catch (err) {
      if (err instanceof HttpProblem) {
        send(res, err.status, { message: err.message }, { 'x-amzn-errortype': err.type, ...err.headers });
        return;
      }
      throw err;
    }
  }

  /** The region of the request's SigV4 credential scope and the access key id that signed it. */
  private signedBy(req: IncomingMessage): { region: string; accessKeyId: string | undefined } {
    const auth = req.headers.authorization;
    const m = typeof auth === 'string' ? CREDENTIAL_SCOPE.exec(auth) : null;
    return { region: m?.[2] ?? this.opts.defaultRegion, accessKeyId: m?.[1] };
  }

  /** Runs one AWS operation: faults, the operation itself, the answer and the calls log. */
  private async aws(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    const at = new Date().toISOString();
    const { region, accessKeyId } = this.signedBy(req);
    let account = this.opts.accountId;
    let status = 200;
    let errorType: string | undefined;
    let logged = false;
    const log = () => {
      if (logged) return;
      logged = true;
      this.logCall({
        service: route.service,
        operation: route.operation,
        ...(route.applicationId ? { applicationId: route.applicationId } : {}),
        ...(route.jobRunId ? { jobRunId: route.jobRunId } : {}),
        ...(route.sessionId ? { sessionId: route.sessionId } : {}),
        ...(route.keyId ? { keyId: route.keyId } : {}),
        account,
        region,
        ...(accessKeyId ? { caller: accessKeyId } : {}),
        status,
        ...(errorType ? { errorType } : {}),
        at,
      });
    };
    try {
      // Expired role credentials are refused before anything else, as AWS does.
      const principal = this.sts.principalOf(accessKeyId);
      account = principal.account;
      const ctx: CallContext = { account, region, principal, accessKeyId };
      if (this.iam.enforcing && route.call) this.authorizeEmr(ctx, route.call(ctx));
      const faults = await this.applyFaults(route);
      if (faults.error) throw faults.error;
      let out: Json | string;
      try {
        out = route.run(ctx);
      } catch (e) {
        if (e instanceof ServiceError) throw e;
        throw internalError(`emulator error: ${(e as Error)?.message ?? String(e)}`);
      }
      if (
        typeof out !== 'string' &&
        route.operation === 'CreateApplication' &&
        typeof out.applicationId === 'string'
      ) {
        route.applicationId = out.applicationId;
      }
      if (typeof out !== 'string' && route.operation === 'StartJobRun' && typeof out.jobRunId === 'string')
        route.jobRunId = out.jobRunId;
      if (typeof out !== 'string' && route.operation === 'StartSession' && typeof out.sessionId === 'string')
        route.sessionId = out.sessionId;
      if (faults.holdAnswerMs > 0) {
        // The effect is done: log it now, answer later (a caller killed meanwhile never hears).
        log();
        await this.timers.sleep(faults.holdAnswerMs);
      }
      if (typeof out === 'string') sendXml(res, 200, out);
      else
        send(res, 200, out, {
          'content-type':
            route.service === 'kms' || route.service === 'cloudtrail'
              ? 'application/x-amz-json-1.1'
              : 'application/json',
        });
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      status = e.status;
      errorType = e.type;
      if (route.service === 'sts') {
        sendXml(res, e.status, stsErrorXml(e));
        return;
      }
      const w = wireError(route.service, e);
      send(res, w.status, w.body, w.headers);
    } finally {
      log();
    }
  }

  /** IAM for an EMR Serverless call: the caller's policies, then a job-level key as KMS judges it. */
  private authorizeEmr(ctx: CallContext, call: EmrCall): void {
    const caller = ctx.principal ?? { account: ctx.account };
    const who = requestPrincipal(caller);
    const builtIn = isBuiltIn(caller);
    this.iam.authorize(
      who,
      emrAccessRequests(call, { tagsOf: (arn) => this.emr.tagsOfArn(ctx, arn) }),
      ctx.region,
      builtIn,
    );
    for (const use of emrKeyUses(call)) {
      try {
        this.kms.authorizeUse(use.keyArn, {
          who,
          builtIn,
          region: ctx.region,
          actions: use.actions,
          context: use.context,
        });
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        // EMR Serverless cannot use the key for this submitter: the submission is refused.
        throw new ServiceError(
          403,
          'AccessDeniedException',
          `The job run's disk encryption key ${use.keyArn} cannot be used by the caller: ${e.message}`,
        );
      }
    }
  }

  /**
   * The workers of a run on a customer-managed key make a data key as EMR Serverless' service
   * principal, for the application (`aws:SourceArn`, `aws:SourceAccount`) and the run's context.
   * Judged only while IAM is (key policies are IAM's); a refusal is the run's failure reason.
   */
  private workersKeyCheck(use: WorkersKeyUse): string | undefined {
    const state = this.kms.keyStateOf(use.keyArn);
    const refused = this.iam.enforcing ? this.workersRefusal(use, state) : undefined;
    if (refused || state !== 'Enabled') return refused;
    // The data key the workers make, and open again, is the key's evidence of use.
    for (const name of ['GenerateDataKey', 'Decrypt']) {
      this.cloudtrail.record(
        {
          name,
          userIdentity: { type: 'AWSService', invokedBy: EMR_SERVERLESS_PRINCIPAL },
          keyArn: use.keyArn,
          requestParameters: {
            keyId: use.keyArn,
            encryptionContext: use.encryptionContext,
            ...(name === 'GenerateDataKey'
              ? { keySpec: 'AES_256' }
              : { encryptionAlgorithm: 'SYMMETRIC_DEFAULT' }),
          },
        },
        { keyAccount: use.keyArn.split(':')[4]!, region: use.region, callerAccount: use.account },
      );
    }
    return undefined;
  }

  private workersRefusal(use: WorkersKeyUse, state: string | undefined): string | undefined {
    try {
      if (state !== 'Enabled') {
        return `KMS key ${use.keyArn} is ${state === undefined ? 'not found' : state.toLowerCase()}: the workers' disks cannot be encrypted.`;
      }
      this.kms.authorizeUse(use.keyArn, {
        who: { arn: EMR_SERVERLESS_PRINCIPAL, service: EMR_SERVERLESS_PRINCIPAL },
        builtIn: false,
        region: use.region,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        context: {
          'aws:SourceArn': use.applicationArn,
          'aws:SourceAccount': use.account,
          ...contextKeys(use.encryptionContext),
        },
      });
      return undefined;
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      return `Failed to encrypt the workers' disks with KMS key ${use.keyArn}: ${e.type}: ${e.message}`;
    }
  }

  private logCall(call: Call): void {
    this.calls.push(call);
    if (this.calls.length > MAX_CALLS_KEPT) this.calls.splice(0, this.calls.length - MAX_CALLS_KEPT);
  }

  /** Matches the active faults: waits out their latency, answers their error and hold. */
  private async applyFaults(route: Route): Promise<{ error?: ServiceError; holdAnswerMs: number }> {
    let latency = 0;
    let holdAnswerMs = 0;
    let error: ServiceError | undefined;
    for (const f of [...this.faults]) {
      if (f.operation !== '*' && f.operation !== route.operation) continue;
      if (f.service && f.service !== route.service) continue;
      if (f.applicationId && f.applicationId !== route.applicationId) continue;
      latency = Math.max(latency, f.latencyMs ?? 0);
      holdAnswerMs = Math.max(holdAnswerMs, f.holdAnswerMs ?? 0);
      const hasError = f.status !== undefined || f.errorType !== undefined;
      let fail = false;
      if (f.remaining > 0) {
        f.remaining -= 1;
        fail = hasError;
        if (f.remaining === 0 && f.rate === undefined) this.faults.splice(this.faults.indexOf(f), 1);
      } else if (f.rate !== undefined && Math.random() < f.rate) {
        fail = hasError;
      }
      if (fail && !error) {
        const type = f.errorType ?? defaultErrorType(f.status ?? 500);
        const status = f.status ?? ERROR_STATUS[type] ?? (route.service === 'kms' ? 400 : 500);
        error = new ServiceError(status, type, f.message ?? `Injected fault: ${type}`);
      }
    }
    if (latency > 0) await this.timers.sleep(latency);
    // An error answer has no effect to hold.
    return error ? { error, holdAnswerMs: 0 } : { holdAnswerMs };
  }

  // ------------------------------------------------------------------ EMR Serverless routes

  private emrRoute(method: string, rawPath: string, query: URLSearchParams, rawBody: string): Route {
    const segs = rawPath
      .split('/')
      .slice(1)
      .filter((s, i, all) => s !== '' || i < all.length - 1);
    const emr = this.emr;
    const body = (): Json => parseJsonObject(rawBody, 'emr-serverless');
    const route = (
      allowed: Record<string, Omit<Route, 'service' | 'operation'> & { operation: string }>,
    ): Route => {
      const r = allowed[method];
      if (!r) {
        throw new HttpProblem(
          405,
          'MethodNotAllowedException',
          `Method ${method} is not allowed on ${rawPath}`,
          {
            allow: Object.keys(allowed).join(', '),
          },
        );
      }
      const ids = { applicationId: r.applicationId, jobRunId: r.jobRunId, sessionId: r.sessionId };
      const call = (ctx: CallContext): EmrCall => {
        let parsed: Json = {};
        try {
          parsed = rawBody.trim() === '' ? {} : parseJsonObject(rawBody, 'emr-serverless');
        } catch {
          // a malformed body is the operation's to refuse
        }
        return {
          operation: r.operation,
          account: ctx.account,
          region: ctx.region,
          ...ids,
          resourceArn,
          body: parsed,
          query,
        };
      };
      return { service: 'emr-serverless', ...r, call };
    };
    let resourceArn: string | undefined;
    const [top, rawId, sub, rawJobId, ...rest] = segs;
    if (
      top === 'applications' &&
      rawId !== undefined &&
      sub === 'jobruns' &&
      rawJobId !== undefined &&
      rest.length === 1
    ) {
      const id = decodeSegment(rawId);
      const jobId = decodeSegment(rawJobId);
      if (rest[0] === 'attempts') {
        return route({
          GET: {
            operation: 'ListJobRunAttempts',
            applicationId: id,
            jobRunId: jobId,
            run: (ctx) => emr.listJobRunAttempts(ctx, id, jobId, query),
          },
        });
      }
      if (rest[0] === 'dashboard') {
        return route({
          GET: {
            operation: 'GetDashboardForJobRun',
            applicationId: id,
            jobRunId: jobId,
            run: (ctx) => emr.getDashboardForJobRun(ctx, id, jobId, query),
          },
        });
      }
    }
    if (top === 'applications' && rawId !== undefined && sub === 'sessions' && rest.length <= 1) {
      const id = decodeSegment(rawId);
      if (rawJobId === undefined) {
        return route({
          GET: {
            operation: 'ListSessions',
            applicationId: id,
            run: (ctx) => emr.listSessions(ctx, id, query),
          },
          POST: {
            operation: 'StartSession',
            applicationId: id,
            run: (ctx) => emr.startSession(ctx, id, body()),
          },
        });
      }
      const sessionId = decodeSegment(rawJobId);
      if (rest.length === 0) {
        return route({
          GET: {
            operation: 'GetSession',
            applicationId: id,
            sessionId,
            run: (ctx) => emr.getSession(ctx, id, sessionId),
          },
          DELETE: {
            operation: 'TerminateSession',
            applicationId: id,
            sessionId,
            run: (ctx) => emr.terminateSession(ctx, id, sessionId),
          },
        });
      }
      if (rest[0] === 'endpoint') {
        return route({
          GET: {
            operation: 'GetSessionEndpoint',
            applicationId: id,
            sessionId,
            run: (ctx) => emr.getSessionEndpoint(ctx, id, sessionId),
          },
        });
      }
    }
    if (top === 'applications' && rawId !== undefined && sub === 'dashboard' && rawJobId === undefined) {
      const id = decodeSegment(rawId);
      return route({
        GET: {
          operation: 'GetResourceDashboard',
          applicationId: id,
          run: (ctx) => emr.getResourceDashboard(ctx, id, query),
        },
      });
    }
    if (top === 'applications' && rest.length === 0) {
      if (rawId === undefined) {
        return route({
          GET: { operation: 'ListApplications', run: (ctx) => emr.listApplications(ctx, query) },
          POST: { operation: 'CreateApplication', run: (ctx) => emr.createApplication(ctx, body()) },
        });
      }
      const id = decodeSegment(rawId);
      if (sub === undefined) {
        return route({
          GET: { operation: 'GetApplication', applicationId: id, run: (ctx) => emr.getApplication(ctx, id) },
          PATCH: {
            operation: 'UpdateApplication',
            applicationId: id,
            run: (ctx) => emr.updateApplication(ctx, id, body()),
          },
          DELETE: {
            operation: 'DeleteApplication',
            applicationId: id,
            run: (ctx) => emr.deleteApplication(ctx, id),
          },
        });
      }
      if ((sub === 'start' || sub === 'stop') && rawJobId === undefined) {
        return sub === 'start'
          ? route({
              POST: {
                operation: 'StartApplication',
                applicationId: id,
                run: (ctx) => emr.startApplication(ctx, id),
              },
            })
          : route({
              POST: {
                operation: 'StopApplication',
                applicationId: id,
                run: (ctx) => emr.stopApplication(ctx, id),
              },
            });
      }
      if (sub === 'jobruns') {
        if (rawJobId === undefined) {
          return route({
            GET: {
              operation: 'ListJobRuns',
              applicationId: id,
              run: (ctx) => emr.listJobRuns(ctx, id, query),
            },
            POST: {
              operation: 'StartJobRun',
              applicationId: id,
              run: (ctx) => emr.startJobRun(ctx, id, body()),
            },
          });
        }
        const jobId = decodeSegment(rawJobId);
        return route({
          GET: {
            operation: 'GetJobRun',
            applicationId: id,
            jobRunId: jobId,
            run: (ctx) => emr.getJobRun(ctx, id, jobId),
          },
          DELETE: {
            operation: 'CancelJobRun',
            applicationId: id,
            jobRunId: jobId,
            run: (ctx) => emr.cancelJobRun(ctx, id, jobId, query),
          },
        });
      }
    }
    if (top === 'tags' && segs.length >= 2) {
      // The SDK percent-encodes the whole ARN (`/` as %2F); a client that does not still works.
      const arn = segs.slice(1).map(decodeSegment).join('/');
      resourceArn = arn;
      const applicationId = EmrService.applicationIdOfArn(arn);
      return route({
        GET: {
          operation: 'ListTagsForResource',
          applicationId,
          run: (ctx) => emr.listTagsForResource(ctx, arn),
        },
        POST: { operation: 'TagResource', applicationId, run: (ctx) => emr.tagResource(ctx, arn, body()) },
        DELETE: {
          operation: 'UntagResource',
          applicationId,
          run: (ctx) => emr.untagResource(ctx, arn, query),
        },
      });
    }
    throw new HttpProblem(404, 'UnknownOperationException', `No operation matches ${method} ${rawPath}`);
  }

  // ------------------------------------------------------------------ KMS routes

  private kmsRoute(target: string, rawBody: string): Route {
    const dot = target.lastIndexOf('.');
    const prefix = dot < 0 ? '' : target.slice(0, dot);
    const operation = dot < 0 ? target : target.slice(dot + 1);
    if (CLOUDTRAIL_TARGET_PREFIXES.includes(prefix)) {
      return {
        service: 'cloudtrail',
        operation,
        run: (ctx) => {
          const caller = ctx.principal ?? { account: ctx.account };
          this.iam.authorize(
            requestPrincipal(caller),
            [{ action: `cloudtrail:${operation}`, resource: '*' }],
            ctx.region,
            isBuiltIn(caller),
          );
          return this.cloudtrail.handle(ctx, operation, parseJsonObject(rawBody, 'cloudtrail'));
        },
      };
    }
    if (prefix !== 'TrentService' || !(KmsService.OPERATIONS as readonly string[]).includes(operation)) {
      return {
        service: 'kms',
        operation,
        run: () => {
          throw new ServiceError(400, 'UnknownOperationException', `Unknown operation ${target}`);
        },
      };
    }
    let keyId: string | undefined;
    try {
      const b = JSON.parse(rawBody || '{}') as Json;
      keyId =
        typeof b.KeyId === 'string' ? b.KeyId : typeof b.TargetKeyId === 'string' ? b.TargetKeyId : undefined;
    } catch {
      // reported by run()
    }
    return {
      service: 'kms',
      operation,
      keyId,
      run: (ctx) => this.kms.handle(ctx, operation, parseJsonObject(rawBody, 'kms')),
    };
  }

  // ------------------------------------------------------------------ STS route

  private stsRoute(rawBody: string): Route {
    const params = new URLSearchParams(rawBody);
    return {
      service: 'sts',
      operation: params.get('Action') ?? 'Unknown',
      run: (ctx) => this.sts.handle(ctx.principal ?? { account: ctx.account }, params, ctx.region),
    };
  }

  // ------------------------------------------------------------------ control API

  private control(res: ServerResponse, method: string, rawPath: string, rawBody: string): void {
    try {
      send(res, 200, this.controlAnswer(method, rawPath, rawBody));
    } catch (e) {
      if (e instanceof ServiceError) {
        const notFound = e.type === 'NotFoundException' || e.type === 'ResourceNotFoundException';
        send(res, notFound ? 404 : 400, { message: e.message });
        return;
      }
      if (e instanceof HttpProblem) {
        send(res, e.status, { message: e.message });
        return;
      }
      throw e;
    }
  }

  /** The answer of one control API request; throws HttpProblem or ServiceError for an error. */
  private controlAnswer(method: string, rawPath: string, rawBody: string): unknown {
    const segs = keyRouteSegments(rawPath.split('/').slice(2).filter(Boolean).map(decodeSegment));
    let body: Json;
    try {
      body = rawBody.trim() === '' ? {} : (JSON.parse(rawBody) as Json);
    } catch {
      body = [] as unknown as Json;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpProblem(400, 'SerializationException', 'control API: the body must be a JSON object');
    }
    const [a, b, c, d] = segs;
    // e.g. 'PATCH jobruns/:id/:id', 'POST keys/:id/deny'
    const shape = [
      a,
      b === undefined ? undefined : ':id',
      c === undefined ? undefined : a === 'keys' ? c : ':id',
      d,
    ]
      .filter((x) => x !== undefined)
      .join('/');
    switch (`${method} ${shape}`) {
      case 'GET health':
        return { ok: true };
      case 'GET stats': {
        const cpu = process.cpuUsage();
        return {
          cpuUserMs: cpu.user / 1000,
          cpuSystemMs: cpu.system / 1000,
          rssBytes: process.memoryUsage.rss(),
          calls: this.calls.length,
        };
      }
      case 'GET calls':
        return this.calls;
      case 'DELETE calls':
        this.calls = [];
        return { ok: true };
      case 'POST reset':
        this.reset();
        return { ok: true };
      case 'GET faults':
        return this.faults;
      case 'POST faults':
        return this.addFault(body);
      case 'DELETE faults':
        this.faults = [];
        return { ok: true };
      case 'GET listing-lag':
        return { ms: this.emr.listingLag };
      case 'POST listing-lag': {
        const ms = body.ms;
        if (typeof ms !== 'number' || !(ms >= 0 && ms <= 3_600_000)) {
          throw new HttpProblem(400, 'ValidationException', 'listing-lag: ms must be a number in 0..3600000');
        }
        this.emr.setListingLag(ms);
        return { ms };
      }
      case 'GET applications/:id': {
        const app = this.emr.describeForControl(b!);
        if (!app) throw new HttpProblem(404, 'ResourceNotFoundException', `Application ${b} does not exist`);
        return { application: app };
      }
      case 'PATCH applications/:id':
        return this.emr.patchApplication(b!, body);
      case 'GET roles':
        return this.sts.listRoles();
      case 'POST roles': {
        const role = this.sts.declareRole(body);
        if (body.policies !== undefined) this.iam.attach(role.roleArn, policyList(body.policies));
        return role;
      }
      case 'POST users': {
        const policies = body.policies === undefined ? undefined : policyList(body.policies);
        const user = this.sts.declareUser(body);
        if (policies) this.iam.attach(user.arn, policies);
        return user;
      }
      case 'GET iam':
        return this.iam.describe();
      case 'POST iam': {
        if (typeof body.enforce !== 'boolean') {
          throw new HttpProblem(400, 'ValidationException', 'iam: enforce must be true or false');
        }
        this.iam.enforcing = body.enforce;
        return this.iam.describe();
      }
      case 'POST policies': {
        if (typeof body.arn !== 'string' || !body.arn.startsWith('arn:')) {
          throw new HttpProblem(400, 'ValidationException', 'policies: arn must name a role or user');
        }
        return { arn: body.arn, policies: this.iam.attach(body.arn, policyList(body.policies)) };
      }
      case 'GET keys/:id/policy':
        return { Policy: this.kms.findForControl(b!).policyText };
      case 'PUT keys/:id/policy':
        return this.kms.putPolicyForControl(b!, body.policy);
      case 'GET credentials':
        return this.sts.listIssued();
      case 'POST keys':
        return this.kms.createKey(body);
      case 'PATCH keys/:id':
        return this.kms.setKeyState(b!, body.keyState);
      case 'POST keys/:id/deny':
        return this.kms.deny(b!, true);
      case 'POST keys/:id/allow':
        return this.kms.deny(b!, false);
      case 'POST jobruns/:id': {
        const { state, ...extra } = body;
        return this.emr.createJobRun(b!, state, extra);
      }
      case 'PATCH jobruns/:id/:id':
        return this.emr.setJobRunState(b!, c!, body.state, body.stateDetails);
      case 'GET jobruns/:id/:id':
        return this.emr.describeJobRunForControl(b!, c!);
      case 'PATCH sessions/:id/:id':
        return this.emr.setSessionState(b!, c!, body.state, body.stateDetails);
      case 'GET sessions/:id/:id':
        return this.emr.describeSessionForControl(b!, c!);
      default:
        throw new HttpProblem(404, 'NotFound', `control API: no route for ${method} ${rawPath}`);
    }
  }

  private addFault(body: Json): Json {
    const f = body as unknown as Fault;
    if (typeof f.operation !== 'string' || f.operation === '') {
      throw new HttpProblem(
        400,
        'ValidationException',
        'fault: operation is required (an operation name or "*")',
      );
    }
    const num = (v: unknown, name: string, min: number, max: number): void => {
      if (v !== undefined && (typeof v !== 'number' || !(v >= min && v <= max))) {
        throw new HttpProblem(
          400,
          'ValidationException',
          `fault: ${name} must be a number in ${min}..${max}`,
        );
      }
    };
    num(f.status, 'status', 100, 599);
    num(f.rate, 'rate', 0, 1);
    num(f.count, 'count', 0, Number.MAX_SAFE_INTEGER);
    num(f.latencyMs, 'latencyMs', 0, 600_000);
    num(f.holdAnswerMs, 'holdAnswerMs', 0, 600_000);
    const hasError = f.status !== undefined || f.errorType !== undefined;
    if (hasError && f.holdAnswerMs !== undefined) {
      throw new HttpProblem(
        400,
        'ValidationException',
        'fault: holdAnswerMs holds a successful answer; it cannot go with status or errorType',
      );
    }
    if (
      f.count === undefined &&
      f.rate === undefined &&
      f.latencyMs === undefined &&
      f.holdAnswerMs === undefined
    ) {
      if (!hasError) {
        throw new HttpProblem(
          400,
          'ValidationException',
          'fault: give a status or errorType, rate, count, latencyMs or holdAnswerMs',
        );
      }
      // An error with neither rate nor count: every matching call fails until the faults are cleared.
      f.rate = 1;
    }
    const active: ActiveFault = {
      operation: f.operation,
      ...(f.service ? { service: f.service } : {}),
      ...(f.applicationId ? { applicationId: f.applicationId } : {}),
      ...(f.status !== undefined ? { status: f.status } : {}),
      ...(f.errorType ? { errorType: f.errorType } : {}),
      ...(f.message ? { message: f.message } : {}),
      ...(f.rate !== undefined ? { rate: f.rate } : {}),
      ...(f.count !== undefined ? { count: f.count } : {}),
      ...(f.latencyMs !== undefined ? { latencyMs: f.latencyMs } : {}),
      ...(f.holdAnswerMs !== undefined ? { holdAnswerMs: f.holdAnswerMs } : {}),
      remaining: f.count ?? 0,
    };
    this.faults.push(active);
    return { ok: true, fault: active };
  }
}

function policyList(v: unknown): unknown[] {
  if (!Array.isArray(v))
    throw new HttpProblem(400, 'ValidationException', 'policies must be a list of policy documents');
  return v;
}

/** CloudTrail's userIdentity of a caller (and its Username, for a user). */
function callerIdentity(
  caller: Principal,
  accessKeyId: string | undefined,
): { userIdentity: Record<string, unknown>; username?: string } {
  const arn = principalArn(caller);
  const common = { arn, accountId: caller.account, ...(accessKeyId && { accessKeyId }) };
  if (caller.roleArn) {
    return {
      userIdentity: {
        type: 'AssumedRole',
        ...common,
        sessionContext: { sessionIssuer: { type: 'Role', arn: caller.roleArn } },
      },
    };
  }
  const userName = caller.userName ?? 'emulator';
  return { userIdentity: { type: 'IAMUser', ...common, userName }, username: userName };
}
