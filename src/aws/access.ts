// The seam between reconcilers and AWS: "the AWS access of this namespace in this region". Every
// kind's reconciler asks here, so all of them share one client cache per (role, region), one rate
// limit per (role, region) and one credentials cache per role session.

import { callerAccount, type NamespaceRole, roleSessionName, sessionKey } from './accounts.js';
import { ApplicationListings } from './application-listing.js';
import type { AwsClients, RoleSession } from './clients.js';
import { KeyVerifier, type KeyVerifierOptions } from './keys.js';
import { AwsError, type AwsPort, type KeyFacts, type KeyPolicyFacts } from './port.js';

/** Reads a namespace's role from its annotations (the controller implements it over the API server). */
export interface NamespaceRoles {
  /** Undefined when the namespace names no role; throws AwsError `invalid` for unusable annotations. */
  roleOf(namespace: string): Promise<NamespaceRole | undefined>;
}

/** What a reconcile of one resource uses to reach AWS. */
export interface AwsScope {
  port: AwsPort;
  /** DescribeKey and GetKeyPolicy with the same identity, in the key's own region, cached. */
  keys: { describe(keyArn: string): Promise<KeyFacts>; policy(keyArn: string): Promise<KeyPolicyFacts> };
  /**
   * The account of the namespace's role; undefined for the operator's own identity (whose account
   * the application's ARN then tells, without an extra STS call).
   */
  account: string | undefined;
  /** The namespace's role ARN; undefined for the operator's own identity. */
  roleArn?: string | undefined;
  /**
   * The account this identity acts in, known or not: the role's, or the operator's own, which is
   * asked of STS (GetCallerIdentity) once per process, only when a decision depends on it.
   */
  actingAccount(): Promise<string>;
  /** The namespace's default region, when its annotations name one. */
  region: string | undefined;
  /** ListApplications of this identity in this region, shared by every namespace acting as it. */
  applications: ApplicationListings;
}

export interface AwsAccessOptions {
  clients: AwsClients;
  namespaces: NamespaceRoles;
  /** `run --require-namespace-role`: a namespace without a role is refused. */
  requireNamespaceRole: boolean;
  keyVerifier?: KeyVerifierOptions;
  /**
   * A scope's application listing is refreshed in the background on its next use past
   * `refreshAfterMs`, and not used past `maxAgeMs`; default 5 and 10 minutes (half a resync
   * period and one).
   */
  listing?: { refreshAfterMs: number; maxAgeMs: number };
}

/** AwsError kind of a namespace the operator may not act for. */
export const NO_ACCOUNT_MAPPING = 'NoAccountMapping';

/** Every namespace uses the operator's own identity (no namespace names a role). */
export const NO_NAMESPACE_ROLES: NamespaceRoles = { roleOf: async () => undefined };

/** AwsAccess for the operator's own identity only: tests and tools without a cluster. */
export function operatorIdentity(clients: AwsClients, keyVerifier?: KeyVerifierOptions): AwsAccess {
  return new AwsAccess({
    clients,
    namespaces: NO_NAMESPACE_ROLES,
    requireNamespaceRole: false,
    ...(keyVerifier ? { keyVerifier } : {}),
  });
}

export class AwsAccess {
  /** One KeyVerifier (and so one DescribeKey cache) per identity: a key may be visible to one role only. */
  private readonly verifiers = new Map<string, KeyVerifier>();
  /** The operator's own account, once asked (a failed answer is not kept). */
  private operatorAccount: Promise<string> | undefined;
  /** One listing per (role, external id, region): what one identity sees in one region. */
  private readonly listings = new Map<string, ApplicationListings>();

  constructor(private readonly options: AwsAccessOptions) {}

  /**
   * The scope of a namespace, in `region` or else the namespace's region or else `defaultRegion`.
   * Throws AwsError: `noAccountMapping` when a role is required and missing, `invalid` for unusable
   * annotations, and AssumeRole's own failures (`accessDenied` naming the role, ...).
   */
  async scopeFor(
    namespace: string,
    region: (namespaceRegion: string | undefined) => string,
  ): Promise<AwsScope> {
    const { clients, namespaces, requireNamespaceRole } = this.options;
    const role = await namespaces.roleOf(namespace);
    if (!role && requireNamespaceRole) {
      throw new AwsError(
        'noAccountMapping',
        NO_ACCOUNT_MAPPING,
        `namespace ${namespace} has no annotation emrserverless.operator.dev/role-arn, and the operator runs with ` +
          '--require-namespace-role. A cluster admin must map the namespace to an IAM role; nothing was sent to AWS.',
        'ResolveAccount',
      );
    }
    const session: RoleSession | undefined = role
      ? { role, sessionName: roleSessionName(namespace) }
      : undefined;
    // Fails here, naming the role, when it cannot be assumed; cached credentials answer at once.
    if (session) await clients.roleCredentials.get(session.role, session.sessionName);
    const where = region(role?.region);
    // The namespace's calls take its turn at the rate limit and count as its own (tenant.ts).
    const port = clients.forSession(session, where, namespace);
    const verifier = this.verifier(session);
    return {
      port,
      keys: {
        describe: (keyArn) => verifier.describe(keyArn, namespace),
        policy: (keyArn) => verifier.policy(keyArn, namespace),
      },
      account: role?.account,
      roleArn: role?.roleArn,
      actingAccount: role ? async () => role.account : () => this.ownAccount(),
      region: role?.region,
      // Made for every namespace acting as this identity: the shared tenant's calls.
      applications: this.listing(role, where, () => clients.forSession(session, where).listApplications()),
    };
  }

  private ownAccount(): Promise<string> {
    this.operatorAccount ??= callerAccount(this.options.clients.sts).catch((err: unknown) => {
      this.operatorAccount = undefined;
      throw err;
    });
    return this.operatorAccount;
  }

  private listing(
    role: NamespaceRole | undefined,
    region: string,
    list: () => ReturnType<AwsPort['listApplications']>,
  ): ApplicationListings {
    const key = `${role?.roleArn ?? ''} ${role?.externalId ?? ''} ${region}`;
    let listings = this.listings.get(key);
    if (!listings) {
      listings = new ApplicationListings({
        list,
        ...(this.options.listing ?? { refreshAfterMs: 5 * 60_000, maxAgeMs: 10 * 60_000 }),
      });
      this.listings.set(key, listings);
    }
    return listings;
  }

  private verifier(session: RoleSession | undefined): KeyVerifier {
    const key = session ? sessionKey(session.role, session.sessionName) : '';
    let verifier = this.verifiers.get(key);
    if (!verifier) {
      const { clients } = this.options;
      verifier = new KeyVerifier(
        { forRegion: (r, tenant) => clients.forSession(session, r, tenant) },
        this.options.keyVerifier,
      );
      this.verifiers.set(key, verifier);
    }
    return verifier;
  }
}
