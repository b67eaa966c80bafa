// DescribeKey and GetKeyPolicy for the planner, asked in the key's own region, cached, and de-duplicated.
//
// Many resources often share one key, and every resync re-checks it: the cache turns that into
// one DescribeKey per key every few minutes, and concurrent reconciles of the same key wait for
// the one request in flight instead of sending their own. A key that is missing or not ours to
// describe is re-checked sooner (it may be a typo fixed in KMS, or a key policy being granted).
// Transient failures are not cached: the AwsError reaches every waiter and the next call asks again.
import { AwsError, type AwsPort, type KeyFacts, type KeyPolicyFacts } from './port.js';

/** Anything that hands out the port of a region (AwsClients does). */
export interface RegionPorts {
  /** `tenant`: the namespace the port's calls are made for (tenant.ts). */
  forRegion(region: string, tenant?: string): AwsPort;
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

/** Past this many entries, expired ones are swept when a new one is stored. */
const SWEEP_THRESHOLD = 1_000;

/**
 * One KMS read per key, cached (a positive answer for ttlMs, a negative one for negativeTtlMs)
 * and shared by concurrent callers. Failures are not cached.
 */
class KeyAnswers<T> {
  private readonly cache = new Map<string, { answer: T; expiresAt: number }>();
  private readonly inFlight = new Map<string, Promise<T>>();

  constructor(
    private readonly ask: (keyArn: string, tenant: string | undefined) => Promise<T>,
    private readonly ttlOf: (answer: T) => number,
    private readonly now: () => number,
  ) {}

  /** `tenant` makes the call when one is needed; callers meanwhile share its answer. */
  get(keyArn: string, tenant: string | undefined): Promise<T> {
    const cached = this.cache.get(keyArn);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.answer);
    const running = this.inFlight.get(keyArn);
    if (running) return running;
    const request = this.ask(keyArn, tenant)
      .then((answer) => {
        this.store(keyArn, answer);
        return answer;
      })
      .finally(() => this.inFlight.delete(keyArn));
    this.inFlight.set(keyArn, request);
    return request;
  }

  forget(keyArn: string): void {
    this.cache.delete(keyArn);
  }

  private store(keyArn: string, answer: T): void {
    const at = this.now();
    if (this.cache.size >= SWEEP_THRESHOLD) {
      for (const [arn, e] of this.cache) if (e.expiresAt <= at) this.cache.delete(arn);
    }
    this.cache.set(keyArn, { answer, expiresAt: at + this.ttlOf(answer) });
  }
}

export class KeyVerifier {
  private readonly facts: KeyAnswers<KeyFacts>;
  private readonly policies: KeyAnswers<KeyPolicyFacts>;

  constructor(
    private readonly ports: RegionPorts,
    options: KeyVerifierOptions = {},
  ) {
    const ttlMs = options.ttlMs ?? 3 * 60_000;
    const negativeTtlMs = options.negativeTtlMs ?? 30_000;
    const now = options.now ?? Date.now;
    const ttlOf = (answer: { kind: string }) => (answer.kind === 'found' ? ttlMs : negativeTtlMs);
    this.facts = new KeyAnswers(
      async (arn, tenant) => this.portOf(arn, 'DescribeKey', tenant).describeKey(arn),
      ttlOf,
      now,
    );
    this.policies = new KeyAnswers(
      async (arn, tenant) => this.portOf(arn, 'GetKeyPolicy', tenant).getKeyPolicy(arn),
      ttlOf,
      now,
    );
  }

  /**
   * What KMS says about the key. Throws AwsError for failures that say nothing about the key
   * (throttling, network, ...) and `invalid` for a string that is not a key ARN with a region.
   * `tenant`: the namespace asking, whose call it is when one is sent (tenant.ts).
   */
  describe(keyArn: string, tenant?: string): Promise<KeyFacts> {
    return this.facts.get(keyArn, tenant);
  }

  /** The key's key policy (GetKeyPolicy), cached like describe(): re-read when a key fact is. */
  policy(keyArn: string, tenant?: string): Promise<KeyPolicyFacts> {
    return this.policies.get(keyArn, tenant);
  }

  /** Drops what is known about a key, so the next describe() and policy() ask KMS. */
  forget(keyArn: string): void {
    this.facts.forget(keyArn);
    this.policies.forget(keyArn);
  }

  /** The port of the key's own region; throws `invalid` for a string that is not a key ARN with one. */
  private portOf(keyArn: string, operation: string, tenant: string | undefined): AwsPort {
    const region = regionOfKeyArn(keyArn);
    if (region === undefined) {
      throw new AwsError(
        'invalid',
        'InvalidKeyArn',
        `${keyArn} is not a KMS key ARN with a region (arn:aws:kms:REGION:ACCOUNT:key/ID)`,
        operation,
      );
    }
    return this.ports.forRegion(region, tenant);
  }
}
