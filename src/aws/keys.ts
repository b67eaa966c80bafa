// DescribeKey for the planner, asked in the key's own region, cached, and de-duplicated.
//
// Many resources often share one key, and every resync re-checks it: the cache turns that into
// one DescribeKey per key every few minutes, and concurrent reconciles of the same key wait for
// the one request in flight instead of sending their own. A key that is missing or not ours to
// describe is re-checked sooner (it may be a typo fixed in KMS, or a key policy being granted).
// Transient failures are not cached: the AwsError reaches every waiter and the next call asks again.
import { AwsError, type AwsPort, type KeyFacts } from './port.js';

/** Anything that hands out the port of a region (AwsClients does). */
export interface RegionPorts {
  forRegion(region: string): AwsPort;
}

export interface KeyVerifierOptions {
  /** How long a found key's facts are reused; default 3 minutes. */
  ttlMs?: number;
  /** How long notFound / accessDenied answers are reused; default 30 s. */
  negativeTtlMs?: number;
  /** Milliseconds; default `Date.now`. */
  now?: () => number;
}

/** `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`, partition aws, aws-cn, aws-us-gov, ... */
const KEY_ARN = /^arn:aws[a-zA-Z0-9-]*:kms:([a-z0-9-]+):[0-9]{12}:key\/[a-zA-Z0-9-]+$/;

/** The region a key ARN names, or undefined when it is not a key ARN with a region. */
export function regionOfKeyArn(keyArn: string): string | undefined {
  return KEY_ARN.exec(keyArn)?.[1];
}

interface CacheEntry {
  facts: KeyFacts;
  expiresAt: number;
}

/** Past this many entries, expired ones are swept when a new one is stored. */
const SWEEP_THRESHOLD = 1_000;

export class KeyVerifier {
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<KeyFacts>>();

  constructor(
    private readonly ports: RegionPorts,
    options: KeyVerifierOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 3 * 60_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * What KMS says about the key. Throws AwsError for failures that say nothing about the key
   * (throttling, network, ...) and `invalid` for a string that is not a key ARN with a region.
   */
  describe(keyArn: string): Promise<KeyFacts> {
    const cached = this.cache.get(keyArn);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.facts);
    const running = this.inFlight.get(keyArn);
    if (running) return running;

    const request = this.ask(keyArn).finally(() => this.inFlight.delete(keyArn));
    this.inFlight.set(keyArn, request);
    return request;
  }

  /** Drops what is known about a key, so the next describe() asks KMS. */
  forget(keyArn: string): void {
    this.cache.delete(keyArn);
  }

  private async ask(keyArn: string): Promise<KeyFacts> {
    const region = regionOfKeyArn(keyArn);
    if (region === undefined) {
      throw new AwsError(
        'invalid',
        'InvalidKeyArn',
        `${keyArn} is not a KMS key ARN with a region (arn:aws:kms:REGION:ACCOUNT:key/ID)`,
        'DescribeKey',
      );
    }
    const facts = await this.ports.forRegion(region).describeKey(keyArn);
    const ttl = facts.kind === 'found' ? this.ttlMs : this.negativeTtlMs;
    this.store(keyArn, { facts, expiresAt: this.now() + ttl });
    return facts;
  }

  private store(keyArn: string, entry: CacheEntry): void {
    if (this.cache.size >= SWEEP_THRESHOLD) {
      const at = this.now();
      for (const [arn, e] of this.cache) if (e.expiresAt <= at) this.cache.delete(arn);
    }
    this.cache.set(keyArn, entry);
  }
}
