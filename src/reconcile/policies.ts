// The EmrServerlessPolicies a plan is checked against: the second line behind admission, for what
// admission let through (a resource applied before its policy, a namespace relabelled since, a
// cluster without the admission policies). Pure: the policies governing the resource's namespace
// are an observation (the reconciler reads them from the policy cache), and the rules themselves
// are the shared table of src/api/policy-rules.ts.
import { POLICY_KIND } from '../api/constants.js';
import {
  type GovernedKind,
  inheritedKeyViolations,
  type NamedPolicy,
  type PolicyViolation,
  policyViolations,
} from '../api/policy-rules.js';

/** A policy that could not be read: it refuses everything in the namespaces it may govern. */
export interface InvalidPolicy {
  name: string;
  /** What is wrong with it, e.g. `spec.encryption.allowedKeyArns is null`. */
  problem: string;
}

/** The policies that govern one namespace, as the policy cache answers. */
export interface NamespacePolicies {
  policies: NamedPolicy[];
  /** Policies that could not be parsed and may govern the namespace: each refuses every resource. */
  invalid: InvalidPolicy[];
}

/** Where a reconcile reads the policies of its resource's namespace (the policy cache). */
export interface PolicySource {
  policiesFor(namespace: string): Promise<NamespacePolicies>;
}

/** Why a write is refused, for a Stalled status: its reason, its message, and the policies that refuse. */
export interface PolicyRefusal {
  reason: 'PolicyViolation' | 'NoNamespacePolicy';
  message: string;
  /** The policies that refuse it (none for NoNamespacePolicy): the policy_violations metric. */
  policies: string[];
}

const NOTHING_SENT =
  'Nothing was sent to AWS; the resource is checked again as soon as its spec, the policy or the namespace labels change.';

/**
 * Whether the namespace's policies refuse this spec (of `kind`), before any AWS write.
 * `governing` undefined: no policy was looked up, as when none can exist.
 */
export function policyRefusal(
  kind: GovernedKind,
  spec: unknown,
  namespace: string,
  governing: NamespacePolicies | undefined,
  requireNamespacePolicy: boolean,
): PolicyRefusal | undefined {
  const policies = governing?.policies ?? [];
  const invalid = governing?.invalid ?? [];
  if (policies.length === 0 && invalid.length === 0) {
    if (!requireNamespacePolicy) return undefined;
    return {
      reason: 'NoNamespacePolicy',
      policies: [],
      message:
        `No ${POLICY_KIND} selects namespace ${namespace}, and the operator refuses namespaces without one (run --require-namespace-policy). ` +
        `A cluster admin creates an ${POLICY_KIND} that selects it (spec.namespaces or spec.namespaceSelector). ${NOTHING_SENT}`,
    };
  }
  return refusalOf(invalid, policyViolations(kind, spec, policies));
}

/**
 * A job run without a key of its own runs on its application's current key (`keyArn`, undefined
 * for the AWS-owned key): refused when the policies would refuse that key in the application.
 */
export function inheritedKeyRefusal(
  keyArn: string | undefined,
  governing: NamespacePolicies | undefined,
): PolicyRefusal | undefined {
  return refusalOf([], inheritedKeyViolations(keyArn, governing?.policies ?? []));
}

function refusalOf(
  invalid: readonly InvalidPolicy[],
  violations: readonly PolicyViolation[],
): PolicyRefusal | undefined {
  if (invalid.length === 0 && violations.length === 0) return undefined;
  const unreadable = invalid.map(
    (p) =>
      `${POLICY_KIND} ${p.name} cannot be read (${p.problem}): until a cluster admin fixes it, it refuses every resource of the namespaces it may govern`,
  );
  const messages = [...unreadable, ...violations.map((v) => v.message)];
  return {
    reason: 'PolicyViolation',
    message: `${messages.join('; ')}. ${NOTHING_SENT}`,
    policies: [...new Set([...invalid.map((p) => p.name), ...violations.map((v) => v.policy)])].sort(),
  };
}
