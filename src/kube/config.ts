// Where the Kubernetes API server is and how to authenticate to it, found as controller-runtime
// finds it: --kubeconfig, then KUBECONFIG, then the pod's service account, then ~/.kube/config.
//
// Read here, without client-node: the in-cluster service account (its token file is read again
// every minute, since kubelet rotates it), and kubeconfig users with a token, a token file, client
// certificates, basic auth or an exec credential plugin (EKS's `aws eks get-token`, run once per
// process: exec-credentials.ts), impersonation (`as`, `as-groups`, `as-uid`, `as-user-extra`, sent
// as Impersonate-* headers as kubectl does) and an HTTP(S) `proxy-url`. A user with an
// `auth-provider` (oidc, or gcp/azure, which kubectl itself dropped in 1.26) or a socks5 proxy is
// refused at start with what to use instead, never half-applied.
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ExecConfig, ExecCredentials } from './exec-credentials.js';

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
   * returned). Called for every request, so rotated tokens take effect. Returns, when fresh
   * credentials can be had, what to call if the API server answers 401 to these: the client
   * then sends the request once more.
   */
  authenticate(options: AuthOptions): Promise<RefreshOn401 | undefined>;
  /** An HTTP(S) proxy the connections go through (kubeconfig `proxy-url`). */
  proxy?: string;
}

export type AuthOptions = RequestOptions & { headers: Record<string, string | string[]> };
/** Drops the refused credentials; true when the request is worth sending again. */
export type RefreshOn401 = () => boolean;
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

/**
 * A file read again once it is older than `maxAgeMs` (a projected service account token), or
 * at the next read after `stale()` (the API server refused what it held).
 */
function rereadEvery(path: string, maxAgeMs: number): { read: () => string; stale: () => void } {
  let value = '';
  let readAt = Number.NEGATIVE_INFINITY;
  return {
    read: () => {
      if (Date.now() - readAt >= maxAgeMs) {
        value = readFileSync(path, 'utf8').trim();
        readAt = Date.now();
      }
      return value;
    },
    stale: () => {
      readAt = Number.NEGATIVE_INFINITY;
    },
  };
}

/** Sends `Authorization: <value>` on every request. */
function authorization(value: () => string, refresh?: RefreshOn401): Authenticate {
  return async (options) => {
    options.headers.Authorization = value();
    return refresh;
  };
}

/**
 * A bearer token from a file, read now (so a missing file fails at start), every minute, and
 * again after a 401 (kubelet may have rotated it within the minute).
 */
function tokenFileAuthentication(path: string): Authenticate {
  const token = rereadEvery(path, TOKEN_REREAD_MS);
  token.read();
  return authorization(
    () => `Bearer ${token.read()}`,
    () => {
      token.stale();
      return true;
    },
  );
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
  const authProvider = (user['auth-provider'] as { name?: unknown } | undefined)?.name;
  if (user['auth-provider']) {
    throw new Error(
      `${source}: user "${context.user}" uses auth-provider "${String(authProvider)}", which the operator does not run: use an exec credential plugin instead (kubectl dropped the gcp and azure providers in 1.26: gke-gcloud-auth-plugin, kubelogin; for OIDC, kubelogin's oidc-login)`,
    );
  }
  const proxy = proxyOf(cluster, source);
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
    authenticate: impersonating(userAuthentication(user, cluster as { server: string }), user),
    ...(proxy && { proxy }),
  };
}

/** The cluster's `proxy-url`, when it is one the client can use (http or https). */
function proxyOf(cluster: Record<string, unknown>, source: string): string | undefined {
  const url = cluster['proxy-url'];
  if (typeof url !== 'string' || url === '') return undefined;
  const protocol = URL.canParse(url) ? new URL(url).protocol : '';
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(
      `${source}: proxy-url ${url}: only http:// and https:// proxies are supported (not socks5)`,
    );
  }
  return url;
}

/**
 * The user's impersonation (`as`, `as-uid`, `as-groups`, `as-user-extra`) as the Impersonate-*
 * headers kubectl sends; the API server checks the `impersonate` verb against the real user.
 */
function impersonating(authenticate: Authenticate, user: Record<string, unknown>): Authenticate {
  const headers: Record<string, string | string[]> = {};
  const as = user.as;
  const groups = user['as-groups'];
  const uid = user['as-uid'];
  const extra = user['as-user-extra'];
  if (typeof as === 'string' && as !== '') headers['Impersonate-User'] = as;
  if (Array.isArray(groups) && groups.length > 0) headers['Impersonate-Group'] = groups.map(String);
  if (typeof uid === 'string' && uid !== '') headers['Impersonate-Uid'] = uid;
  if (extra && typeof extra === 'object') {
    for (const [key, values] of Object.entries(extra as Record<string, unknown>)) {
      if (Array.isArray(values)) headers[`Impersonate-Extra-${encodeURIComponent(key)}`] = values.map(String);
    }
  }
  if (Object.keys(headers).length === 0) return authenticate;
  if (headers['Impersonate-User'] === undefined) {
    // The API server refuses groups, uid or extras without a user: say so at start.
    throw new Error('kubeconfig: as-groups, as-uid and as-user-extra need `as` (the user to impersonate)');
  }
  return async (options) => {
    const refresh = await authenticate(options);
    Object.assign(options.headers, headers);
    return refresh;
  };
}

const PATH_FIELDS = ['certificate-authority', 'client-certificate', 'client-key', 'tokenFile'];

function absolute(entry: Record<string, unknown>, dir: string): Record<string, unknown> {
  const out = { ...entry };
  for (const field of PATH_FIELDS) {
    const value = out[field];
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) out[field] = join(dir, value);
  }
  // An exec command with a slash in it is relative to the file too, as client-go reads it.
  const exec = out.exec as { command?: unknown } | undefined;
  if (exec && typeof exec.command === 'string' && exec.command.includes('/') && !isAbsolute(exec.command)) {
    out.exec = { ...exec, command: join(dir, exec.command) };
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

function userAuthentication(u: Record<string, unknown>, cluster: { server: string }): Authenticate {
  if (typeof u.token === 'string' && u.token !== '') return authorization(() => `Bearer ${u.token}`);
  if (typeof u.tokenFile === 'string' && u.tokenFile !== '') return tokenFileAuthentication(u.tokenFile);
  if (u.exec && typeof u.exec === 'object') {
    const exec = new ExecCredentials(u.exec as ExecConfig, cluster);
    return async (options) => {
      const credential = await exec.get();
      if (credential.token !== undefined) options.headers.Authorization = `Bearer ${credential.token}`;
      if (credential.cert !== undefined && credential.key !== undefined) {
        options.cert = credential.cert;
        options.key = credential.key;
      }
      return () => {
        exec.invalidate(credential);
        return true;
      };
    };
  }
  if (typeof u.username === 'string' && typeof u.password === 'string') {
    const basic = `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
    return authorization(() => basic);
  }
  return async () => undefined;
}
