// The admission policy that refuses a null in spec: a template value that did not render. It
// sees what the CRD's own rules cannot: the object as sent (where the CRD keeps nulls) and
// kubectl's last-applied configuration, where client-side apply leaves the null it turned into
// "delete this field". Shipped next to the CRD (crds/); the operator refuses the same nulls
// (Stalled NullValue) where this policy is not installed.
import { GROUP, VERSION } from './constants.js';
import { AWS_OWNED_KEY_HINT, LAST_APPLIED_ANNOTATION, NULL_IS_NOT_EMPTY, nullHint } from './nulls.js';

/** A whole JSON string token: its quotes, and every escape taken as one. */
const STRING = String.raw`"(?:[^"\\]|\\.)*"`;

/**
 * A JSON member whose value is null, in kubectl's compact JSON: a string token, a colon, null and
 * the end of the value. Alone it may also begin at the closing quote of a string (`":"` in
 * `"sparkSubmitParameters":":null,"` is a string token to it), so it is only ever searched from a
 * place where a member name begins: see FIRST_NULL_MEMBER.
 */
export const NULL_MEMBER = `${STRING}:null[,}]`;

/**
 * From the start of a text that begins outside strings: whole tokens (a string, or one character
 * outside strings), as few as needed, then a null member. Every token is consumed whole, so a
 * string can only begin at an opening quote, and one followed by `:` is a member name: the match
 * ends at the first null member and no text inside a string value can be taken for one. (CEL's
 * regular expressions, RE2, have no lookbehind: this is how the match is kept in step.)
 */
export const FIRST_NULL_MEMBER = `^(?:[^"]|${STRING})*?${NULL_MEMBER}`;

/**
 * The null member at the end of a FIRST_NULL_MEMBER match, for the message. The leftmost start
 * is the member's opening quote: an earlier quote would have to take it in as a string's content,
 * and it follows `{` or `,`, never an escaping backslash.
 */
export const NULL_MEMBER_AT_END = `${NULL_MEMBER}$`;

/** Whole tokens whose brackets balance, nested at most `depth` deep. */
function balanced(depth: number): string {
  const token = String.raw`[^"{}\[\]]|${STRING}`;
  let tokens = `(?:${token})*`;
  for (let i = 0; i < depth; i++) tokens = String.raw`(?:${token}|[{\[]${tokens}[}\]])*`;
  return tokens;
}

/**
 * How deep the applied `status` may nest for the policy to tell it from spec: the operator's own
 * status (conditions, diskEncryption.encryptionContext) is three deep.
 */
export const STATUS_DEPTH = 4;

/**
 * The top-level `status` member of kubectl's applied configuration and the closing brace after
 * it: the end of the text (kubectl ends it with a newline). kubectl sorts the members, so status
 * follows spec and is the last. A `,"status":` nested in spec cannot match (what follows it
 * closes more than it opens), and `,"status":` never occurs inside a string (its first quote
 * would close one and leave `status` outside). A status nested deeper than STATUS_DEPTH does not
 * match: then the whole rest of the text is searched, as if it were spec (the safe side).
 * Searched from the first `},"status":`, normally the top-level one, so the cost of this long
 * expression is paid on the applied status alone.
 */
export const STATUS_AT_END = String.raw`,"status":${balanced(STATUS_DEPTH)}\}\s*$`;

type JsonSchema = { [key: string]: unknown };

interface NullCheck {
  /** Where, for the message: `spec.diskEncryptionConfiguration.encryptionKeyArn`, `spec.tags[*]`. */
  path: string;
  /** CEL, true when that place holds a null. */
  expression: string;
}

/**
 * One check for every place the CRD keeps a null (every `nullable` node of the schema), each
 * guarded so that it never selects into a null or a missing parent. An enum needs none: its
 * schema refuses a null (`Unsupported value: null`). Subtrees kept as they are
 * (x-kubernetes-preserve-unknown-fields) are left to the operator.
 */
function nullChecks(schema: JsonSchema, value: string, path: string, depth = 0): NullCheck[] {
  const checks: NullCheck[] = [];
  const isMap = `type(${value}) == map`;
  const visit = (
    child: JsonSchema,
    childValue: string,
    childPath: string,
    guard: (inner: string) => string,
  ) => {
    if (child.nullable && !child.enum)
      checks.push({ path: childPath, expression: guard(`${childValue} == null`) });
    for (const inner of nullChecks(child, childValue, childPath, depth + 1))
      checks.push({ path: inner.path, expression: guard(inner.expression) });
  };
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
    visit(
      child,
      `${value}.${name}`,
      `${path}.${name}`,
      (inner) => `${isMap} && has(${value}.${name}) && ${inner}`,
    );
  }
  if (typeof schema.additionalProperties === 'object') {
    const key = `k${depth}`;
    visit(
      schema.additionalProperties as JsonSchema,
      `${value}[${key}]`,
      `${path}[*]`,
      (inner) => `${isMap} && ${value}.exists(${key}, ${inner})`,
    );
  }
  if (typeof schema.items === 'object') {
    const item = `i${depth}`;
    visit(
      schema.items as JsonSchema,
      item,
      `${path}[*]`,
      (inner) => `type(${value}) == list && ${value}.exists(${item}, ${inner})`,
    );
  }
  return checks;
}

/** The policy and its binding, for the kind `plural` whose spec has this (CRD) schema. */
export function admissionPolicy(plural: string, specSchema: JsonSchema): Array<Record<string, unknown>> {
  return validatingPolicy({
    name: `${plural}.${GROUP}-refuse-nulls`,
    plural,
    failurePolicy: 'Fail',
    variables: [
      {
        name: 'lastApplied',
        expression: `object.metadata.?annotations[?'${LAST_APPLIED_ANNOTATION}'].orValue('')`,
      },
      {
        // Only a write that records a new applied configuration is judged by it: an older one
        // may be stale, and the operator's own writes (a finalizer) must never be refused.
        name: 'appliedNow',
        expression: `request.operation == 'CREATE' || oldObject.metadata.?annotations[?'${LAST_APPLIED_ANNOTATION}'].orValue('') != variables.lastApplied`,
      },
      {
        // Where spec begins: kubectl's compact JSON writes a member as `"spec":{`, and a string
        // cannot hold that text (its quotes would be escaped).
        name: 'specAt',
        expression: `variables.lastApplied.indexOf('"spec":{')`,
      },
      {
        // The applied top-level status and the closing brace after it (e.g. a manifest exported
        // with its status); '' if there is none. Searched from the first `},"status":` on.
        name: 'statusTail',
        expression: `variables.lastApplied.contains('},"status":') ? variables.lastApplied.substring(variables.lastApplied.indexOf('},"status":')).find('${celString(STATUS_AT_END)}') : ''`,
      },
      {
        // The spec member alone, from `"spec":{` to its closing brace (and the root's, when no
        // status follows): nothing after spec is judged.
        name: 'appliedSpec',
        expression: `variables.specAt < 0 ? '' : variables.lastApplied.size() - variables.statusTail.size() > variables.specAt ? variables.lastApplied.substring(variables.specAt, variables.lastApplied.size() - variables.statusTail.size()) : variables.lastApplied.substring(variables.specAt)`,
      },
      {
        // The first null member of the applied spec, e.g. `"encryptionKeyArn":null}`; '' if none.
        name: 'appliedNull',
        expression: `variables.appliedNow ? variables.appliedSpec.find('${celString(FIRST_NULL_MEMBER)}').find('${celString(NULL_MEMBER_AT_END)}') : ''`,
      },
      {
        // The operator's own writes and deletion never change spec: only a new spec is judged.
        name: 'specChanged',
        expression: `request.operation == 'CREATE' || object.spec != oldObject.spec`,
      },
    ],
    validations: [
      {
        expression: `variables.appliedNull == ''`,
        messageExpression: `'spec holds a null in the applied manifest (' + variables.appliedNull.substring(0, variables.appliedNull.size() - 1) + '): a template value that did not render? kubectl apply would remove the field. ${NULL_IS_NOT_EMPTY} ${AWS_OWNED_KEY_HINT}'`,
        reason: 'Invalid',
      },
      ...nullChecks(specSchema, 'object.spec', 'spec').map((check) => ({
        expression: `!variables.specChanged || !(${check.expression})`,
        message: `${check.path} is null: a template value that did not render? ${nullHint([check.path])}`,
        reason: 'Invalid',
      })),
    ],
  });
}

export interface PolicyDefinition {
  name: string;
  /** The kind it judges, by plural, on create and update. */
  plural: string;
  failurePolicy: 'Fail' | 'Ignore';
  /** The kind whose objects are its parameters; every one of them is (an empty paramRef selector). */
  paramKind?: string;
  variables: Array<{ name: string; expression: string }>;
  validations: Array<Record<string, string>>;
}

/** A ValidatingAdmissionPolicy of this project's group and its Deny binding. */
export function validatingPolicy(d: PolicyDefinition): Array<Record<string, unknown>> {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: d.name },
      spec: {
        failurePolicy: d.failurePolicy,
        ...(d.paramKind && { paramKind: { apiVersion: `${GROUP}/${VERSION}`, kind: d.paramKind } }),
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: [d.plural],
            },
          ],
        },
        variables: d.variables,
        validations: d.validations,
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: d.name },
      spec: {
        policyName: d.name,
        validationActions: ['Deny'],
        ...(d.paramKind && { paramRef: { selector: {}, parameterNotFoundAction: 'Allow' } }),
      },
    },
  ];
}

/** The text as the body of a single-quoted CEL string literal. */
function celString(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll("'", "\\'");
}
