// The admission policy that refuses a null in spec: a template value that did not render. It
// sees what the CRD's own rules cannot: the object as sent (where the CRD keeps nulls) and
// kubectl's last-applied configuration, where client-side apply leaves the null it turned into
// "delete this field". Shipped next to the CRD (crds/); the operator refuses the same nulls
// (Stalled NullValue) where this policy is not installed.
import { GROUP } from './constants.js';
import { AWS_OWNED_KEY_HINT, LAST_APPLIED_ANNOTATION, NULL_IS_NOT_EMPTY, nullHint } from './nulls.js';

/**
 * A JSON member whose value is null, in kubectl's compact JSON: a whole string token (so text
 * inside a string value cannot match), a colon, null, and the end of the value.
 */
export const NULL_MEMBER = String.raw`"(?:[^"\\]|\\.)*":null[,}]`;

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
  const name = `${plural}.${GROUP}-refuse-nulls`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [GROUP],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: [plural],
            },
          ],
        },
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
            name: 'appliedSpec',
            expression: `variables.lastApplied.contains('"spec":{') ? variables.lastApplied.substring(variables.lastApplied.indexOf('"spec":{')) : ''`,
          },
          {
            // The first null member of the applied spec, e.g. `"encryptionKeyArn":null}`; '' if none.
            name: 'appliedNull',
            expression: `variables.appliedNow ? variables.appliedSpec.find('${celString(NULL_MEMBER)}') : ''`,
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
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

/** The text as the body of a single-quoted CEL string literal. */
function celString(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll("'", "\\'");
}
