// IAM as the local service's judge: the policy language (Allow/Deny, Action/NotAction,
// Resource/NotResource, Principal/NotPrincipal, Condition) evaluated the way AWS documents it,
// applied to a principal's attached policies and to KMS key policies. Off by default: tests switch
// it on (control API `POST /_emulator/iam`) to run the operator under the policies it prints.
//
// Written for the local service alone, from AWS's documentation ("Policy evaluation logic",
// "Condition operators", "Determining access to a KMS key"); the operator's own key-policy check
// is separate code, so the two can be compared over the same policies.
import { ServiceError } from './errors.js';

export type Effect = 'Allow' | 'Deny';
type Values = string | string[];
/** Operator → condition key → values, as written. */
export type ConditionBlock = Record<string, Record<string, Values | boolean | number>>;

export interface Statement {
  Sid?: string;
  Effect: Effect;
  Principal?: '*' | Record<string, Values>;
  NotPrincipal?: Record<string, Values>;
  Action?: Values;
  NotAction?: Values;
  Resource?: Values;
  NotResource?: Values;
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: Statement[];
}

/** Who makes a request, as IAM sees it. */
export interface RequestPrincipal {
  /** `arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, `arn:aws:iam::ACCOUNT:root`, or a service principal's name. */
  arn: string;
  account?: string;
  /** For an assumed-role session: the role's ARN (key policies name roles, not sessions). */
  roleArn?: string;
  /** A service principal (`emr-serverless.amazonaws.com`), judged by resource policies alone. */
  service?: string;
}

/** Condition keys of a request; names are case-insensitive (stored lower-case), values are not. */
export type RequestContext = Record<string, string | string[]>;

export interface AccessRequest {
  action: string;
  /** The resource's ARN, or `*` for an action without a resource type. */
  resource: string;
  context?: RequestContext;
}

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

const EFFECTS = new Set(['Allow', 'Deny']);
const STATEMENT_FIELDS = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);
const BASE_OPERATORS = new Set([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Bool',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'Null',
]);
const NEGATED = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
  'NumericNotEquals',
]);

export const malformedPolicy = (message: string, type = 'MalformedPolicyDocument'): ServiceError =>
  new ServiceError(400, type, message);

const list = (v: Values | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Parses and checks a policy document as IAM does when it is attached: an unknown operator, a
 * statement with both Action and NotAction, a key policy statement without a principal... is
 * refused, never silently ignored.
 */
export function parsePolicy(
  input: unknown,
  kind: 'identity' | 'resource',
  errorType = 'MalformedPolicyDocument',
): PolicyDocument {
  let doc = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (e) {
      throw malformedPolicy(`The policy is not valid JSON: ${(e as Error).message}`, errorType);
    }
  }
  const bad = (why: string) => malformedPolicy(why, errorType);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad('The policy must be a JSON object');
  const raw = (doc as { Statement?: unknown }).Statement;
  const statements = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (statements.length === 0) throw bad('The policy has no Statement');
  for (const [i, s] of statements.entries()) {
    const where = `Statement ${i + 1}${s && typeof s === 'object' && 'Sid' in s ? ` (${String(s.Sid)})` : ''}`;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw bad(`${where} must be an object`);
    for (const k of Object.keys(s)) if (!STATEMENT_FIELDS.has(k)) throw bad(`${where}: unknown field ${k}`);
    const st = s as Statement;
    if (!EFFECTS.has(st.Effect)) throw bad(`${where}: Effect must be Allow or Deny`);
    if ((st.Action === undefined) === (st.NotAction === undefined))
      throw bad(`${where}: exactly one of Action and NotAction`);
    if ((st.Resource === undefined) === (st.NotResource === undefined))
      throw bad(`${where}: exactly one of Resource and NotResource`);
    const hasPrincipal = st.Principal !== undefined || st.NotPrincipal !== undefined;
    if (kind === 'identity' && hasPrincipal) throw bad(`${where}: an identity policy has no Principal`);
    if (kind === 'resource' && !hasPrincipal) throw bad(`${where}: a key policy statement needs a Principal`);
    for (const [operator, keys] of Object.entries(st.Condition ?? {})) {
      parseOperator(operator, bad);
      if (!keys || typeof keys !== 'object' || Array.isArray(keys))
        throw bad(`${where}: ${operator} must map condition keys to values`);
    }
  }
  return { ...(doc as PolicyDocument), Statement: statements as Statement[] };
}

interface Operator {
  set?: 'ForAllValues' | 'ForAnyValue';
  base: string;
  ifExists: boolean;
}

function parseOperator(operator: string, bad: (why: string) => Error = malformedPolicy): Operator {
  const colon = operator.indexOf(':');
  const set = colon < 0 ? undefined : operator.slice(0, colon);
  if (set !== undefined && set !== 'ForAllValues' && set !== 'ForAnyValue')
    throw bad(`Unknown condition qualifier ${set}`);
  let base = colon < 0 ? operator : operator.slice(colon + 1);
  const ifExists = base.endsWith('IfExists') && base !== 'IfExists';
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  if (!BASE_OPERATORS.has(base) || (ifExists && base === 'Null'))
    throw bad(`Unknown condition operator ${operator}`);
  return { ...(set && { set }), base, ifExists };
}

/** IAM's wildcard match: `*` any run of characters, `?` any one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return ignoreCase ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

/** An ARN pattern matches part by part (`*` does not cross the six colon-separated parts). */
function arnLike(pattern: string, value: string): boolean {
  const p = pattern.split(':');
  const v = value.split(':');
  if (p.length < 6 || v.length < 6) return wildcardMatch(pattern, value);
  const head = (parts: string[]) => parts.slice(0, 5);
  const tail = (parts: string[]) => parts.slice(5).join(':');
  return head(p).every((part, i) => wildcardMatch(part, v[i]!)) && wildcardMatch(tail(p), tail(v));
}

function oneValue(base: string, wanted: string, actual: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return wanted === actual;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return wanted.toLowerCase() === actual.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return wildcardMatch(wanted, actual);
    case 'ArnEquals':
    case 'ArnNotEquals':
    case 'ArnLike':
    case 'ArnNotLike':
      return arnLike(wanted, actual);
    case 'Bool':
      return wanted.toLowerCase() === actual.toLowerCase();
    default: {
      const [w, a] = [Number(wanted), Number(actual)];
      if (Number.isNaN(w) || Number.isNaN(a)) return false;
      if (base === 'NumericEquals' || base === 'NumericNotEquals') return a === w;
      if (base === 'NumericLessThan') return a < w;
      if (base === 'NumericLessThanEquals') return a <= w;
      if (base === 'NumericGreaterThan') return a > w;
      return a >= w;
    }
  }
}

/** One operator on one key: AWS's rules for an absent key, negated operators, and set qualifiers. */
function conditionHolds(operator: string, key: string, written: unknown, context: RequestContext): boolean {
  const op = parseOperator(operator);
  const wanted = (Array.isArray(written) ? written : [written]).map(String);
  const found = context[key.toLowerCase()];
  const actual = found === undefined ? undefined : Array.isArray(found) ? found : [found];
  if (op.base === 'Null') return (wanted[0]?.toLowerCase() === 'true') === (actual === undefined);
  const negated = NEGATED.has(op.base);
  // A value matches when it matches any written value (or, negated, none of them).
  const matches = (value: string) => {
    const any = wanted.some((w) => oneValue(op.base, w, value));
    return negated ? !any : any;
  };
  if (op.set === 'ForAllValues') return (actual ?? []).every(matches);
  if (op.set === 'ForAnyValue') return (actual ?? []).some(matches);
  if (actual === undefined) return op.ifExists || negated;
  return actual.some(matches);
}

function conditionsHold(block: ConditionBlock | undefined, context: RequestContext): boolean {
  for (const [operator, keys] of Object.entries(block ?? {})) {
    for (const [key, written] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, written, context)) return false;
    }
  }
  return true;
}

const actionMatches = (patterns: Values | undefined, action: string) =>
  list(patterns).some((p) => wildcardMatch(p, action, true));
const resourceMatches = (patterns: Values | undefined, resource: string) =>
  list(patterns).some((p) => p === '*' || (resource !== '*' && arnLike(p, resource)));

/** How a statement's principal element names the caller, if it does. */
type PrincipalMatch = 'direct' | 'account' | undefined;

function principalMatch(element: Statement['Principal'], who: RequestPrincipal): PrincipalMatch {
  if (element === '*') return 'direct';
  let best: PrincipalMatch;
  for (const [type, values] of Object.entries(element ?? {})) {
    for (const v of list(values)) {
      if (type === 'Service') {
        if (who.service && v === who.service) return 'direct';
        continue;
      }
      if (type !== 'AWS') continue;
      // {"AWS": "*"} is every principal, as "*" is (IAM User Guide), services included.
      if (v === '*') return 'direct';
      if (who.service) continue;
      if (v === who.arn || (who.roleArn !== undefined && v === who.roleArn)) return 'direct';
      const account = /^[0-9]{12}$/.test(v) ? v : /^arn:[^:]+:iam::([0-9]{12}):root$/.exec(v)?.[1];
      if (account !== undefined && account === who.account) best = 'account';
    }
  }
  return best;
}

export interface Evaluation {
  decision: Decision;
  /** The statement that decided: the explicit Deny, or an Allow that matched. */
  statement?: Statement;
  /** For a resource policy's Allow: whether it names the caller or only the caller's account. */
  via?: 'direct' | 'account';
}

/**
 * Evaluates policies for one request: an explicit Deny wins, then any Allow (Allows add up),
 * else the implicit deny. `principal` is given for resource policies (a key policy), whose
 * statements only apply to the principals they name.
 */
export function evaluate(
  policies: readonly PolicyDocument[],
  request: AccessRequest,
  principal?: RequestPrincipal,
): Evaluation {
  const context = request.context ?? {};
  let allow: Evaluation | undefined;
  for (const policy of policies) {
    for (const st of policy.Statement) {
      let via: PrincipalMatch = 'direct';
      if (principal) {
        if (st.NotPrincipal !== undefined) {
          via = principalMatch(st.NotPrincipal, principal) ? undefined : 'direct';
        } else {
          via = principalMatch(st.Principal, principal);
        }
        if (!via) continue;
      }
      const actionOk =
        st.Action !== undefined
          ? actionMatches(st.Action, request.action)
          : !actionMatches(st.NotAction, request.action);
      if (!actionOk) continue;
      const resourceOk =
        st.Resource !== undefined
          ? resourceMatches(st.Resource, request.resource)
          : !resourceMatches(st.NotResource, request.resource);
      if (!resourceOk || !conditionsHold(st.Condition, context)) continue;
      if (st.Effect === 'Deny') return { decision: 'ExplicitDeny', statement: st };
      if (!allow || (allow.via === 'account' && via === 'direct'))
        allow = { decision: 'Allow', statement: st, via };
    }
  }
  return allow ?? { decision: 'ImplicitDeny' };
}

/** AWS's default key policy: the key's account may use it, as its IAM policies allow. */
export function defaultKeyPolicy(account: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

/** What an identity with AdministratorAccess has: the built-in caller of undeclared access keys. */
export const ADMINISTRATOR_ACCESS: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
};

/** The global condition keys every request carries. */
function globalContext(who: RequestPrincipal, region: string): RequestContext {
  return {
    'aws:requestedregion': region,
    ...(who.service
      ? {}
      : {
          'aws:principalarn': who.roleArn ?? who.arn,
          ...(who.account && { 'aws:principalaccount': who.account }),
        }),
  };
}

const lowerKeys = (context: RequestContext | undefined): RequestContext =>
  Object.fromEntries(Object.entries(context ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * The identities' attached policies and the switch. Identities are named by ARN: a role (its
 * sessions act under its policies) or a user.
 */
export class IamService {
  enforcing = false;
  private attached = new Map<string, PolicyDocument[]>();

  reset(): void {
    this.enforcing = false;
    this.attached.clear();
  }

  attach(identityArn: string, policies: unknown[]): PolicyDocument[] {
    const parsed = policies.map((p) => parsePolicy(p, 'identity'));
    this.attached.set(identityArn, parsed);
    return parsed;
  }

  policiesOf(identityArn: string): PolicyDocument[] | undefined {
    return this.attached.get(identityArn);
  }

  describe(): { enforcing: boolean; identities: Record<string, PolicyDocument[]> } {
    return { enforcing: this.enforcing, identities: Object.fromEntries(this.attached) };
  }

  /** The identity-based decision: the identity's attached policies, or AdministratorAccess for the built-in caller. */
  identityDecision(
    who: RequestPrincipal,
    request: AccessRequest,
    region: string,
    builtIn: boolean,
  ): Evaluation {
    if (who.service) return { decision: 'ImplicitDeny' };
    const policies = this.attached.get(who.roleArn ?? who.arn) ?? (builtIn ? [ADMINISTRATOR_ACCESS] : []);
    return evaluate(policies, withContext(request, who, region));
  }

  /**
   * Throws AccessDeniedException unless the identity's policies allow every request (nothing is
   * checked while not enforcing). `service` names the API for the message's wording.
   */
  authorize(
    who: RequestPrincipal,
    requests: readonly AccessRequest[],
    region: string,
    builtIn: boolean,
    /** The refusal's error code: `AccessDenied` in STS, `AccessDeniedException` elsewhere. */
    errorType = 'AccessDeniedException',
  ): void {
    if (!this.enforcing) return;
    for (const request of requests) {
      const e = this.identityDecision(who, request, region, builtIn);
      if (e.decision !== 'Allow') throw accessDenied(who, request, e.decision, 'identity-based', errorType);
    }
  }

  /**
   * KMS's rule for a key ("Determining access to a KMS key"): an explicit Deny in the key policy
   * or the caller's IAM policies wins; a key policy naming the caller (or `*`) allows on its own
   * within the key's account; a key policy naming only the caller's account defers to its IAM
   * policies; a caller from another account needs both the key policy and its IAM policies.
   * A service principal is judged by the key policy alone.
   */
  authorizeKey(
    who: RequestPrincipal,
    request: AccessRequest,
    keyPolicy: PolicyDocument,
    keyAccount: string,
    region: string,
    builtIn: boolean,
  ): void {
    if (!this.enforcing) return;
    const full = withContext(request, who, region);
    const byKey = evaluate([keyPolicy], full, who);
    if (byKey.decision === 'ExplicitDeny') throw accessDenied(who, request, 'ExplicitDeny', 'resource-based');
    const byIdentity = this.identityDecision(who, request, region, builtIn);
    if (byIdentity.decision === 'ExplicitDeny')
      throw accessDenied(who, request, 'ExplicitDeny', 'identity-based');
    if (byKey.decision !== 'Allow') throw accessDenied(who, request, 'ImplicitDeny', 'resource-based');
    if (who.service) return;
    const sameAccount = who.account === keyAccount;
    if (sameAccount && byKey.via === 'direct') return;
    if (byIdentity.decision !== 'Allow') throw accessDenied(who, request, 'ImplicitDeny', 'identity-based');
  }
}

function withContext(request: AccessRequest, who: RequestPrincipal, region: string): AccessRequest {
  return { ...request, context: { ...globalContext(who, region), ...lowerKeys(request.context) } };
}

/** AWS's AccessDenied wording: who, what, on which resource, and which kind of policy failed it. */
export function accessDenied(
  who: RequestPrincipal,
  request: AccessRequest,
  decision: Decision,
  policy: 'identity-based' | 'resource-based',
  errorType = 'AccessDeniedException',
): ServiceError {
  const why =
    decision === 'ExplicitDeny'
      ? `with an explicit deny in a ${policy} policy`
      : `because no ${policy} policy allows the ${request.action} action`;
  return new ServiceError(
    403,
    errorType,
    `User: ${who.arn} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`,
  );
}
