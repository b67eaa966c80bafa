// One AwsPort per (identity, region), built on first use and kept: the SDK clients hold keep-alive
// connections, and the token bucket of a (role, region) must be shared by every caller of it. The
// identity is the operator's own, or a namespace's role (accounts.ts), whose clients sign with
// that role's cached, refreshed AssumeRole credentials.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient } from '@aws-sdk/client-sts';
import { type NamespaceRole, RoleCredentials, sessionKey } from './accounts.js';
import { type AwsCallObserver, installCallMiddleware } from './middleware.js';
import type { AwsPort } from './port.js';
import { TokenBucket } from './rate-limiter.js';
import { SdkAwsPort } from './sdk-port.js';
import { SHARED_TENANT } from './tenant.js';

export interface AwsClientsOptions {
  /** `--aws-endpoint`: one endpoint for both EMR Serverless and KMS (the local service). */
  endpoint?: string;
  /** `--aws-rps`: requests per second per region, EMR Serverless and KMS together; default 20. `<= 0`: unlimited. */
  rps?: number;
  /** Requests a region may send at once after a quiet spell; default `rps`. */
  burst?: number;
  /** SDK attempts per call, first one included (standard retry mode); default 3. */
  maxAttempts?: number;
  /** Gives up on a request whose answer has not come after this long; default 30 s. */
  requestTimeoutMs?: number;
  observer?: AwsCallObserver;
  /** Where to look for configured credentials; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Region of the STS endpoint AssumeRole is sent to; default us-east-1. */
  stsRegion?: string;
  /** AssumeRole's requested lifetime in seconds; default 3600. */
  roleSessionSeconds?: number;
}

/** Whom the clients act as: a namespace's role in one session, or (undefined) the operator itself. */
export interface RoleSession {
  role: NamespaceRole;
  /** Names the operator and the namespace (roleSessionName()); visible in CloudTrail. */
  sessionName: string;
}

/** The metrics label of the operator's own identity. */
export const OPERATOR_ACCOUNT_LABEL = 'operator';

export const DEFAULT_AWS_RPS = 20;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const CONNECTION_TIMEOUT_MS = 5_000;
/** Sockets per host: sized for ~50 concurrent reconciles (the bucket bounds the rate, not this). */
const MAX_SOCKETS = 64;

/** What the local service accepts; it checks no signatures. */
const LOCAL_SERVICE_CREDENTIALS = { accessKeyId: 'local-service', secretAccessKey: 'local-service' };

/**
 * The credentials to hand the SDK instead of its default chain: placeholders, and only for an
 * explicit endpoint (`--aws-endpoint`, the local service) with no credentials configured. Against
 * AWS itself the answer is always undefined, so a missing identity fails loudly there.
 */
export function placeholderCredentials(
  endpoint: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): typeof LOCAL_SERVICE_CREDENTIALS | undefined {
  if (endpoint === undefined || endpoint === '') return undefined;
  return credentialsConfigured(env) ? undefined : LOCAL_SERVICE_CREDENTIALS;
}

/**
 * Whether the SDK's default provider chain has something to find besides instance metadata:
 * credentials or a profile in the environment, web identity (IRSA), container credentials
 * (EKS Pod Identity, ECS), or a shared credentials/config file.
 */
export function credentialsConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  const hints = [
    'AWS_ACCESS_KEY_ID',
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  ];
  if (hints.some((name) => env[name])) return true;
  const awsDir = join(homedir(), '.aws');
  const files = [
    env.AWS_SHARED_CREDENTIALS_FILE ?? join(awsDir, 'credentials'),
    env.AWS_CONFIG_FILE ?? join(awsDir, 'config'),
  ];
  return files.some((file) => existsSync(file));
}

interface ScopeClients {
  port: SdkAwsPort;
  emr: EMRServerlessClient;
  kms: KMSClient;
  bucket: TokenBucket;
}

export class AwsClients {
  private readonly scopes = new Map<string, ScopeClients>();
  /** Per (role, region): namespaces sharing a role share its rate limit. */
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly rps: number;
  private stsClient: STSClient | undefined;
  private roleCredentialsCache: RoleCredentials | undefined;
  /** Set when requests are signed with placeholders (the local service, nothing configured). */
  readonly placeholderCredentials: boolean;
  private readonly credentials: ReturnType<typeof placeholderCredentials>;

  constructor(private readonly options: AwsClientsOptions = {}) {
    this.rps = options.rps ?? DEFAULT_AWS_RPS;
    this.credentials = placeholderCredentials(options.endpoint, options.env);
    this.placeholderCredentials = this.credentials !== undefined;
  }

  /** The port of the operator's own identity in a region; `tenant`: the namespace its calls are for. */
  forRegion(region: string, tenant?: string): AwsPort {
    return this.forSession(undefined, region, tenant);
  }

  /**
   * The port of a role session (or the operator's own identity) in a region. With a `tenant` (a
   * namespace), a port over the same clients whose calls take that namespace's turn at the rate
   * limit and count as its own; without, the shared one.
   */
  forSession(session: RoleSession | undefined, region: string, tenant?: string): AwsPort {
    const clients = this.scopeClients(session, region);
    if (tenant === undefined || tenant === SHARED_TENANT) return clients.port;
    // A few fields over the shared clients: made per scope rather than kept per namespace.
    const { emr, kms } = clients;
    return new SdkAwsPort({ region, account: session?.role.account, emr, kms, tenant });
  }

  /** The token bucket of a role (default: the operator's own identity) in a region (for metrics and tests). */
  bucketFor(region: string, roleArn?: string): TokenBucket {
    return this.bucket(roleArn, region);
  }

  /** The STS client of the operator's own identity (AssumeRole). */
  get sts(): STSClient {
    const region = this.options.stsRegion ?? 'us-east-1';
    this.stsClient ??= this.instrument(
      new STSClient(this.config(region, undefined)),
      OPERATOR_ACCOUNT_LABEL,
      region,
      'sts',
      // STS is not the EMR/KMS budget: its calls are a few per role per hour.
      new TokenBucket({ rps: 0 }),
    );
    return this.stsClient;
  }

  /** AssumeRole answers, cached per role session and refreshed before they expire. */
  get roleCredentials(): RoleCredentials {
    this.roleCredentialsCache ??= new RoleCredentials({
      sts: this.sts,
      ...(this.options.roleSessionSeconds ? { durationSeconds: this.options.roleSessionSeconds } : {}),
    });
    return this.roleCredentialsCache;
  }

  /** Closes every connection. The instance must not be used afterwards. */
  close(): void {
    for (const { emr, kms } of this.scopes.values()) {
      emr.destroy();
      kms.destroy();
    }
    this.stsClient?.destroy();
    this.scopes.clear();
  }

  private scopeClients(session: RoleSession | undefined, region: string): ScopeClients {
    const key = session ? `${sessionKey(session.role, session.sessionName)} ${region}` : ` ${region}`;
    let clients = this.scopes.get(key);
    if (!clients) {
      clients = this.create(session, region);
      this.scopes.set(key, clients);
    }
    return clients;
  }

  private bucket(roleArn: string | undefined, region: string): TokenBucket {
    const key = `${roleArn ?? ''} ${region}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket({ rps: this.rps, burst: this.options.burst });
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  private instrument<C extends EMRServerlessClient | KMSClient | STSClient>(
    client: C,
    account: string,
    region: string,
    service: 'emr-serverless' | 'kms' | 'sts',
    bucket: TokenBucket,
  ): C {
    installCallMiddleware(client, { account, region, service, bucket, observer: this.options.observer });
    return client;
  }

  private create(session: RoleSession | undefined, region: string): ScopeClients {
    const bucket = this.bucket(session?.role.roleArn, region);
    const account = session?.role.account ?? OPERATOR_ACCOUNT_LABEL;
    const config = this.config(region, session);
    const emr = this.instrument(new EMRServerlessClient(config), account, region, 'emr-serverless', bucket);
    const kms = this.instrument(new KMSClient(config), account, region, 'kms', bucket);
    return {
      emr,
      kms,
      bucket,
      port: new SdkAwsPort({ region, account: session?.role.account, emr, kms }),
    };
  }

  private config(region: string, session: RoleSession | undefined) {
    const { endpoint } = this.options;
    // A role session signs with its AssumeRole credentials; the SDK asks this provider before
    // each request and the cache answers without a call until shortly before expiry.
    const credentials = session
      ? { credentials: () => this.roleCredentials.get(session.role, session.sessionName) }
      : this.credentials
        ? { credentials: this.credentials }
        : {};
    return {
      region,
      maxAttempts: this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retryMode: 'standard',
      ...(endpoint ? { endpoint } : {}),
      // Otherwise credentials come from the SDK's default provider chain.
      ...credentials,
      // The SDK builds its NodeHttpHandler from these options; each client gets its own agents
      // so destroy() of one client does not cut another's connections.
      requestHandler: {
        connectionTimeout: CONNECTION_TIMEOUT_MS,
        requestTimeout: this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
        httpAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
        httpsAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
      },
    };
  }
}
