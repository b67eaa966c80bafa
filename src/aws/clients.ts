// One AwsPort per region, built on first use and kept: the SDK clients hold keep-alive
// connections, and the region's token bucket must be shared by every caller of that region.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { KMSClient } from '@aws-sdk/client-kms';
import { type AwsCallObserver, installCallMiddleware } from './middleware.js';
import type { AwsPort } from './port.js';
import { TokenBucket } from './rate-limiter.js';
import { SdkAwsPort } from './sdk-port.js';

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
}

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

interface RegionClients {
  port: SdkAwsPort;
  emr: EMRServerlessClient;
  kms: KMSClient;
  bucket: TokenBucket;
}

export class AwsClients {
  private readonly regions = new Map<string, RegionClients>();
  private readonly rps: number;
  /** Set when requests are signed with placeholders (the local service, nothing configured). */
  readonly placeholderCredentials: boolean;
  private readonly credentials: ReturnType<typeof placeholderCredentials>;

  constructor(private readonly options: AwsClientsOptions = {}) {
    this.rps = options.rps ?? DEFAULT_AWS_RPS;
    this.credentials = placeholderCredentials(options.endpoint, options.env);
    this.placeholderCredentials = this.credentials !== undefined;
  }

  forRegion(region: string): AwsPort {
    return this.regionClients(region).port;
  }

  /** The region's token bucket (for metrics and tests). */
  bucketFor(region: string): TokenBucket {
    return this.regionClients(region).bucket;
  }

  /** Closes every connection. The instance must not be used afterwards. */
  close(): void {
    for (const { emr, kms } of this.regions.values()) {
      emr.destroy();
      kms.destroy();
    }
    this.regions.clear();
  }

  private regionClients(region: string): RegionClients {
    let clients = this.regions.get(region);
    if (!clients) {
      clients = this.create(region);
      this.regions.set(region, clients);
    }
    return clients;
  }

  private create(region: string): RegionClients {
    const { endpoint, observer } = this.options;
    const bucket = new TokenBucket({ rps: this.rps, burst: this.options.burst });
    const config = {
      region,
      maxAttempts: this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retryMode: 'standard',
      ...(endpoint ? { endpoint } : {}),
      // Credentials come from the SDK's default provider chain, except for placeholderCredentials().
      ...(this.credentials ? { credentials: this.credentials } : {}),
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
    const emr = new EMRServerlessClient(config);
    const kms = new KMSClient(config);
    installCallMiddleware(emr, { region, service: 'emr-serverless', bucket, observer });
    installCallMiddleware(kms, { region, service: 'kms', bucket, observer });
    return { emr, kms, bucket, port: new SdkAwsPort({ region, emr, kms }) };
  }
}
