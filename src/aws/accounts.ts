// Which AWS identity acts for a namespace, and the credentials it acts with.
//
// The mapping is the admin's: annotations on the namespace (tenants cannot edit namespaces), never
// a field of the resource. A namespace annotated with a role makes the operator assume that role
// (STS AssumeRole) for every resource in it; one without uses the operator's own identity, unless
// `run --require-namespace-role` refuses it.
import {
  AssumeRoleCommand,
  type Credentials,
  GetCallerIdentityCommand,
  type STSClient,
} from '@aws-sdk/client-sts';
import { toAwsError } from './errors.js';
import { AwsError } from './port.js';

export const ROLE_ARN_ANNOTATION = 'emrserverless.operator.dev/role-arn';
export const REGION_ANNOTATION = 'emrserverless.operator.dev/region';
export const EXTERNAL_ID_ANNOTATION = 'emrserverless.operator.dev/external-id';

const ROLE_ARN = /^arn:aws[a-zA-Z-]*:iam::([0-9]{12}):role\/[\w+=,.@/-]{1,512}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]+$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/** A namespace's role: whom the operator becomes for the resources in it. */
export interface NamespaceRole {
  roleArn: string;
  /** The role's account (from its ARN): where the namespace's applications live. */
  account: string;
  externalId?: string;
  /** The namespace's default region (resources may still name their own). */
  region?: string;
}

/**
 * The role a namespace's annotations name, undefined without one. Throws AwsError `invalid` for
 * annotations that cannot be used (the message says which and why).
 */
export function namespaceRoleOf(
  namespace: string,
  annotations: Record<string, string> | undefined,
): NamespaceRole | undefined {
  const roleArn = annotations?.[ROLE_ARN_ANNOTATION]?.trim();
  const region = annotations?.[REGION_ANNOTATION]?.trim();
  const externalId = annotations?.[EXTERNAL_ID_ANNOTATION];
  const refuse = (message: string) =>
    new AwsError('invalid', 'InvalidNamespaceRole', `namespace ${namespace}: ${message}`, 'ResolveAccount');
  if (!roleArn) {
    if (region || externalId !== undefined)
      throw refuse(`${ROLE_ARN_ANNOTATION} is required with the region or external id`);
    return undefined;
  }
  const account = ROLE_ARN.exec(roleArn)?.[1];
  if (!account)
    throw refuse(`${ROLE_ARN_ANNOTATION} must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`);
  if (region && !REGION.test(region))
    throw refuse(`${REGION_ANNOTATION} must be an AWS region name such as eu-west-1`);
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
    throw refuse(`${EXTERNAL_ID_ANNOTATION} must be 2 to 1224 characters of letters, digits and +=,.@:/-_`);
  }
  return {
    roleArn,
    account,
    ...(externalId !== undefined ? { externalId } : {}),
    ...(region ? { region } : {}),
  };
}

/** Identifies a role session in caches: the same role with another external id is another session. */
export function sessionKey(role: NamespaceRole, sessionName: string): string {
  return `${role.roleArn} ${role.externalId ?? ''} ${sessionName}`;
}

/** `emr-serverless-operator-<namespace>`, cut to the 64 characters STS allows. */
export function roleSessionName(namespace: string): string {
  return `emr-serverless-operator-${namespace}`.slice(0, 64);
}

/**
 * The account of the credentials `sts` signs with (STS GetCallerIdentity, which needs no IAM
 * permission). Asked only when a decision depends on it: see AwsAccess.
 */
export async function callerAccount(sts: STSClient): Promise<string> {
  let account: string | undefined;
  try {
    ({ Account: account } = await sts.send(new GetCallerIdentityCommand({})));
  } catch (err) {
    throw toAwsError(err, 'GetCallerIdentity');
  }
  if (!account) {
    throw new AwsError(
      'transient',
      'IncompleteAnswer',
      'GetCallerIdentity answered no account',
      'GetCallerIdentity',
    );
  }
  return account;
}

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface RoleCredentialsOptions {
  sts: STSClient;
  /** Requested lifetime; default 3600 s (the role's maximum session duration must allow it). */
  durationSeconds?: number;
  now?: () => number;
}

/** Refresh this long before expiry: 5 minutes, or a quarter of a shorter lifetime. */
const REFRESH_BEFORE_MS = 5 * 60_000;
const REFRESH_FRACTION = 0.25;

interface Session {
  credentials?: TemporaryCredentials;
  /** From here on, the next caller starts a refresh. */
  refreshAt: number;
  /** From here on, callers wait for the refresh instead of using the current credentials. */
  mustWaitAt: number;
  pending?: Promise<TemporaryCredentials> | undefined;
}

/**
 * AssumeRole answers, cached per (role, external id, session name) and refreshed before they
 * expire, so no call is ever signed with expired credentials; concurrent callers share one
 * AssumeRole. Failures are not cached: the next caller asks again.
 */
export class RoleCredentials {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;
  /** AssumeRole calls made, for tests and the steady-state figures in the docs. */
  assumeRoleCalls = 0;

  constructor(private readonly options: RoleCredentialsOptions) {
    this.now = options.now ?? Date.now;
  }

  get(role: NamespaceRole, sessionName: string): Promise<TemporaryCredentials> {
    const key = sessionKey(role, sessionName);
    let session = this.sessions.get(key);
    if (!session) {
      session = { refreshAt: 0, mustWaitAt: 0 };
      this.sessions.set(key, session);
    }
    const now = this.now();
    if (session.credentials && now < session.refreshAt) return Promise.resolve(session.credentials);
    if (!session.pending) session.pending = this.refresh(session, role, sessionName);
    // In the first half of the refresh window the current credentials still serve while the
    // refresh runs (a failed refresh is retried by the next caller); after that, callers wait, so
    // no request is signed with credentials about to expire on the way.
    if (session.credentials && now < session.mustWaitAt) {
      session.pending.catch(() => {});
      return Promise.resolve(session.credentials);
    }
    return session.pending;
  }

  private async refresh(
    session: Session,
    role: NamespaceRole,
    sessionName: string,
  ): Promise<TemporaryCredentials> {
    try {
      const credentials = await this.assume(role, sessionName);
      const expiresAt = credentials.expiration.getTime();
      const window = Math.min(REFRESH_BEFORE_MS, (expiresAt - this.now()) * REFRESH_FRACTION);
      session.credentials = credentials;
      session.refreshAt = expiresAt - window;
      session.mustWaitAt = expiresAt - window / 2;
      return credentials;
    } finally {
      session.pending = undefined;
    }
  }

  private async assume(role: NamespaceRole, sessionName: string): Promise<TemporaryCredentials> {
    this.assumeRoleCalls++;
    let answer: Credentials | undefined;
    try {
      ({ Credentials: answer } = await this.options.sts.send(
        new AssumeRoleCommand({
          RoleArn: role.roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: this.options.durationSeconds ?? 3600,
          ...(role.externalId !== undefined ? { ExternalId: role.externalId } : {}),
        }),
      ));
    } catch (err) {
      const failure = toAwsError(err, 'AssumeRole');
      // Say which role: the status and event name it, never the credentials.
      throw new AwsError(
        failure.kind,
        failure.code,
        `AssumeRole of ${role.roleArn} (session ${sessionName}): ${failure.message}`,
        'AssumeRole',
      );
    }
    const { AccessKeyId, SecretAccessKey, SessionToken, Expiration } = answer ?? {};
    if (!AccessKeyId || !SecretAccessKey || !SessionToken || !Expiration) {
      throw new AwsError(
        'transient',
        'IncompleteCredentials',
        `AssumeRole of ${role.roleArn} answered no credentials`,
        'AssumeRole',
      );
    }
    return {
      accessKeyId: AccessKeyId,
      secretAccessKey: SecretAccessKey,
      sessionToken: SessionToken,
      expiration: Expiration,
    };
  }
}
