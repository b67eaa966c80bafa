// The operator's Kubernetes client: JSON over one keep-alive HTTPS agent, for the handful of
// calls the controllers make (list, watch, read, create, replace, patch, delete). It stands in
// for client-node's generated API classes, whose code alone held half the idle operator's memory.
// Errors carry the HTTP status as `code` and the API server's Status as `body`, as client-node's
// ApiException does, so errors.ts reads both.
//
// As client-go's rest client, it is a good citizen of the API server:
// - every request says who sends it (User-Agent: emr-serverless-operator/<version>), for audit
//   logs and API Priority and Fairness;
// - a 429 (APF or max-in-flight: the request was not processed) and a 5xx with Retry-After are
//   sent again after the time the server asks for; a read (GET, a list, a watch's start) is also
//   sent again after any 5xx or network failure, with a jittered exponential backoff. A write
//   is sent again after a network failure only when the failure proves it never reached the
//   server (connection refused, unknown host): otherwise it may have been applied;
// - a 401 fetches fresh credentials (exec plugin, token file) once and sends the request again.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { arch, platform } from 'node:os';
import { createInterface } from 'node:readline';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import {
  type AuthOptions,
  type KubeConnection,
  type LoadOptions,
  loadKubeConnection,
  type RefreshOn401,
} from './config.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  /** Content type of the body: JSON by default, or one of PATCH_TYPES. */
  contentType?: string;
}

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** A request the API server answered with a status other than 2xx. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    method: string,
    path: string,
    /** Seconds the server asked to wait before trying again (Retry-After), if it said. */
    readonly retryAfterSeconds?: number,
  ) {
    const message = (body as { message?: unknown } | undefined)?.message;
    super(`${method} ${path}: HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`);
    this.name = 'KubeApiError';
  }
}

export type WatchHandler = (type: string, object: unknown) => void;

/** How long a request (not a watch) may take before it fails, as client-go's default timeout. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface RetryOptions {
  /** Attempts in all, the first included (default 5). */
  attempts?: number;
  /** First backoff (default 250 ms), doubled each time up to maxMs (default 8 s), ±20 %. */
  initialMs?: number;
  maxMs?: number;
  /** The longest Retry-After honoured (default 60 s); a longer one fails the request instead. */
  maxRetryAfterMs?: number;
}

/** Network failures that prove the request never reached the server: safe to send any request again. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** `emr-serverless-operator/<version> (<os>/<arch>) node/<version>`, as client-go's default agent. */
export const USER_AGENT = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  return `${pkg.name}/${pkg.version} (${platform()}/${arch()}) node/${process.version}`;
})();

export class KubeClient {
  readonly server: string;
  readonly source: string;
  readonly namespace: string | undefined;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly retry: Required<RetryOptions>;

  constructor(
    private readonly connection: KubeConnection,
    options: { retry?: RetryOptions } = {},
  ) {
    this.server = connection.server;
    this.source = connection.source;
    this.namespace = connection.namespace;
    this.url = new URL(connection.server);
    this.retry = {
      attempts: options.retry?.attempts ?? 5,
      initialMs: options.retry?.initialMs ?? 250,
      maxMs: options.retry?.maxMs ?? 8_000,
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 60_000,
    };
    const common = { keepAlive: true, maxFreeSockets: 16, scheduling: 'lifo' as const };
    const plain = this.url.protocol === 'http:';
    if (connection.proxy) {
      this.agent = plain
        ? new HttpProxyAgent({ ...common, proxy: connection.proxy })
        : new HttpsProxyAgent({ ...common, ...connection.tls, proxy: connection.proxy });
    } else {
      this.agent = plain ? new http.Agent(common) : new https.Agent({ ...common, ...connection.tls });
    }
  }

  /** One request; resolves with the parsed JSON answer. */
  async request<T>(req: KubeRequest): Promise<T> {
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    return this.withRetries(req.method, req.path, req.query, headers, (options) =>
      this.once<T>(req, options, body),
    );
  }

  /**
   * Starts a watch (`watch=true` is added). Resolves once the server answered 200 and the stream
   * is open, with the controller that stops it; `onEvent` gets each event's type and object,
   * `onDone` runs once when the stream ends (with the error, if any; an abort is an AbortError).
   * A non-200 answer rejects with a KubeApiError (after the retries a read gets).
   */
  async watch(
    path: string,
    query: Query,
    onEvent: WatchHandler,
    onDone: (error?: unknown) => void,
  ): Promise<AbortController> {
    return this.withRetries(
      'GET',
      path,
      { ...query, watch: true },
      { Accept: 'application/json' },
      (options) => this.watchOnce(path, options, onEvent, onDone),
    );
  }

  /** Closes idle connections (for shutdown and tests). */
  destroy(): void {
    this.agent.destroy();
  }

  /**
   * Sends with `send` until it succeeds or a failure is not worth another attempt; each attempt
   * gets fresh options (credentials may have been refreshed).
   */
  private async withRetries<T>(
    method: string,
    path: string,
    query: Query | undefined,
    headers: Record<string, string>,
    send: (options: RequestOptionsWithHeaders) => Promise<T>,
  ): Promise<T> {
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const { options, refresh } = await this.options(method, path, query, { ...headers });
      try {
        return await send(options);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 401 && refresh && !refreshed && refresh()) {
          // Not counted as an attempt: the credentials, not the server, were at fault.
          refreshed = true;
          attempt--;
          continue;
        }
        const delay = attempt < this.retry.attempts ? this.retryDelay(method, error, attempt) : undefined;
        if (delay === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** How long to wait before sending again, or undefined when the failure is final. */
  private retryDelay(method: string, error: unknown, attempt: number): number | undefined {
    const read = method === 'GET';
    const backoff = Math.min(this.retry.initialMs * 2 ** (attempt - 1), this.retry.maxMs);
    const jittered = backoff * (0.8 + Math.random() * 0.4);
    if (error instanceof KubeApiError) {
      const after = error.retryAfterSeconds;
      if (after !== undefined && (error.code === 429 || error.code >= 500)) {
        const ms = after * 1000;
        return ms > this.retry.maxRetryAfterMs ? undefined : Math.max(ms, 0);
      }
      if (error.code === 429) return jittered;
      if (read && error.code >= 500) return jittered;
      return undefined;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) return jittered;
    return read ? jittered : undefined;
  }

  private once<T>(
    req: KubeRequest,
    options: RequestOptionsWithHeaders,
    body: string | undefined,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const request = this.transport().request(options, (response) => {
        const status = response.statusCode ?? 0;
        readJson(response).then((parsed) => {
          if (status < 200 || status > 299) reject(apiError(response, parsed, req.method, req.path));
          else resolve(parsed as T);
        }, reject);
      });
      request.setTimeout(REQUEST_TIMEOUT_MS, () =>
        request.destroy(
          Object.assign(new Error(`${req.method} ${req.path}: no answer within ${REQUEST_TIMEOUT_MS} ms`), {
            code: 'ETIMEDOUT',
          }),
        ),
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  private watchOnce(
    path: string,
    options: RequestOptionsWithHeaders,
    onEvent: WatchHandler,
    onDone: (error?: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    return new Promise<AbortController>((resolve, reject) => {
      let opened = false;
      let done = false;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        onDone(error);
      };
      const request = this.transport().request({ ...options, signal: controller.signal }, (response) => {
        if (response.statusCode !== 200) {
          readJson(response).then((body) => reject(apiError(response, body, 'GET', path)), reject);
          return;
        }
        opened = true;
        resolve(controller);
        const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
        lines.on('line', (line) => {
          if (line.trim() === '' || done) return;
          let event: { type?: string; object?: unknown };
          try {
            event = JSON.parse(line) as { type?: string; object?: unknown };
          } catch (error) {
            controller.abort();
            finish(error);
            return;
          }
          onEvent(event.type ?? '', event.object);
        });
        lines.on('close', () => finish());
        // readline passes the stream's errors on (a reset connection, an abort).
        lines.on('error', (error) => finish(controller.signal.aborted ? abortError() : error));
        response.on('error', (error) => finish(controller.signal.aborted ? abortError() : error));
      });
      request.on('error', (error) => {
        // Before the stream opened, the start failed (and may be retried); after, the stream ends.
        if (opened) finish(error);
        else reject(error);
      });
      request.end();
    });
  }

  private transport(): typeof https | typeof http {
    return this.url.protocol === 'http:' ? http : https;
  }

  private async options(
    method: string,
    path: string,
    query: Query | undefined,
    headers: Record<string, string>,
  ): Promise<{ options: RequestOptionsWithHeaders; refresh: RefreshOn401 | undefined }> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') search.set(name, String(value));
    }
    const qs = search.toString();
    const options: RequestOptionsWithHeaders = {
      protocol: this.url.protocol,
      hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'http:' ? 80 : 443),
      method,
      path: `${this.url.pathname.replace(/\/$/, '')}${path}${qs ? `?${qs}` : ''}`,
      headers: { ...headers, 'User-Agent': USER_AGENT },
      agent: this.agent,
    };
    const refresh = await this.connection.authenticate(options);
    return { options, refresh };
  }
}

type RequestOptionsWithHeaders = AuthOptions;

function apiError(response: http.IncomingMessage, body: unknown, method: string, path: string): KubeApiError {
  return new KubeApiError(
    response.statusCode ?? 0,
    body,
    method,
    path,
    retryAfter(response.headers['retry-after']),
  );
}

/** Retry-After in seconds: delta-seconds or an HTTP date. */
export function retryAfter(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The whole answer, as JSON when it parses (the API server's Status), else as text. */
async function readJson(response: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function abortError(): Error {
  const error = new Error('the watch was aborted');
  error.name = 'AbortError';
  return error;
}

/** The path of a resource collection or object: core (`group` '') or a named API group. */
export function resourcePath(r: {
  group: string;
  version: string;
  plural: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string;
}): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespace ? `/namespaces/${encodeURIComponent(r.namespace)}` : '';
  const name = r.name ? `/${encodeURIComponent(r.name)}` : '';
  const sub = r.name && r.subresource ? `/${r.subresource}` : '';
  return `${base}${ns}/${r.plural}${name}${sub}`;
}

/** A MicroTime as the API server writes it (RFC 3339 with microseconds). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Loads the configuration (see config.ts for the order) and returns a client for it. */
export async function connectKube(options: LoadOptions & { retry?: RetryOptions } = {}): Promise<KubeClient> {
  return new KubeClient(await loadKubeConnection(options), options.retry ? { retry: options.retry } : {});
}
