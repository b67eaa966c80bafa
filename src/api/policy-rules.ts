// What an EmrServerlessPolicy enforces, written once as data (RULES) and read two ways:
// - `policyViolations` evaluates it in the operator, before every AWS write;
// - `policyAdmissionPolicies` turns it into the CEL of the ValidatingAdmissionPolicies that
//   refuse a breaking create or update at the API server (crds/).
// Both read the same table, match patterns the same way (globPattern / celGlob) and say the same
// words, and test/e2e/policy-agreement.test.ts runs a table of cases through both.
import { validatingPolicy } from './admission.js';
import { APPLICATION_PLURAL, GROUP, JOB_RUN_PLURAL, POLICY_KIND } from './constants.js';
import type { LabelSelector, PolicySpec } from './policy-schema.js';

/** The kinds a policy governs, by plural. */
export type GovernedKind = typeof APPLICATION_PLURAL | typeof JOB_RUN_PLURAL;

/** A namespace as a selector sees it. */
export interface NamespaceFacts {
  name: string;
  labels?: Record<string, string>;
}

/** A parsed policy: its name and spec. */
export interface NamedPolicy {
  name: string;
  spec: PolicySpec;
}

export interface PolicyViolation {
  policy: string;
  /** The spec field, e.g. `spec.executionRoleArn`. */
  field: string;
  message: string;
}

/** A field below spec: names, with `[]` for every item of a list. */
type FieldPath = readonly string[];

/** A value that must match one of a policy's allow-list patterns. */
interface AllowListRule {
  type: 'allowList';
  kind: GovernedKind;
  field: FieldPath;
  /** The allow-list in the policy's spec: section and list, e.g. ['jobRuns', 'allowedExecutionRoleArns']. */
  list: readonly [string, string];
  /** What the list holds, for messages: `execution roles`. */
  what: string;
}

/** A field that must be present (`required`) or absent (`forbidden`) when the policy says so. */
interface PresenceRule {
  type: 'presence';
  kind: GovernedKind;
  /** The field that must be present or absent. */
  field: FieldPath;
  /** Only checked when this field is present (job-level `{}`): its parent, or none. */
  when?: FieldPath;
  must: 'required' | 'forbidden';
  /** The policy setting that turns the rule on, and the value that does. */
  setting: readonly [string, string];
  value: boolean | string;
  message: string;
}

type Rule = AllowListRule | PresenceRule;

const DISK_KEY = ['diskEncryptionConfiguration', 'encryptionKeyArn'];
const JOB_OVERRIDES = 'configurationOverrides';
const MONITORING_KEYS = [
  ['monitoringConfiguration', 's3MonitoringConfiguration', 'encryptionKeyArn'],
  ['monitoringConfiguration', 'managedPersistenceMonitoringConfiguration', 'encryptionKeyArn'],
  ['monitoringConfiguration', 'cloudWatchLoggingConfiguration', 'encryptionKeyArn'],
];
const LOG_URI = ['monitoringConfiguration', 's3MonitoringConfiguration', 'logUri'];
const REMOTE_WRITE = ['monitoringConfiguration', 'prometheusMonitoringConfiguration', 'remoteWriteUrl'];

const KEYS = ['encryption', 'allowedKeyArns'] as const;
const LOG_URIS = ['monitoring', 'allowedS3LogUris'] as const;
const REMOTE_WRITES = ['monitoring', 'allowedPrometheusRemoteWriteUrls'] as const;

/** The fields both kinds have, where they have them: at spec's root or under configurationOverrides. */
function sharedRules(kind: GovernedKind, under: string[]): AllowListRule[] {
  return [
    { type: 'allowList', kind, field: [...under, ...DISK_KEY], list: KEYS, what: 'KMS keys' },
    ...MONITORING_KEYS.map(
      (field): AllowListRule => ({
        type: 'allowList',
        kind,
        field: [...under, ...field],
        list: KEYS,
        what: 'KMS keys',
      }),
    ),
    { type: 'allowList', kind, field: [...under, ...LOG_URI], list: LOG_URIS, what: 'S3 log URIs' },
    {
      type: 'allowList',
      kind,
      field: [...under, ...REMOTE_WRITE],
      list: REMOTE_WRITES,
      what: 'Prometheus remote-write URLs',
    },
  ];
}

export const RULES: readonly Rule[] = [
  {
    type: 'presence',
    kind: APPLICATION_PLURAL,
    field: DISK_KEY,
    must: 'required',
    setting: ['encryption', 'requireCustomerManagedKey'],
    value: true,
    message:
      'requires a customer-managed key: set spec.diskEncryptionConfiguration.encryptionKeyArn ({} and an absent field are refused)',
  },
  ...sharedRules(APPLICATION_PLURAL, []),
  {
    type: 'allowList',
    kind: APPLICATION_PLURAL,
    field: ['networkConfiguration', 'subnetIds', '[]'],
    list: ['network', 'allowedSubnetIds'],
    what: 'subnets',
  },
  {
    type: 'allowList',
    kind: APPLICATION_PLURAL,
    field: ['networkConfiguration', 'securityGroupIds', '[]'],
    list: ['network', 'allowedSecurityGroupIds'],
    what: 'security groups',
  },
  {
    type: 'allowList',
    kind: JOB_RUN_PLURAL,
    field: ['executionRoleArn'],
    list: ['jobRuns', 'allowedExecutionRoleArns'],
    what: 'execution roles',
  },
  {
    type: 'presence',
    kind: JOB_RUN_PLURAL,
    field: [JOB_OVERRIDES, 'diskEncryptionConfiguration'],
    must: 'forbidden',
    setting: ['encryption', 'jobRunKeyOverride'],
    value: 'Forbidden',
    message:
      "forbids a job-level key: remove spec.configurationOverrides.diskEncryptionConfiguration (the job then uses its application's key)",
  },
  {
    type: 'presence',
    kind: JOB_RUN_PLURAL,
    field: [JOB_OVERRIDES, ...DISK_KEY],
    when: [JOB_OVERRIDES, 'diskEncryptionConfiguration'],
    must: 'required',
    setting: ['encryption', 'requireCustomerManagedKey'],
    value: true,
    message:
      'requires a customer-managed key: a job-level spec.configurationOverrides.diskEncryptionConfiguration must name an encryptionKeyArn ({} is refused)',
  },
  ...sharedRules(JOB_RUN_PLURAL, [JOB_OVERRIDES]),
];

const show = (field: FieldPath) => `spec.${field.filter((f) => f !== '[]').join('.')}`;

// --- patterns ---------------------------------------------------------------------------

/** The characters RE2 and JavaScript give a meaning to, escaped in a pattern (`*` is the wildcard). */
const REGEX_SPECIALS = ['\\', '.', '+', '?', '(', ')', '[', ']', '{', '}', '^', '$', '|'];

/** A pattern (`*` = any characters, the rest literal) as a regular expression's source. */
export function globPattern(pattern: string): string {
  let source = pattern;
  for (const c of REGEX_SPECIALS) source = source.replaceAll(c, `\\${c}`);
  return `^${source.replaceAll('*', '.*')}$`;
}

/** Whether `value` matches the pattern. */
export function matchesPattern(value: string, pattern: string): boolean {
  return new RegExp(globPattern(pattern), 'su').test(value);
}

/** The CEL that computes globPattern(pattern) for a CEL string expression. */
function celGlob(pattern: string): string {
  let cel = pattern;
  for (const c of REGEX_SPECIALS) cel = `${cel}.replace(${celString(c)}, ${celString(`\\${c}`)})`;
  return `'(?s)^' + ${cel}.replace('*', '.*') + '$'`;
}

/** A CEL single-quoted string literal. */
function celString(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

// --- the operator's evaluation -------------------------------------------------------------

/** Whether the label selector matches these labels (metav1.LabelSelector semantics). */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  const has = (key: string) => Object.hasOwn(labels, key);
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (!has(key) || labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    const ok =
      e.operator === 'In'
        ? has(e.key) && values.includes(labels[e.key]!)
        : e.operator === 'NotIn'
          ? !has(e.key) || !values.includes(labels[e.key]!)
          : e.operator === 'Exists'
            ? has(e.key)
            : !has(e.key);
    if (!ok) return false;
  }
  return true;
}

/** Whether the policy governs the namespace: named in spec.namespaces, or matched by its selector. */
export function selectsNamespace(spec: PolicySpec, namespace: NamespaceFacts): boolean {
  if (spec.namespaces?.includes(namespace.name)) return true;
  return spec.namespaceSelector !== undefined && selectorMatches(spec.namespaceSelector, namespace.labels);
}

/** The values at a field path (every item for `[]`), skipping what is absent. */
function valuesAt(spec: unknown, field: FieldPath): unknown[] {
  let values: unknown[] = [spec];
  for (const name of field) {
    const next: unknown[] = [];
    for (const v of values) {
      if (name === '[]') {
        if (Array.isArray(v)) next.push(...v);
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, name)) {
        const child = (v as Record<string, unknown>)[name];
        if (child !== undefined) next.push(child);
      }
    }
    values = next;
  }
  return values;
}

const setting = (spec: PolicySpec, [section, name]: readonly [string, string]): unknown =>
  (spec as Record<string, Record<string, unknown> | undefined>)[section]?.[name];

function allowListMessage(
  policy: string,
  rule: AllowListRule,
  value: string,
  allowed: readonly string[],
): string {
  return `${POLICY_KIND} ${policy} refuses ${show(rule.field)} ${value}: not among its allowed ${rule.what} (${allowed.length ? allowed.join(', ') : 'none'})`;
}

function presenceMessage(policy: string, rule: PresenceRule): string {
  return `${POLICY_KIND} ${policy} ${rule.message}`;
}

/**
 * What the policies that govern a namespace refuse in a resource's spec, policy by policy, in
 * RULES order. `policies` are those that select the namespace (see selectsNamespace).
 */
export function policyViolations(
  kind: GovernedKind,
  spec: unknown,
  policies: readonly NamedPolicy[],
): PolicyViolation[] {
  const found: PolicyViolation[] = [];
  for (const policy of policies) {
    for (const rule of RULES) {
      if (rule.kind !== kind) continue;
      if (rule.type === 'allowList') {
        const allowed = setting(policy.spec, rule.list) as string[] | undefined;
        if (allowed === undefined) continue;
        const refused = valuesAt(spec, rule.field).find(
          (v) => typeof v !== 'string' || !allowed.some((p) => matchesPattern(v, p)),
        );
        if (refused !== undefined) {
          found.push({
            policy: policy.name,
            field: show(rule.field),
            message: allowListMessage(policy.name, rule, String(refused), allowed),
          });
        }
        continue;
      }
      if (setting(policy.spec, rule.setting) !== rule.value) continue;
      if (rule.when && valuesAt(spec, rule.when).length === 0) continue;
      const present = valuesAt(spec, rule.field).length > 0;
      if (present !== (rule.must === 'required'))
        found.push({
          policy: policy.name,
          field: show(rule.field),
          message: presenceMessage(policy.name, rule),
        });
    }
  }
  return found;
}

/**
 * The key a job run without its own key runs on is its application's. Whether the policies allow
 * that key (`undefined`: the AWS-owned key), as they would allow it in the application's spec.
 */
export function inheritedKeyViolations(
  keyArn: string | undefined,
  policies: readonly NamedPolicy[],
): PolicyViolation[] {
  const spec = { diskEncryptionConfiguration: keyArn ? { encryptionKeyArn: keyArn } : {} };
  return policyViolations(APPLICATION_PLURAL, spec, policies)
    .filter((v) => v.field.startsWith('spec.diskEncryptionConfiguration'))
    .map((v) => ({
      ...v,
      field: 'application key',
      message: `the application's key (${keyArn ?? 'the AWS-owned key'}) is refused: ${v.message}`,
    }));
}

// --- admission -----------------------------------------------------------------------------

/** CEL that is true when the field is present in `root` (each parent checked first), and its value. */
function celField(root: string, field: FieldPath): { present: string; value: string; listAt?: number } {
  const guards: string[] = [];
  let value = root;
  const listAt = field.indexOf('[]');
  for (const name of listAt === -1 ? field : field.slice(0, listAt)) {
    value = `${value}.${name}`;
    guards.push(`has(${value})`);
  }
  return { present: guards.join(' && '), value, ...(listAt !== -1 && { listAt }) };
}

function celSetting(section: string, name: string): { present: string; value: string } {
  return {
    present: `has(params.spec.${section}) && has(params.spec.${section}.${name})`,
    value: `params.spec.${section}.${name}`,
  };
}

function celValidation(rule: Rule): { expression: string; messageExpression: string } {
  const policyName = `params.metadata.name`;
  const field = celField('object.spec', rule.field);
  if (rule.type === 'allowList') {
    const list = celSetting(...rule.list);
    const allowed = (v: string) => `${list.value}.exists(p, ${v}.matches(${celGlob('p')}))`;
    const refused =
      field.listAt === undefined ? field.value : `${field.value}.filter(v, !${allowed('v')})[0]`;
    const ok = field.listAt === undefined ? allowed(field.value) : `${field.value}.all(v, ${allowed('v')})`;
    const allowedText = `(size(${list.value}) == 0 ? 'none' : ${list.value}.join(', '))`;
    return {
      expression: `!(${list.present}) || !(${field.present}) || ${ok}`,
      messageExpression:
        `'${POLICY_KIND} ' + ${policyName} + ' refuses ${show(rule.field)} ' + ${refused} + ` +
        `': not among its allowed ${rule.what} (' + ${allowedText} + ')'`,
    };
  }
  const on = celSetting(...rule.setting);
  const value = typeof rule.value === 'string' ? celString(rule.value) : String(rule.value);
  const when = rule.when ? `!(${celField('object.spec', rule.when).present}) || ` : '';
  const holds = rule.must === 'required' ? `(${field.present})` : `!(${field.present})`;
  return {
    expression: `!(${on.present}) || ${on.value} != ${value} || ${when}${holds}`,
    messageExpression: `'${POLICY_KIND} ' + ${policyName} + ${celString(` ${rule.message}`)}`,
  };
}

/** CEL: does the selector at `selector` match the labels in `labels`. */
function celSelectorMatches(selector: string, labels: string): string {
  const matchLabels = `${selector}.?matchLabels.orValue({}).all(k, k in ${labels} && ${labels}[k] == ${selector}.matchLabels[k])`;
  const expression =
    `e.operator == 'In' ? (e.key in ${labels} && e.?values.orValue([]).exists(v, v == ${labels}[e.key])) : ` +
    `e.operator == 'NotIn' ? (!(e.key in ${labels}) || !e.?values.orValue([]).exists(v, v == ${labels}[e.key])) : ` +
    `e.operator == 'Exists' ? (e.key in ${labels}) : !(e.key in ${labels})`;
  return `(${matchLabels}) && ${selector}.?matchExpressions.orValue([]).all(e, ${expression})`;
}

/**
 * The admission policies, one per governed kind, each with its binding. The binding takes every
 * EmrServerlessPolicy as a parameter (an empty paramRef selector): the API server evaluates the
 * rules once per policy and admits only what all of them allow, and a cluster without any policy
 * admits everything. A policy that does not govern the namespace passes; only a new spec is
 * judged, so the operator's own writes (finalizers) and deletion never are.
 */
export function policyAdmissionPolicies(): Array<Record<string, unknown>> {
  return ([APPLICATION_PLURAL, JOB_RUN_PLURAL] as const).flatMap((plural) =>
    validatingPolicy({
      name: `${plural}.${GROUP}-namespace-policies`,
      plural,
      // When the API server cannot evaluate the rules (right after a restart, before it knows the
      // EmrServerlessPolicy kind), it admits: the operator checks the same rules before any AWS write.
      failurePolicy: 'Ignore',
      paramKind: POLICY_KIND,
      variables: [
        { name: 'specChanged', expression: `request.operation == 'CREATE' || object.spec != oldObject.spec` },
        { name: 'labels', expression: `namespaceObject.metadata.?labels.orValue({})` },
        {
          name: 'governed',
          expression:
            `params.spec.?namespaces.orValue([]).exists(n, n == namespaceObject.metadata.name) || ` +
            `(has(params.spec.namespaceSelector) && ${celSelectorMatches('params.spec.namespaceSelector', 'variables.labels')})`,
        },
      ],
      validations: RULES.filter((r) => r.kind === plural).map((rule) => {
        const v = celValidation(rule);
        return {
          expression: `!variables.specChanged || !variables.governed || (${v.expression})`,
          messageExpression: v.messageExpression,
          reason: 'Forbidden',
        };
      }),
    }),
  );
}
