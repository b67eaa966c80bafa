// The operator's Kubernetes client: JSON over one keep-alive HTTPS agent, for the handful of
// calls the controllers make (list, watch, read, create, replace, patch, delete). It stands in
// for client-node's generated API classes, whose code alone held half the idle operator's memory.
// Errors carry the HTTP status as `code` and the API server's Status as `body`, as client-node's
// ApiException does, so errors.ts reads both.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { type KubeConnection, type LoadOptions, loadKubeConnection } from './config.js';

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
  ) {
    const message = (body as { message?: unknown } | undefined)?.message;
    super(`${method} ${path}: HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`);
    this.name = 'KubeApiError';
  }
}

export type WatchHandler = (type: string, object: unknown) => void;

/** How long a request (not a watch) may take before it fails, as client-go's default timeout. */
const REQUEST_TIMEOUT_MS = 60_000;

export class KubeClient {
  readonly server: string;
  readonly source: string;
  readonly namespace: string | undefined;
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(private readonly connection: KubeConnection) {
    this.server = connection.server;
    this.source = connection.source;
    this.namespace = connection.namespace;
    this.url = new URL(connection.server);
    const common = { keepAlive: true, maxFreeSockets: 16, scheduling: 'lifo' as const };
    this.agent =
      this.url.protocol === 'http:'
        ? new http.Agent(common)
        : new https.Agent({ ...common, ...connection.tls });
  }

  /** One request; resolves with the parsed JSON answer. */
  async request<T>(req: KubeRequest): Promise<T> {
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const options = await this.options(req.method, req.path, req.query, headers);
    return new Promise<T>((resolve, reject) => {
      const request = this.transport().request(options, (response) => {
        const status = response.statusCode ?? 0;
        readJson(response).then((parsed) => {
          if (status < 200 || status > 299) reject(new KubeApiError(status, parsed, req.method, req.path));
          else resolve(parsed as T);
        }, reject);
      });
      request.setTimeout(REQUEST_TIMEOUT_MS, () =>
        request.destroy(new Error(`${req.method} ${req.path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)),
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  /**
   * Starts a watch (`watch=true` is added). Resolves once the server answered 200 and the stream
   * is open, with the controller that stops it; `onEvent` gets each event's type and object,
   * `onDone` runs once when the stream ends (with the error, if any; an abort is an AbortError).
   * A non-200 answer rejects with a KubeApiError.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: WatchHandler,
    onDone: (error?: unknown) => void,
  ): Promise<AbortController> {
    const options = await this.options(
      'GET',
      path,
      { ...query, watch: true },
      { Accept: 'application/json' },
    );
    const controller = new AbortController();
    return new Promise<AbortController>((resolve, reject) => {
      let done = false;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        onDone(error);
      };
      const request = this.transport().request({ ...options, signal: controller.signal }, (response) => {
        if (response.statusCode !== 200) {
          readJson(response).then(
            (body) => reject(new KubeApiError(response.statusCode ?? 0, body, 'GET', path)),
            reject,
          );
          return;
        }
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
        reject(error);
        finish(error);
      });
      request.end();
    });
  }

  /** Closes idle connections (for shutdown and tests). */
  destroy(): void {
    this.agent.destroy();
  }

  private transport(): typeof https | typeof http {
    return this.url.protocol === 'http:' ? http : https;
  }

  private async options(
    method: string,
    path: string,
    query: Query | undefined,
    headers: Record<string, string>,
  ): Promise<https.RequestOptions & { headers: Record<string, string> }> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') search.set(name, String(value));
    }
    const qs = search.toString();
    const options: https.RequestOptions & { headers: Record<string, string> } = {
      protocol: this.url.protocol,
      hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'http:' ? 80 : 443),
      method,
      path: `${this.url.pathname.replace(/\/$/, '')}${path}${qs ? `?${qs}` : ''}`,
      headers,
      agent: this.agent,
    };
    if (this.connection.agentFrom) await this.connection.agentFrom(options);
    else await this.connection.authenticate(options);
    return options;
  }
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
export async function connectKube(options: LoadOptions = {}): Promise<KubeClient> {
  return new KubeClient(await loadKubeConnection(options));
}
