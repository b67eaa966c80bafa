// STS (awsQuery: a form-encoded `POST /` with `Action=AssumeRole&Version=2011-06-15`, XML answers):
// the AssumeRole the operator uses to act in a team's account. Roles are declared through the
// control API; the credentials issued carry the role's account, and every EMR Serverless and KMS
// call signed with them acts in that account (see EmulatorServer.context()).
//
// Like IAM, a role answers AccessDenied to a caller its trust policy does not name, to a missing
// or different external id when it requires one, and always when the control API says so.
import { randomBytes, randomUUID } from 'node:crypto';
import { ServiceError } from './errors.js';
import type { IamService, RequestPrincipal } from './iam.js';

export const STS_VERSION = '2011-06-15';
const STS_NAMESPACE = `https://sts.amazonaws.com/doc/${STS_VERSION}/`;
const ROLE_ARN = /^arn:aws[a-zA-Z-]*:iam::([0-9]{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const MIN_DURATION_S = 900;
const MAX_DURATION_S = 43_200;
const DEFAULT_DURATION_S = 3600;

/** A role as the control API declares it. */
export interface RoleDeclaration {
  /** `arn:aws:iam::ACCOUNT:role/NAME`; the account of its credentials is the ARN's. */
  roleArn: string;
  /** Accounts whose callers may assume the role (its trust policy); default: the service's own account. */
  trustedAccounts?: string[];
  /** When set, AssumeRole must send exactly this external id. */
  externalId?: string;
  /** Every AssumeRole answers AccessDenied (a role whose trust policy lacks the operator). */
  denied?: boolean;
  /**
   * Lifetime of issued credentials in seconds, overriding the requested DurationSeconds (which
   * AWS bounds at 900 s and more): lets tests watch credentials expire in seconds.
   */
  credentialLifetimeSeconds?: number;
}

export interface DeclaredRole extends RoleDeclaration {
  account: string;
}

/** Credentials AssumeRole issued; the control API shows them so tests can look for leaks. */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  account: string;
  roleArn: string;
  sessionName: string;
  expiresAt: number;
}

/** A user as the control API declares it: its access key signs as `arn:aws:iam::ACCOUNT:user/NAME`. */
export interface UserDeclaration {
  userName: string;
  accessKeyId: string;
  /** Default: the service's own account. */
  account?: string;
}

/**
 * Who signed a call: the account, and the role session when the key was issued here, or the
 * declared user. Any other access key is the built-in user `emulator`, with AdministratorAccess.
 */
export interface Principal {
  account: string;
  roleArn?: string;
  sessionName?: string;
  userName?: string;
}

export class StsService {
  private roles = new Map<string, DeclaredRole>();
  private issued = new Map<string, IssuedCredentials>();
  private users = new Map<string, Required<UserDeclaration>>();

  constructor(private readonly opts: { accountId: string; iam?: IamService }) {}

  reset(): void {
    this.roles.clear();
    this.issued.clear();
    this.users.clear();
  }

  /** Declares a user and its access key (a caller of its own, e.g. the operator under a policy). */
  declareUser(body: Record<string, unknown>): Required<UserDeclaration> & { arn: string } {
    const { userName, accessKeyId } = body;
    const account = body.account ?? this.opts.accountId;
    if (typeof userName !== 'string' || !/^[\w+=,.@-]{1,64}$/.test(userName))
      throw new ServiceError(400, 'ValidationException', 'user: userName must be 1 to 64 of [\\w+=,.@-]');
    if (typeof accessKeyId !== 'string' || !/^[\w.-]{2,128}$/.test(accessKeyId))
      throw new ServiceError(
        400,
        'ValidationException',
        'user: accessKeyId must be 2 to 128 letters, digits, dots or dashes',
      );
    if (typeof account !== 'string' || !/^[0-9]{12}$/.test(account))
      throw new ServiceError(400, 'ValidationException', 'user: account must be 12 digits');
    const user = { userName, accessKeyId, account };
    this.users.set(accessKeyId, user);
    return { ...user, arn: userArn(account, userName) };
  }

  // ------------------------------------------------------------------ control API

  /** Declares a role, or replaces its declaration (e.g. to deny it from now on). */
  declareRole(body: Record<string, unknown>): DeclaredRole {
    const decl = body as unknown as RoleDeclaration;
    const m = typeof decl.roleArn === 'string' ? ROLE_ARN.exec(decl.roleArn) : null;
    if (!m)
      throw new ServiceError(
        400,
        'ValidationException',
        'role: roleArn must be arn:aws:iam::ACCOUNT:role/NAME',
      );
    const trusted = decl.trustedAccounts ?? [this.opts.accountId];
    if (!Array.isArray(trusted) || !trusted.every((a) => typeof a === 'string' && /^[0-9]{12}$/.test(a))) {
      throw new ServiceError(
        400,
        'ValidationException',
        'role: trustedAccounts must be 12-digit account ids',
      );
    }
    if (
      decl.externalId !== undefined &&
      (typeof decl.externalId !== 'string' || !EXTERNAL_ID.test(decl.externalId))
    ) {
      throw new ServiceError(400, 'ValidationException', 'role: externalId must be 2 to 1224 characters');
    }
    const lifetime = decl.credentialLifetimeSeconds;
    if (
      lifetime !== undefined &&
      (typeof lifetime !== 'number' || !(lifetime >= 1 && lifetime <= MAX_DURATION_S))
    ) {
      throw new ServiceError(
        400,
        'ValidationException',
        `role: credentialLifetimeSeconds must be in 1..${MAX_DURATION_S}`,
      );
    }
    const role: DeclaredRole = {
      roleArn: decl.roleArn,
      account: m[1]!,
      trustedAccounts: trusted,
      ...(decl.externalId !== undefined ? { externalId: decl.externalId } : {}),
      denied: decl.denied === true,
      ...(lifetime !== undefined ? { credentialLifetimeSeconds: lifetime } : {}),
    };
    this.roles.set(role.roleArn, role);
    return role;
  }

  listRoles(): DeclaredRole[] {
    return [...this.roles.values()];
  }

  /** Every credential issued so far, secrets included (a test double: tests grep logs for them). */
  listIssued(): IssuedCredentials[] {
    return [...this.issued.values()];
  }

  // ------------------------------------------------------------------ the API

  /**
   * Who signed a request with this access key id. Keys issued here act in their role's account
   * until they expire (ExpiredTokenException, as AWS answers); any other key is the service's own
   * account (the operator's identity, or the placeholders used without configured credentials).
   */
  principalOf(accessKeyId: string | undefined, now = Date.now()): Principal {
    const user = accessKeyId ? this.users.get(accessKeyId) : undefined;
    if (user) return { account: user.account, userName: user.userName };
    const issued = accessKeyId ? this.issued.get(accessKeyId) : undefined;
    if (!issued) return { account: this.opts.accountId };
    if (issued.expiresAt <= now) {
      throw new ServiceError(
        400,
        'ExpiredTokenException',
        'The security token included in the request is expired',
      );
    }
    return { account: issued.account, roleArn: issued.roleArn, sessionName: issued.sessionName };
  }

  /** Answers one awsQuery request body; throws ServiceError for an error answer. */
  handle(caller: Principal, params: URLSearchParams, region = 'us-east-1'): string {
    const action = params.get('Action');
    if (params.get('Version') !== STS_VERSION) {
      throw new ServiceError(400, 'InvalidAction', `Version must be ${STS_VERSION}`);
    }
    if (action === 'AssumeRole') return this.assumeRole(caller, params, region);
    if (action === 'GetCallerIdentity') return this.getCallerIdentity(caller);
    throw new ServiceError(
      400,
      'InvalidAction',
      `Could not find operation ${action ?? ''} for version ${STS_VERSION}`,
    );
  }

  private assumeRole(caller: Principal, params: URLSearchParams, region: string): string {
    const roleArn = params.get('RoleArn') ?? '';
    const sessionName = params.get('RoleSessionName') ?? '';
    const externalId = params.get('ExternalId') ?? undefined;
    const durationRaw = params.get('DurationSeconds');
    if (!ROLE_ARN.test(roleArn))
      throw validation(
        `Value '${roleArn}' at 'roleArn' failed to satisfy constraint: Member must be a role ARN`,
      );
    if (!SESSION_NAME.test(sessionName)) {
      throw validation(
        `Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
      );
    }
    const duration = durationRaw === null ? DEFAULT_DURATION_S : Number(durationRaw);
    if (!Number.isInteger(duration) || duration < MIN_DURATION_S || duration > MAX_DURATION_S) {
      throw validation(
        `Value '${durationRaw}' at 'durationSeconds' failed to satisfy constraint: Member must have value between ${MIN_DURATION_S} and ${MAX_DURATION_S}`,
      );
    }
    // The caller's own policies must allow sts:AssumeRole too: a trust policy naming an account
    // leaves the decision to that account's IAM policies.
    this.opts.iam?.authorize(
      requestPrincipal(caller),
      [{ action: 'sts:AssumeRole', resource: roleArn }],
      region,
      isBuiltIn(caller),
      'AccessDenied',
    );
    const role = this.roles.get(roleArn);
    const trusted =
      role !== undefined &&
      !role.denied &&
      (role.trustedAccounts ?? []).includes(caller.account) &&
      (role.externalId === undefined || role.externalId === externalId);
    if (!role || !trusted) {
      throw new ServiceError(
        403,
        'AccessDenied',
        `User: ${principalArn(caller)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      );
    }
    const lifetimeS = role.credentialLifetimeSeconds ?? duration;
    const expiresAt = Date.now() + lifetimeS * 1000;
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const sessionToken = randomBytes(96).toString('base64');
    this.issued.set(accessKeyId, {
      accessKeyId,
      secretAccessKey,
      sessionToken,
      account: role.account,
      roleArn,
      sessionName,
      expiresAt,
    });
    const roleId = `AROA${createRoleId(roleArn)}`;
    return xmlAnswer(
      'AssumeRole',
      `<Credentials>` +
        `<AccessKeyId>${accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${secretAccessKey}</SecretAccessKey>` +
        `<SessionToken>${sessionToken}</SessionToken>` +
        `<Expiration>${new Date(expiresAt).toISOString()}</Expiration>` +
        `</Credentials>` +
        `<AssumedRoleUser>` +
        `<AssumedRoleId>${roleId}:${escapeXml(sessionName)}</AssumedRoleId>` +
        `<Arn>arn:aws:sts::${role.account}:assumed-role/${roleName(roleArn)}/${escapeXml(sessionName)}</Arn>` +
        `</AssumedRoleUser>`,
    );
  }

  private getCallerIdentity(caller: Principal): string {
    return xmlAnswer(
      'GetCallerIdentity',
      `<Arn>${escapeXml(principalArn(caller))}</Arn><UserId>AIDAEMULATOR</UserId><Account>${caller.account}</Account>`,
    );
  }
}

const validation = (message: string): ServiceError => new ServiceError(400, 'ValidationError', message);

const roleName = (roleArn: string): string => ROLE_ARN.exec(roleArn)?.[2] ?? 'unknown';

const userArn = (account: string, userName: string) => `arn:aws:iam::${account}:user/${userName}`;

/** The ARN a caller is known by: its assumed-role session, or its user (`emulator` when undeclared). */
export const principalArn = (caller: Principal): string =>
  caller.roleArn
    ? `arn:aws:sts::${caller.account}:assumed-role/${roleName(caller.roleArn)}/${caller.sessionName}`
    : userArn(caller.account, caller.userName ?? 'emulator');

/** The caller as IAM judges it. */
export const requestPrincipal = (caller: Principal): RequestPrincipal => ({
  arn: principalArn(caller),
  account: caller.account,
  ...(caller.roleArn && { roleArn: caller.roleArn }),
});

/** The built-in caller of an undeclared access key, which has AdministratorAccess. */
export const isBuiltIn = (caller: Principal): boolean => !caller.roleArn && !caller.userName;

function createRoleId(roleArn: string): string {
  let h = 0;
  for (const c of roleArn) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(16).toUpperCase().padStart(17, '0');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function xmlAnswer(action: string, result: string): string {
  return (
    `<${action}Response xmlns="${STS_NAMESPACE}">` +
    `<${action}Result>${result}</${action}Result>` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
    `</${action}Response>`
  );
}

/** An awsQuery error answer: `Sender` for 4xx, `Receiver` for 5xx, as STS says it. */
export function stsErrorXml(err: ServiceError): string {
  const type = err.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${STS_NAMESPACE}">` +
    `<Error><Type>${type}</Type><Code>${escapeXml(err.type)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId>` +
    `</ErrorResponse>`
  );
}
