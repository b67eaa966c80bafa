// Where the Kubernetes API server is and how to authenticate to it, found as controller-runtime
// finds it: --kubeconfig, then KUBECONFIG, then the pod's service account, then ~/.kube/config.
//
// The common cases are read here directly: the in-cluster service account (its token file is read
// again every minute, since kubelet rotates it), and kubeconfig users with a token, a token file,
// client certificates, basic auth or an exec credential plugin (EKS's `aws eks get-token`;
// client-node's ExecAuth runs it and caches its answer until it expires). A kubeconfig that needs
// anything else (an auth-provider such as oidc, or a proxy-url) is handed whole to client-node's
// KubeConfig, loaded only then: importing client-node costs the process about 60 MB of memory,
// mostly its generated API code, which the operator does not use.
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

/** TLS settings of the connection: one keep-alive agent is built from them. */
export interface KubeTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface KubeConnection {
  /** The API server's URL, without a trailing slash. */
  server: string;
  /** Where the configuration came from, for the log. */
  source: string;
  /** The current context's namespace (in a pod: the service account's), if any. */
  namespace?: string;
  tls: KubeTls;
  /**
   * Adds the credentials to one request (headers, or a client certificate an exec plugin
   * returned). Called for every request, so rotated tokens take effect.
   */
  authenticate(options: RequestOptions & { headers: Record<string, string> }): Promise<void>;
  /** Set when the agent comes from client-node (a proxy), not from `tls`. */
  agentFrom?: (options: RequestOptions) => Promise<void>;
}

type Authenticate = KubeConnection['authenticate'];

export interface LoadOptions {
  /** --kubeconfig */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the service account is mounted (tests point it elsewhere). */
  serviceAccountDir?: string;
  home?: string;
}

/** Loads the configuration: flag, KUBECONFIG, in-cluster, ~/.kube/config. */
export async function loadKubeConnection(options: LoadOptions = {}): Promise<KubeConnection> {
  const env = options.env ?? process.env;
  if (options.path) return fromFiles([options.path], options.path);
  if (env.KUBECONFIG) {
    const paths = env.KUBECONFIG.split(':').filter((p) => p !== '');
    return fromFiles(paths, `KUBECONFIG=${env.KUBECONFIG}`);
  }
  const saDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) return inCluster(env, saDir);
  const home = join(options.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFiles([home], home);
  throw new Error('no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod');
}

/** A file read again once it is older than `maxAgeMs` (a projected service account token). */
function rereadEvery(path: string, maxAgeMs: number): () => string {
  let value = '';
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (Date.now() - readAt >= maxAgeMs) {
      value = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return value;
  };
}

/** Sends `Authorization: <value>` on every request. */
function authorization(value: () => string): Authenticate {
  return async (options) => {
    options.headers.Authorization = value();
  };
}

/** A bearer token from a file, read now (so a missing file fails at start) and every minute. */
function tokenFileAuthentication(path: string): Authenticate {
  const token = rereadEvery(path, TOKEN_REREAD_MS);
  token();
  return authorization(() => `Bearer ${token()}`);
}

function inCluster(env: NodeJS.ProcessEnv, saDir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const namespaceFile = join(saDir, 'namespace');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    source: 'in-cluster service account',
    ...(existsSync(namespaceFile) && { namespace: readFileSync(namespaceFile, 'utf8').trim() }),
    tls: { ca: readFileSync(join(saDir, 'ca.crt')), rejectUnauthorized: true },
    authenticate: tokenFileAuthentication(join(saDir, 'token')),
  };
}

// --- kubeconfig files --------------------------------------------------------------------------

interface KubeconfigFile {
  'current-context'?: string;
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
  contexts?: Array<{ name: string; context: { cluster?: string; user?: string; namespace?: string } }>;
}

/**
 * Merges the files as kubectl does (the first file to set a name or the current context wins),
 * with each file's relative paths taken from its own directory.
 */
async function fromFiles(paths: string[], source: string): Promise<KubeConnection> {
  let current: string | undefined;
  const clusters = new Map<string, Record<string, unknown>>();
  const users = new Map<string, Record<string, unknown>>();
  const contexts = new Map<string, { cluster?: string; user?: string; namespace?: string }>();
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      // kubectl skips KUBECONFIG entries that do not exist; a named --kubeconfig must exist.
      if (paths.length > 1 && (error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const file = (parseYaml(text) ?? {}) as KubeconfigFile;
    const dir = dirname(resolve(path));
    current ??= file['current-context'] || undefined;
    for (const c of file.clusters ?? []) {
      if (c?.name && !clusters.has(c.name)) clusters.set(c.name, absolute(c.cluster ?? {}, dir));
    }
    for (const u of file.users ?? []) {
      if (u?.name && !users.has(u.name)) users.set(u.name, absolute(u.user ?? {}, dir));
    }
    for (const c of file.contexts ?? [])
      if (c?.name && !contexts.has(c.name)) contexts.set(c.name, c.context ?? {});
  }
  if (!current) throw new Error(`${source}: no current-context`);
  const context = contexts.get(current);
  if (!context) throw new Error(`${source}: context "${current}" not found`);
  const cluster = context.cluster ? clusters.get(context.cluster) : undefined;
  if (!cluster || typeof cluster.server !== 'string') {
    throw new Error(`${source}: context "${current}" has no cluster with a server`);
  }
  const user = (context.user ? users.get(context.user) : undefined) ?? {};
  if (cluster['proxy-url'] || user['auth-provider']) return viaClientNode(paths, source);
  const server = cluster.server.replace(/\/+$/, '');
  const tls: KubeTls = {
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    ...fileOrData(cluster, 'certificate-authority', 'ca'),
    ...(typeof cluster['tls-server-name'] === 'string' && { servername: cluster['tls-server-name'] }),
    ...fileOrData(user, 'client-certificate', 'cert'),
    ...fileOrData(user, 'client-key', 'key'),
  };
  return {
    server,
    source,
    ...(context.namespace && { namespace: context.namespace }),
    tls,
    authenticate: await userAuthentication(context.user ?? '', user),
  };
}

const PATH_FIELDS = ['certificate-authority', 'client-certificate', 'client-key', 'tokenFile'];

function absolute(entry: Record<string, unknown>, dir: string): Record<string, unknown> {
  const out = { ...entry };
  for (const field of PATH_FIELDS) {
    const value = out[field];
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) out[field] = join(dir, value);
  }
  return out;
}

/** `<name>-data` (base64) or `<name>` (a file), as the TLS option `option`. */
function fileOrData(entry: Record<string, unknown>, name: string, option: 'ca' | 'cert' | 'key') {
  const data = entry[`${name}-data`];
  if (typeof data === 'string' && data !== '') return { [option]: Buffer.from(data, 'base64') };
  const file = entry[name];
  if (typeof file === 'string' && file !== '') return { [option]: readFileSync(file) };
  return {};
}

async function userAuthentication(name: string, u: Record<string, unknown>): Promise<Authenticate> {
  if (typeof u.token === 'string' && u.token !== '') return authorization(() => `Bearer ${u.token}`);
  if (typeof u.tokenFile === 'string' && u.tokenFile !== '') return tokenFileAuthentication(u.tokenFile);
  if (u.exec && typeof u.exec === 'object') {
    // client-node's exec plugin runner (no generated code behind it): runs the command, caches
    // the credential until its expirationTimestamp, sets the bearer token or client certificate.
    const { ExecAuth } = await import('@kubernetes/client-node/dist/exec_auth.js');
    const exec = new ExecAuth();
    const execUser = { name, exec: u.exec };
    return (options) => exec.applyAuthentication(execUser, options);
  }
  if (typeof u.username === 'string' && typeof u.password === 'string') {
    const basic = `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
    return authorization(() => basic);
  }
  return async () => {};
}

/** The rare kubeconfig this module does not read itself: client-node's KubeConfig does it all. */
async function viaClientNode(paths: string[], source: string): Promise<KubeConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { shareConnections } = await import('./client-node-connections.js');
  const kc = new KubeConfig();
  if (paths.length === 1) kc.loadFromFile(paths[0] as string);
  else kc.loadFromDefault();
  shareConnections(kc);
  const server = (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return {
    server,
    source,
    ...(namespace && { namespace }),
    tls: { rejectUnauthorized: true },
    authenticate: async () => {},
    agentFrom: async (options) => {
      await kc.applyToHTTPSOptions(options);
    },
  };
}
