// Whether a KMS key policy lets a principal use the key: EMR Serverless' service principal for an
// application's disks, or the operator's role submitting job runs with a key in another account.
//
// Pure, and three-valued on purpose: a policy the evaluator cannot fully decide (a condition key
// or operator it does not know, a value it cannot know, a policy variable) answers `unknown`,
// never a guess in either direction. It evaluates the key policy only: grants and IAM policies
// are outside it (for the service principal the key policy is the only place, for the submitter
// of a key in another account the key policy is the part the key's owner decides).
import {
  emrServerlessPrincipal,
  emrServerlessViaService,
  keyPolicyStatements,
  type Partition,
} from './policies.js';

/** Who asks: a service principal, or an IAM principal of an account (role ARN when known). */
export type KeyPolicyPrincipal = { Service: string } | { AWS: string | undefined; account: string };

/**
 * One KMS request as the key policy sees it. `context` holds the condition keys the request
 * carries (absent keys are absent); `unknownKeys` names keys whose presence or value the caller
 * cannot know (a key ending in `*` covers a prefix): a condition on one answers `unknown`.
 */
export interface KeyPolicyRequest {
  principal: KeyPolicyPrincipal;
  action: string;
  resource: string;
  context: Record<string, string | readonly string[]>;
  unknownKeys?: readonly string[];
}

export type Decision = 'allow' | 'deny' | 'unknown';

export interface Evaluation {
  decision: Decision;
  /** An explicit Deny decided it: the statement's Sid or index. */
  deniedBy?: string;
  /** Why the answer is unknown. */
  unknown?: string[];
}

type Tri = true | false | 'unknown';
type Json = Record<string, unknown>;

/** The condition keys this evaluator knows; any other key in a condition makes it `unknown`. */
const KNOWN_KEYS = [
  'aws:sourcearn',
  'aws:sourceaccount',
  'aws:principalarn',
  'aws:principalaccount',
  'kms:viaservice',
  'kms:calleraccount',
  'kms:encryptioncontextkeys',
] as const;
const CONTEXT_PREFIX = 'kms:encryptioncontext:';
/** Multi-valued keys: without ForAllValues / ForAnyValue their meaning is not decided here. */
const MULTI_VALUED = new Set(['kms:encryptioncontextkeys']);

class Unknown extends Error {}

/** Evaluates a key policy (its JSON text) for one request. */
export function evaluateKeyPolicy(policyText: string, request: KeyPolicyRequest): Evaluation {
  let policy: unknown;
  try {
    policy = JSON.parse(policyText);
  } catch {
    return { decision: 'unknown', unknown: ['the key policy is not valid JSON'] };
  }
  if (!isObject(policy)) return { decision: 'unknown', unknown: ['the key policy is not a JSON object'] };
  const raw = policy.Statement;
  const statements = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  let allow: Tri = false;
  let deny: Tri = false;
  const unknown: string[] = [];
  for (const [index, statement] of statements.entries()) {
    const name = isObject(statement) && typeof statement.Sid === 'string' ? statement.Sid : `#${index + 1}`;
    const result = statementApplies(statement, request, (why) => unknown.push(`statement ${name}: ${why}`));
    const effect = isObject(statement) ? statement.Effect : undefined;
    if (effect === 'Deny') {
      if (result === true) return { decision: 'deny', deniedBy: name };
      deny = or(deny, result);
    } else if (effect === 'Allow') {
      allow = or(allow, result);
    } else {
      unknown.push(`statement ${name}: Effect ${JSON.stringify(effect)} is neither Allow nor Deny`);
      allow = or(allow, 'unknown');
    }
  }
  // No Allow: denied whatever an undecided Deny would say. An undecided Deny may deny what an
  // Allow grants; an undecided Allow may be the only one.
  if (allow === false) return { decision: 'deny' };
  if (allow === true && deny === false) return { decision: 'allow' };
  return { decision: 'unknown', unknown };
}

function statementApplies(statement: unknown, request: KeyPolicyRequest, why: (s: string) => void): Tri {
  if (!isObject(statement)) {
    why('not a JSON object');
    return 'unknown';
  }
  try {
    // Each part is evaluated even when an earlier one is false: a false part decides, whatever
    // the others, so only an unknown part needs the others.
    return and(
      principalMatches(statement, request.principal),
      actionMatches(statement, request.action),
      resourceMatches(statement, request.resource),
      conditionsHold(statement.Condition, request, why),
    );
  } catch (err) {
    if (err instanceof Unknown) {
      why(err.message);
      return 'unknown';
    }
    throw err;
  }
}

function principalMatches(statement: Json, principal: KeyPolicyPrincipal): Tri {
  if ('Principal' in statement) return principalListed(statement.Principal, principal);
  if ('NotPrincipal' in statement) return not(principalListed(statement.NotPrincipal, principal));
  throw new Unknown('no Principal (a key policy statement needs one)');
}

function principalListed(value: unknown, principal: KeyPolicyPrincipal): Tri {
  if (value === '*') return true;
  if (!isObject(value)) throw new Unknown(`Principal ${JSON.stringify(value)} is not "*" or an object`);
  let result: Tri = false;
  for (const [type, entries] of Object.entries(value)) {
    for (const entry of strings(entries, `Principal.${type}`))
      result = or(result, principalEntry(type, entry, principal));
  }
  return result;
}

function principalEntry(type: string, entry: string, principal: KeyPolicyPrincipal): Tri {
  if (type === 'AWS' && entry === '*') return true;
  if (entry.includes('*') || entry.includes('?')) {
    throw new Unknown(`Principal ${type} ${entry}: a partial wildcard is not a principal`);
  }
  if (type === 'Service') return 'Service' in principal && principal.Service === entry;
  if (type !== 'AWS') return false;
  if ('Service' in principal) return false;
  const account = /^[0-9]{12}$/.test(entry) ? entry : /^arn:[^:]+:iam::([0-9]{12}):root$/.exec(entry)?.[1];
  // An account principal stands for every IAM principal of the account (its IAM policies decide).
  if (account !== undefined) return account === principal.account;
  if (principal.AWS === undefined) {
    return arnAccount(entry) === principal.account ? 'unknown' : false;
  }
  return entry === principal.AWS;
}

function actionMatches(statement: Json, action: string): Tri {
  const test = (patterns: string[]) =>
    patterns.some((p) => wildcard(p.toLowerCase()).test(action.toLowerCase()));
  if ('Action' in statement) return test(strings(statement.Action, 'Action'));
  if ('NotAction' in statement) return !test(strings(statement.NotAction, 'NotAction'));
  throw new Unknown('no Action or NotAction');
}

function resourceMatches(statement: Json, resource: string): Tri {
  // In a key policy "*" is the key itself; an ARN pattern is compared as written.
  const test = (patterns: string[]) => patterns.some((p) => wildcard(p).test(resource));
  if ('Resource' in statement) return test(strings(statement.Resource, 'Resource'));
  if ('NotResource' in statement) return !test(strings(statement.NotResource, 'NotResource'));
  throw new Unknown('no Resource or NotResource');
}

type Compare = (value: string, pattern: string) => boolean;

const COMPARES: Record<string, { compare: Compare; negated: boolean }> = {
  stringequals: { compare: (v, p) => v === p, negated: false },
  stringnotequals: { compare: (v, p) => v === p, negated: true },
  stringequalsignorecase: { compare: (v, p) => v.toLowerCase() === p.toLowerCase(), negated: false },
  stringnotequalsignorecase: { compare: (v, p) => v.toLowerCase() === p.toLowerCase(), negated: true },
  stringlike: { compare: (v, p) => wildcard(p).test(v), negated: false },
  stringnotlike: { compare: (v, p) => wildcard(p).test(v), negated: true },
  arnequals: { compare: arnLike, negated: false },
  arnlike: { compare: arnLike, negated: false },
  arnnotequals: { compare: arnLike, negated: true },
  arnnotlike: { compare: arnLike, negated: true },
};

function conditionsHold(condition: unknown, request: KeyPolicyRequest, why: (s: string) => void): Tri {
  if (condition === undefined) return true;
  if (!isObject(condition)) throw new Unknown('Condition is not an object');
  let result: Tri = true;
  for (const [operatorName, block] of Object.entries(condition)) {
    if (!isObject(block)) throw new Unknown(`Condition ${operatorName} is not an object`);
    for (const [key, expected] of Object.entries(block)) {
      const one = conditionHolds(operatorName, key, strings(expected, `${operatorName} ${key}`), request);
      if (one === 'unknown') why(`cannot evaluate ${operatorName} on ${key}`);
      result = and(result, one);
    }
  }
  return result;
}

function conditionHolds(
  operatorName: string,
  key: string,
  expected: string[],
  request: KeyPolicyRequest,
): Tri {
  if (expected.some((v) => v.includes('${'))) return 'unknown';
  const lookup = lookupKey(key, request);
  if (lookup === 'unknown') return 'unknown';
  const values = lookup;
  let name = operatorName.toLowerCase();
  if (name === 'null') {
    if (expected.length !== 1 || !['true', 'false'].includes(expected[0]!.toLowerCase())) return 'unknown';
    return (values === undefined) === (expected[0]!.toLowerCase() === 'true');
  }
  let set: 'all' | 'any' | undefined;
  if (name.startsWith('forallvalues:')) set = 'all';
  if (name.startsWith('foranyvalue:')) set = 'any';
  if (set) name = name.slice(name.indexOf(':') + 1);
  const ifExists = name.endsWith('ifexists');
  if (ifExists) name = name.slice(0, -'ifexists'.length);
  const operator = COMPARES[name];
  if (!operator) return 'unknown';
  if (values === undefined) {
    if (set === 'all') return true; // ForAllValues over no values holds
    if (set === 'any') return false;
    return ifExists || operator.negated;
  }
  if (!set && (MULTI_VALUED.has(key.toLowerCase()) || values.length !== 1)) return 'unknown';
  const holds = (value: string) => {
    const matched = expected.some((p) => operator.compare(value, p));
    return operator.negated ? !matched : matched;
  };
  if (set === 'all') return values.every(holds);
  if (set === 'any') return values.some(holds);
  return holds(values[0]!);
}

/** The values of a condition key in the request: undefined when absent, `unknown` when not knowable. */
function lookupKey(key: string, request: KeyPolicyRequest): readonly string[] | undefined | 'unknown' {
  const lower = key.toLowerCase();
  const known = (KNOWN_KEYS as readonly string[]).includes(lower) || lower.startsWith(CONTEXT_PREFIX);
  if (!known) return 'unknown';
  for (const u of request.unknownKeys ?? []) {
    const l = u.toLowerCase();
    if (l === lower || (l.endsWith('*') && lower.startsWith(l.slice(0, -1)))) return 'unknown';
  }
  if (lower.startsWith(CONTEXT_PREFIX)) {
    // The context key's own case: an exact match is certain; one differing only in case may or
    // may not match, depending on how KMS folds case, so it is not decided here.
    const contextKey = key.slice(CONTEXT_PREFIX.length);
    const entries = Object.entries(request.context).filter(([k]) =>
      k.toLowerCase().startsWith(CONTEXT_PREFIX),
    );
    const exact = entries.find(([k]) => k.slice(CONTEXT_PREFIX.length) === contextKey);
    if (exact) return asArray(exact[1]);
    if (entries.some(([k]) => k.toLowerCase() === lower)) return 'unknown';
    return undefined;
  }
  const entry = Object.entries(request.context).find(([k]) => k.toLowerCase() === lower);
  return entry ? asArray(entry[1]) : undefined;
}

/** ArnLike / ArnEquals: the six parts compared each with `*` and `?` (the last part keeps its colons). */
function arnLike(value: string, pattern: string): boolean {
  const parts = (arn: string) => {
    const split = arn.split(':');
    return split.length < 6 ? undefined : [...split.slice(0, 5), split.slice(5).join(':')];
  };
  const v = parts(value);
  const p = parts(pattern);
  if (!v || !p) return pattern === '*';
  return p.every((part, i) => wildcard(part).test(v[i]!));
}

/** `*` any characters, `?` one, the rest literal. */
function wildcard(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

function strings(value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Unknown(`${where}: ${JSON.stringify(v)} is not a string`);
  });
}

const asArray = (v: string | readonly string[]): readonly string[] => (typeof v === 'string' ? [v] : v);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arnAccount = (arn: string) => /^arn:[^:]+:[^:]+:[^:]*:([0-9]{12}):/.exec(arn)?.[1];

function and(...values: Tri[]): Tri {
  if (values.includes(false)) return false;
  return values.includes('unknown') ? 'unknown' : true;
}
function or(a: Tri, b: Tri): Tri {
  if (a === true || b === true) return true;
  return a === 'unknown' || b === 'unknown' ? 'unknown' : false;
}
function not(a: Tri): Tri {
  return a === 'unknown' ? 'unknown' : !a;
}

// --- verdicts ---------------------------------------------------------------------------------

/** The actions EMR Serverless' workers call on a disk encryption key. */
export const SERVICE_KEY_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'] as const;
/** What submitting a job run with a job-level key needs of its submitter. */
export const SUBMITTER_KEY_ACTIONS = ['kms:DescribeKey', 'kms:GenerateDataKey', 'kms:Decrypt'] as const;

export type KeyPolicyVerdict =
  | { verdict: 'allows' }
  | {
      verdict: 'denies';
      /** The actions refused. */
      actions: string[];
      /** The Deny statement that refuses them, when one does (the statements below do not undo it). */
      deniedBy?: string;
      /** The statements to add, ready to paste (what `key-policy` prints). */
      statements: Record<string, unknown>[];
      message: string;
    }
  | { verdict: 'unknown'; reason: string };

export interface ServiceUseQuery {
  /** The key policy's JSON text (GetKeyPolicy, policy name `default`). */
  policy: string;
  keyArn: string;
  partition: Partition;
  region: string;
  /** The application's account; undefined while unknown (before a create). */
  account?: string | undefined;
  /** The application's id; undefined before it is created. */
  applicationId?: string | undefined;
  /** The declared encryption context (EMR Serverless adds `applicationId`). */
  encryptionContext?: Record<string, string> | undefined;
}

/**
 * Whether the key policy lets EMR Serverless (`emr-serverless.<domain>`) call GenerateDataKey and
 * Decrypt for this application. The request is what the guide documents: source ARN and account
 * the application's, the encryption context the declared one plus `applicationId`. Whether the
 * service's own calls carry kms:ViaService or kms:CallerAccount is not documented: a condition on
 * either is `unknown`. Before a create, the id (so the source ARN and `applicationId`) is unknown too.
 */
export function serviceUseVerdict(query: ServiceUseQuery): KeyPolicyVerdict {
  const { partition, region, account, applicationId } = query;
  const applicationArn =
    account && applicationId
      ? `arn:${partition.name}:emr-serverless:${region}:${account}:/applications/${applicationId}`
      : undefined;
  const declared = query.encryptionContext ?? {};
  const contextPairs: Record<string, string> = {
    ...declared,
    ...(applicationId ? { applicationId } : {}),
  };
  const unknownKeys = ['kms:ViaService', 'kms:CallerAccount'];
  if (!applicationArn) unknownKeys.push('aws:SourceArn');
  if (!account) unknownKeys.push('aws:SourceAccount');
  if (!applicationId) unknownKeys.push('kms:EncryptionContext:applicationId', 'kms:EncryptionContextKeys');
  const context: Record<string, string | string[]> = {
    ...(applicationArn ? { 'aws:SourceArn': applicationArn } : {}),
    ...(account ? { 'aws:SourceAccount': account } : {}),
    ...Object.fromEntries(Object.entries(contextPairs).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
    'kms:EncryptionContextKeys': Object.keys(contextPairs),
  };
  const principal = emrServerlessPrincipal(partition);
  // Before a create the application's account may be unknown: the key's is the likely one.
  const fixAccount = account ?? accountOfKeyArn(query.keyArn);
  if (!fixAccount) return { verdict: 'unknown', reason: `${query.keyArn} is not a KMS key ARN` };
  const fixArn =
    applicationArn ?? `arn:${partition.name}:emr-serverless:${region}:${fixAccount}:/applications/*`;
  return verdictOf(
    query.policy,
    SERVICE_KEY_ACTIONS.map((action) => ({
      principal: { Service: principal },
      action,
      resource: query.keyArn,
      context,
      unknownKeys,
    })),
    {
      who: principal,
      what: applicationArn ? `application ${applicationArn}` : 'this application',
      keyArn: query.keyArn,
      statements: () =>
        keyPolicyStatements({
          applicationArn: fixArn,
          ...(Object.keys(declared).length ? { encryptionContext: declared } : {}),
        }),
    },
  );
}

export interface SubmitterUseQuery {
  policy: string;
  keyArn: string;
  partition: Partition;
  /** The region of the application (kms:ViaService names its endpoint). */
  region: string;
  /** The submitter's account. */
  account: string;
  /** The submitter's role ARN (`arn:PARTITION:iam::ACCOUNT:role/...`), when known. */
  roleArn?: string | undefined;
}

/**
 * Whether the key policy lets the submitter of job runs (the operator's role) describe and use a
 * key of another account through EMR Serverless. Only meaningful for a key in another account:
 * in the key's own account the key policy usually hands the decision to IAM. The encryption
 * context of the calls made on the submitter's behalf is not documented: a condition on it is
 * `unknown`.
 */
export function submitterUseVerdict(query: SubmitterUseQuery): KeyPolicyVerdict {
  const { partition, region, account, roleArn } = query;
  const context: Record<string, string> = {
    'kms:ViaService': emrServerlessViaService(partition, region),
    'kms:CallerAccount': account,
    'aws:PrincipalAccount': account,
    ...(roleArn ? { 'aws:PrincipalArn': roleArn } : {}),
  };
  const unknownKeys = [
    'kms:EncryptionContext:*',
    'kms:EncryptionContextKeys',
    'aws:SourceArn',
    'aws:SourceAccount',
  ];
  if (!roleArn) unknownKeys.push('aws:PrincipalArn');
  const who = roleArn ?? `account ${account}`;
  return verdictOf(
    query.policy,
    SUBMITTER_KEY_ACTIONS.map((action) => ({
      principal: { AWS: roleArn, account },
      action,
      resource: query.keyArn,
      context,
      unknownKeys,
    })),
    {
      who,
      what: 'job runs that name this key',
      keyArn: query.keyArn,
      statements: () =>
        keyPolicyStatements({
          applicationArn: `arn:${partition.name}:emr-serverless:${region}:${account}:/applications/*`,
          operatorRoleArn: roleArn ?? `arn:${partition.name}:iam::${account}:root`,
          jobLevelKey: true,
        }).filter((s) => s.Sid !== 'AllowEmrServerlessDiskEncryption'),
    },
  );
}

interface VerdictText {
  who: string;
  what: string;
  keyArn: string;
  statements: () => Record<string, unknown>[];
}

function verdictOf(policy: string, requests: KeyPolicyRequest[], text: VerdictText): KeyPolicyVerdict {
  const results = requests.map((r) => ({ action: r.action, ...evaluateKeyPolicy(policy, r) }));
  const denied = results.filter((r) => r.decision === 'deny');
  if (denied.length > 0) {
    const actions = denied.map((r) => r.action);
    const deniedBy = denied.find((r) => r.deniedBy)?.deniedBy;
    const statements = text.statements();
    const fix = deniedBy
      ? `Statement ${deniedBy} of the key policy denies it: remove or narrow it (and make sure the key policy has ${statements.map((s) => s.Sid).join(', ')}: ${JSON.stringify(statements)}).`
      : `Add to the key policy: ${JSON.stringify(statements)}`;
    return {
      verdict: 'denies',
      actions,
      ...(deniedBy ? { deniedBy } : {}),
      statements,
      message: `The key policy of ${text.keyArn} does not let ${text.who} call ${actions.join(' and ')} for ${text.what}. ${fix}`,
    };
  }
  const unknown = results.filter((r) => r.decision === 'unknown');
  if (unknown.length > 0) {
    const reasons = [...new Set(unknown.flatMap((r) => r.unknown ?? []))];
    return {
      verdict: 'unknown',
      reason: `The key policy of ${text.keyArn} could not be decided for ${text.who} (${unknown.map((r) => r.action).join(', ')}): ${reasons.join('; ') || 'undecided'}.`,
    };
  }
  return { verdict: 'allows' };
}

const accountOfKeyArn = (keyArn: string) => /^arn:[^:]+:kms:[^:]*:([0-9]{12}):/.exec(keyArn)?.[1];

/** Several checks of one key (the service's, the submitter's) as one: any denial, else any doubt. */
export function combinedVerdict(verdicts: readonly KeyPolicyVerdict[]): KeyPolicyVerdict {
  const denied = verdicts.filter((v) => v.verdict === 'denies');
  if (denied.length === 1) return denied[0]!;
  if (denied.length > 1) {
    return {
      verdict: 'denies',
      actions: [...new Set(denied.flatMap((v) => v.actions))],
      statements: denied.flatMap((v) => v.statements),
      message: denied.map((v) => v.message).join(' '),
    };
  }
  const unknown = verdicts.filter((v) => v.verdict === 'unknown');
  if (unknown.length > 0) return { verdict: 'unknown', reason: unknown.map((v) => v.reason).join(' ') };
  return { verdict: 'allows' };
}
