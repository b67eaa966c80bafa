// The operator's two small HTTP servers, as controller-runtime has them:
//   --metrics-addr (default :8080, "0" disables): GET /metrics, Prometheus text format;
//   --health-addr  (default :8081, "0" disables): GET /healthz (liveness) and /readyz (readiness).
// Addresses are `host:port`, `:port` (all interfaces) or port 0 for any free port; the bound
// address is logged as {"msg":"serving metrics","address":"127.0.0.1:PORT"} (tests read it).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface ListenAddress {
  /** undefined: every interface. */
  host: string | undefined;
  port: number;
}

/** Parses `host:port`, `:port`, `[v6]:port` or `port`; `undefined` for "0" (disabled). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const value = text.trim();
  if (value === '0' || value === '') return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  if (!match) throw new Error(`invalid address "${text}": expected host:port, :port or 0 to disable`);
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid port in address "${text}"`);
  const host = match[1] || match[2] || undefined;
  return { host, port };
}

export interface RunningServer {
  /** host:port actually bound, e.g. 127.0.0.1:43123 or [::]:8080. */
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface ReadinessCheck {
  name: string;
  /** undefined when ready; otherwise why not. */
  check(): string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

async function serve(
  what: string,
  address: ListenAddress,
  routes: Record<string, Handler>,
  logger: Logger,
): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = req.method === 'GET' || req.method === 'HEAD' ? routes[path] : undefined;
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      logger.error(
        { err: error instanceof Error ? error.message : String(error), path },
        'HTTP handler failed',
      );
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  // Keep-alive connections from scrapers must not hold shutdown up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, ...(address.host !== undefined && { host: address.host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const text = `${host}:${bound.port}`;
  logger.info({ address: text }, `serving ${what}`);
  return {
    address: text,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Serves /metrics from `render`; `undefined` when the address is "0". */
export async function startMetricsServer(
  addr: string,
  render: () => Promise<{ contentType: string; body: string }>,
  logger: Logger,
): Promise<RunningServer | undefined> {
  const address = parseListenAddress(addr);
  if (!address) return undefined;
  return serve(
    'metrics',
    address,
    {
      '/metrics': async (_req, res) => {
        const { contentType, body } = await render();
        res.writeHead(200, { 'content-type': contentType }).end(body);
      },
    },
    logger,
  );
}

/** Serves /healthz and /readyz; `undefined` when the address is "0". */
export async function startHealthServer(
  addr: string,
  readiness: ReadinessCheck[],
  logger: Logger,
): Promise<RunningServer | undefined> {
  const address = parseListenAddress(addr);
  if (!address) return undefined;
  return serve(
    'health probes',
    address,
    {
      // Liveness: answering at all proves the event loop is turning.
      '/healthz': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      },
      '/readyz': (_req, res) => {
        const { ok, body } = readinessReport(readiness);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(body);
      },
    },
    logger,
  );
}

/** The Kubernetes-style report: one `[+]name ok` or `[-]name failed: why` line per check. */
export function readinessReport(checks: ReadinessCheck[]): { ok: boolean; body: string } {
  let ok = true;
  const lines: string[] = [];
  for (const c of checks) {
    let problem: string | undefined;
    try {
      problem = c.check();
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    if (problem === undefined) {
      lines.push(`[+]${c.name} ok`);
    } else {
      ok = false;
      lines.push(`[-]${c.name} failed: ${problem}`);
    }
  }
  lines.push(ok ? 'readyz check passed' : 'readyz check failed');
  return { ok, body: `${lines.join('\n')}\n` };
}
