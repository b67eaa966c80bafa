// A small typed client of the local service's control API (`/_emulator/`), for tests,
// benchmarks and the demo. Uses the global fetch of Node.js.
import type { Call, Fault } from './server.js';
import type { DeclaredRole, IssuedCredentials, RoleDeclaration } from './sts.js';

export type { Call, DeclaredRole, Fault, IssuedCredentials, RoleDeclaration };

/** Key metadata as the control API and DescribeKey answer it (dates in epoch seconds). */
export interface EmulatorKeyMetadata {
  AWSAccountId: string;
  KeyId: string;
  Arn: string;
  CreationDate: number;
  Enabled: boolean;
  Description: string;
  KeyUsage: string;
  KeyState: string;
  KeySpec: string;
  CustomerMasterKeySpec: string;
  KeyManager: 'CUSTOMER';
  Origin: string;
  MultiRegion: boolean;
  DeletionDate?: number;
  EncryptionAlgorithms?: string[];
  SigningAlgorithms?: string[];
  MacAlgorithms?: string[];
}

export interface CreateKeyOptions {
  keySpec?: string;
  keyUsage?: string;
  keyState?: string;
  /** Another account: DescribeKey then finds the key only by its full ARN. */
  account?: string;
  region?: string;
  multiRegion?: boolean;
  description?: string;
  /** The key policy (default: AWS's default, which lets the key's account use it as IAM allows). */
  policy?: object;
}

/** A caller of its own: its access key signs as `arn:aws:iam::ACCOUNT:user/NAME`, under its policies. */
export interface UserDeclaration {
  userName: string;
  accessKeyId: string;
  account?: string;
  /** Identity policies (JSON objects), judged while IAM is enforced. */
  policies?: object[];
}

export class EmulatorControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EmulatorControlError';
  }
}

export class EmulatorControl {
  private readonly base: string;

  constructor(endpoint: string) {
    this.base = `${endpoint.replace(/\/+$/, '')}/_emulator`;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const message = (data as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`;
      throw new EmulatorControlError(res.status, `${method} ${path}: ${message}`);
    }
    return data as T;
  }

  /** Every AWS API call so far, in the order answered. */
  calls(): Promise<Call[]> {
    return this.request('GET', '/calls');
  }

  /** CPU and memory of the service process (for benchmarks). */
  stats(): Promise<{ cpuUserMs: number; cpuSystemMs: number; rssBytes: number; calls: number }> {
    return this.request('GET', '/stats');
  }

  /** Forgets applications, job runs, keys, aliases, faults and calls, and ends any listing lag. */
  async reset(): Promise<void> {
    await this.request('POST', '/reset');
  }

  async fault(f: Fault): Promise<void> {
    await this.request('POST', '/faults', f);
  }

  /** The faults still active (a `count` fault goes once its calls have matched it). */
  faults(): Promise<Array<Fault & { remaining: number }>> {
    return this.request('GET', '/faults');
  }

  async clearFaults(): Promise<void> {
    await this.request('DELETE', '/faults');
  }

  /**
   * Lists lag: ListApplications and ListJobRuns leave out items created less than `ms` ago
   * (GetApplication and GetJobRun never lag); 0 ends it. Reset also ends it.
   */
  async setListingLag(ms: number): Promise<void> {
    await this.request('POST', '/listing-lag', { ms });
  }

  async listingLag(): Promise<number> {
    return (await this.request<{ ms: number }>('GET', '/listing-lag')).ms;
  }

  /** Changes an application out of band (no API rules); `null` removes a field. */
  async patchApplication(id: string, patch: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.request<{ application: Record<string, unknown> }>(
      'PATCH',
      `/applications/${encodeURIComponent(id)}`,
      patch,
    );
    return r.application;
  }

  createKey(opts: CreateKeyOptions = {}): Promise<EmulatorKeyMetadata> {
    return this.request('POST', '/keys', opts);
  }

  /** `keyId` may be a key id or a key ARN. */
  setKeyState(keyId: string, state: string): Promise<EmulatorKeyMetadata> {
    return this.request('PATCH', `/keys/${encodeURIComponent(keyId)}`, { keyState: state });
  }

  /** Every KMS call on the key then answers AccessDeniedException. */
  async denyKey(keyId: string): Promise<void> {
    await this.request('POST', `/keys/${encodeURIComponent(keyId)}/deny`);
  }

  async allowKey(keyId: string): Promise<void> {
    await this.request('POST', `/keys/${encodeURIComponent(keyId)}/allow`);
  }

  /**
   * Declares an IAM role STS AssumeRole can issue credentials for (its account is the ARN's), or
   * replaces its declaration: `denied: true` makes every AssumeRole of it answer AccessDenied.
   * `policies` are the role's identity policies, judged while IAM is enforced.
   */
  declareRole(role: RoleDeclaration & { policies?: object[] }): Promise<DeclaredRole> {
    return this.request('POST', '/roles', role);
  }

  /** Declares a user and its access key (see UserDeclaration). */
  declareUser(user: UserDeclaration): Promise<{ arn: string }> {
    return this.request('POST', '/users', user);
  }

  /** Replaces the identity policies of a role or user (by ARN). */
  async attachPolicies(arn: string, policies: object[]): Promise<void> {
    await this.request('POST', '/policies', { arn, policies });
  }

  /**
   * IAM on or off: while on, every AWS call is judged by the caller's policies and the KMS key
   * policies, as AWS does (callers of undeclared access keys have AdministratorAccess).
   */
  async enforceIam(enforce: boolean): Promise<void> {
    await this.request('POST', '/iam', { enforce });
  }

  /** Replaces a key's policy (no lockout check: this is the control API, not PutKeyPolicy). */
  async putKeyPolicy(keyId: string, policy: object): Promise<void> {
    await this.request('PUT', `/keys/${encodeURIComponent(keyId)}/policy`, { policy });
  }

  async keyPolicy(keyId: string): Promise<object> {
    const { Policy } = await this.request<{ Policy: string }>(
      'GET',
      `/keys/${encodeURIComponent(keyId)}/policy`,
    );
    return JSON.parse(Policy) as object;
  }

  roles(): Promise<DeclaredRole[]> {
    return this.request('GET', '/roles');
  }

  /** Every credential AssumeRole issued, secrets included: what must never show in logs. */
  issuedCredentials(): Promise<IssuedCredentials[]> {
    return this.request('GET', '/credentials');
  }

  /** Makes a job run exist in `state` (default RUNNING), without starting the application. */
  async createJobRun(appId: string, state = 'RUNNING'): Promise<{ jobRunId: string; arn: string }> {
    return this.request('POST', `/jobruns/${encodeURIComponent(appId)}`, { state });
  }

  /**
   * GetJobRun's answer (`jobRun`), the StartJobRun request as sent (`submitted`) and, once
   * cancelled with one, CancelJobRun's `shutdownGracePeriodInSeconds`.
   */
  async jobRun(
    appId: string,
    jobRunId: string,
  ): Promise<{
    jobRun: Record<string, unknown>;
    submitted: Record<string, unknown>;
    shutdownGracePeriodInSeconds?: number;
  }> {
    return this.request('GET', `/jobruns/${encodeURIComponent(appId)}/${encodeURIComponent(jobRunId)}`);
  }

  /** GetSession's answer (`session`), in any region. */
  async session(appId: string, sessionId: string): Promise<{ session: Record<string, unknown> }> {
    return this.request('GET', `/sessions/${encodeURIComponent(appId)}/${encodeURIComponent(sessionId)}`);
  }

  /**
   * Moves a session to `state` at once (a statement running: BUSY; done: IDLE, which arms its
   * idle timeout; FAILED...); `stateDetails` is what GetSession then says about it.
   */
  async setSessionState(
    appId: string,
    sessionId: string,
    state: string,
    stateDetails?: string,
  ): Promise<void> {
    await this.request('PATCH', `/sessions/${encodeURIComponent(appId)}/${encodeURIComponent(sessionId)}`, {
      state,
      ...(stateDetails !== undefined && { stateDetails }),
    });
  }

  /** Moves a job run to `state` at once; `stateDetails` is what GetJobRun then says about it. */
  async setJobRunState(appId: string, jobRunId: string, state: string, stateDetails?: string): Promise<void> {
    await this.request('PATCH', `/jobruns/${encodeURIComponent(appId)}/${encodeURIComponent(jobRunId)}`, {
      state,
      ...(stateDetails !== undefined && { stateDetails }),
    });
  }
}

/** The EMR Serverless operations that change an application or a job run: what "AWS writes" counts. */
export const AWS_WRITE_OPERATIONS: ReadonlySet<string> = new Set([
  'CreateApplication',
  'UpdateApplication',
  'DeleteApplication',
  'StartApplication',
  'StopApplication',
  'TagResource',
  'UntagResource',
  'StartJobRun',
  'CancelJobRun',
]);
