// Credentials from a kubeconfig exec plugin (client.authentication.k8s.io, e.g. `aws eks
// get-token`), as client-go's exec authenticator runs them: one credential per process, shared by
// every request, watch, the lease and the workers. The plugin runs again only when the credential
// is about to expire (before it does, so no request goes out with an expired token) or when the
// API server answered 401 to it; concurrent callers at that moment wait for the same single run.
import { execFile } from 'node:child_process';

export interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  installHint?: string;
  provideClusterInfo?: boolean;
}

export interface ExecCredential {
  token?: string;
  cert?: string;
  key?: string;
  /** Wall-clock ms; undefined: valid until the API server refuses it. */
  expiresAt?: number;
}

/** How long a plugin may run before it is killed (a plugin waiting for input never answers). */
const PLUGIN_TIMEOUT_MS = 60_000;
/** Refresh this long before expiry at most (EKS tokens last 15 minutes). */
const REFRESH_BEFORE_MS = 60_000;

export class ExecCredentials {
  private current: { credential: ExecCredential; refreshAt: number } | undefined;
  private running: Promise<ExecCredential> | undefined;
  /** How many times the plugin ran (the metric a test reads). */
  runs = 0;

  constructor(
    private readonly config: ExecConfig,
    private readonly cluster: { server: string; 'certificate-authority-data'?: string },
    private readonly now: () => number = () => Date.now(),
  ) {
    if (typeof config.command !== 'string' || config.command === '') {
      throw new Error('the exec credential plugin has no command');
    }
  }

  /** The credential to send now: the cached one, or one fresh run shared by every caller. */
  async get(): Promise<ExecCredential> {
    if (this.current && this.now() < this.current.refreshAt) return this.current.credential;
    return this.run();
  }

  /**
   * The API server refused `used` (401): the next get() runs the plugin again, once, however
   * many requests were refused with the same credential.
   */
  invalidate(used: ExecCredential): void {
    if (this.current?.credential === used) this.current = undefined;
  }

  private run(): Promise<ExecCredential> {
    this.running ??= this.exec().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async exec(): Promise<ExecCredential> {
    this.runs++;
    const apiVersion = this.config.apiVersion ?? 'client.authentication.k8s.io/v1';
    const info = {
      apiVersion,
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        ...(this.config.provideClusterInfo && {
          cluster: {
            server: this.cluster.server,
            ...(this.cluster['certificate-authority-data'] && {
              'certificate-authority-data': this.cluster['certificate-authority-data'],
            }),
          },
        }),
      },
    };
    const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const entry of this.config.env ?? []) env[entry.name] = entry.value;
    const started = this.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        this.config.command,
        this.config.args ?? [],
        { env, timeout: PLUGIN_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
        (error, out, err) => {
          if (!error) return resolve(out);
          const hint = this.config.installHint ? `\n${this.config.installHint.trim()}` : '';
          const stderr = String(err).trim().split('\n').slice(-3).join(' | ');
          reject(
            new Error(
              `exec credential plugin ${this.config.command} failed: ${error.message.split('\n')[0]}${stderr ? `: ${stderr}` : ''}${hint}`,
            ),
          );
        },
      );
    });
    const credential = parse(stdout, this.config.command);
    const lifetime = credential.expiresAt === undefined ? undefined : credential.expiresAt - started;
    const refreshAt =
      credential.expiresAt === undefined || lifetime === undefined
        ? Number.POSITIVE_INFINITY
        : credential.expiresAt - Math.min(REFRESH_BEFORE_MS, Math.max(lifetime, 0) / 2);
    this.current = { credential, refreshAt };
    return credential;
  }
}

function parse(stdout: string, command: string): ExecCredential {
  let answer: { kind?: string; status?: Record<string, unknown> };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new Error(`exec credential plugin ${command} did not print an ExecCredential (JSON)`);
  }
  const status = answer.status ?? {};
  const text = (field: string) =>
    typeof status[field] === 'string' && status[field] !== '' ? (status[field] as string) : undefined;
  const token = text('token');
  const cert = text('clientCertificateData');
  const key = text('clientKeyData');
  if (
    answer.kind !== 'ExecCredential' ||
    (token === undefined && (cert === undefined || key === undefined))
  ) {
    throw new Error(`exec credential plugin ${command} returned no token and no client certificate`);
  }
  const expiry = text('expirationTimestamp');
  const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
  return {
    ...(token !== undefined && { token }),
    ...(cert !== undefined && key !== undefined && { cert, key }),
    ...(expiresAt !== undefined && !Number.isNaN(expiresAt) && { expiresAt }),
  };
}
