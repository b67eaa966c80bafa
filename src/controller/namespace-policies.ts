// The EmrServerlessPolicies, as the reconcilers check them before every AWS write (admission
// checks them too; see src/api/policy-rules.ts). Policies are cluster-scoped and watched (an
// informer: list and watch), and each is parsed once per change, not once per reconcile.
//
// A policy that cannot be read (a null in it, or a spec its schema refuses) fails closed: it
// refuses every resource of the namespaces it may govern, and of every namespace when even its
// selection (spec.namespaces, spec.namespaceSelector) cannot be read, until a cluster admin fixes it.
//
// Namespaces are selected by name or by label; the labels come from the namespaces cache
// (namespace-roles.ts). When a policy is added, changed or deleted, or a namespace's labels
// change which policies select it, whoever listens is told the namespaces concerned (the manager
// re-queues their resources), so a new policy applies at once, not at the next resync.

import type { Logger } from 'pino';
import { z } from 'zod';
import { GROUP, POLICY_KIND, POLICY_PLURAL, VERSION } from '../api/constants.js';
import { nullFields } from '../api/nulls.js';
import { type NamespaceFacts, selectsNamespace } from '../api/policy-rules.js';
import { LabelSelector, PolicySpec } from '../api/policy-schema.js';
import type { KubeClient } from '../kube/client.js';
import { jsonEqual } from '../reconcile/compare.js';
import type { NamespacePolicies, PolicySource } from '../reconcile/policies.js';
import { Informer, type KubeObject } from './informer.js';
import type { ObjectCache } from './multi-namespace-informer.js';
import type { Namespace } from './namespace-roles.js';

type PolicyObject = KubeObject & { metadata: { annotations?: Record<string, string> }; spec?: unknown };

const POLICIES = { group: GROUP, version: VERSION, plural: POLICY_PLURAL, kind: POLICY_KIND };

/** How long a reconcile waits for the first list of policies before it fails (and is retried). */
const SYNC_WAIT_MS = 10_000;

/** The part of a policy that says which namespaces it governs. */
const Selection = z.object({
  namespaces: z.array(z.string()).optional(),
  namespaceSelector: LabelSelector.optional(),
});
type Selection = z.infer<typeof Selection>;
const SELECTION_FIELDS = ['spec.namespaces', 'spec.namespaceSelector'];

/** A policy as the cache holds it: parsed, or, when it cannot be, what is wrong and whom it may govern. */
export type ReadPolicy =
  | { name: string; spec: PolicySpec }
  /** `selection` undefined: it cannot be told whom the policy governs, so it governs every namespace. */
  | { name: string; problem: string; selection: Selection | undefined };

/** Parses a policy as the API server holds it (nulls looked for as in resources: src/api/nulls.ts). */
export function readPolicy(policy: Pick<PolicyObject, 'metadata' | 'spec'>): ReadPolicy {
  const name = policy.metadata.name;
  const nulls = nullFields(policy, ['spec']);
  const parsed = PolicySpec.safeParse(policy.spec);
  if (nulls.length === 0 && parsed.success) return { name, spec: parsed.data };
  const paths = nulls.map((n) => n.path);
  const problem =
    paths.length > 0
      ? `${paths.join(', ')} ${paths.length > 1 ? 'are' : 'is'} null`
      : (parsed.error?.issues ?? [])
          .map((i) => `spec${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`)
          .join('; ');
  // A null at or above a selection field hides whom the policy governs.
  const selectionHidden = paths.some((path) =>
    SELECTION_FIELDS.some(
      (field) =>
        path === 'spec' || path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`),
    ),
  );
  const selection = selectionHidden ? undefined : Selection.safeParse(policy.spec);
  const readable =
    selection?.success &&
    (selection.data.namespaces !== undefined || selection.data.namespaceSelector !== undefined);
  return { name, problem, selection: readable ? selection.data : undefined };
}

/** Whether the policy governs the namespace (a broken one: whenever it may). */
export function governs(policy: ReadPolicy, namespace: NamespaceFacts): boolean {
  if ('spec' in policy) return selectsNamespace(policy.spec, namespace);
  return policy.selection === undefined || selectsNamespace(policy.selection, namespace);
}

/** The policies, among `read`, that govern the namespace, by name. */
export function policiesGoverning(read: Iterable<ReadPolicy>, namespace: NamespaceFacts): NamespacePolicies {
  const found: NamespacePolicies = { policies: [], invalid: [] };
  const sorted = [...read].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const policy of sorted) {
    if (!governs(policy, namespace)) continue;
    if ('spec' in policy) found.policies.push({ name: policy.name, spec: policy.spec });
    else found.invalid.push({ name: policy.name, problem: policy.problem });
  }
  return found;
}

/**
 * The namespaces whose resources a policy change concerns: those the old or the new version
 * governs, among the known namespaces and the ones either version names.
 */
export function namespacesConcerned(
  before: ReadPolicy | undefined,
  after: ReadPolicy | undefined,
  known: readonly NamespaceFacts[],
): string[] {
  const versions = [before, after].filter((p): p is ReadPolicy => p !== undefined);
  const named = versions.flatMap((p) => ('spec' in p ? p.spec.namespaces : p.selection?.namespaces) ?? []);
  const candidates = new Map<string, NamespaceFacts>(named.map((name) => [name, { name }]));
  for (const namespace of known) candidates.set(namespace.name, namespace);
  return [...candidates.values()].filter((ns) => versions.some((p) => governs(p, ns))).map((ns) => ns.name);
}

/** The namespaces cache and a way to read one namespace's labels (KubeNamespaceRoles). */
export interface NamespaceDirectory {
  readonly informer: ObjectCache<Namespace>;
  labelsOf(namespace: string): Promise<Record<string, string> | undefined>;
}

export class KubeNamespacePolicies implements PolicySource {
  /** The policies, as the manager starts, stops and health-checks its other caches. */
  readonly informer: Informer<PolicyObject>;
  private readonly read = new Map<string, ReadPolicy>();
  private readonly listeners: Array<(namespaces: string[]) => void> = [];
  private readonly log: Logger;

  constructor(
    kube: KubeClient,
    logger: Logger,
    private readonly namespaces: NamespaceDirectory,
    private readonly syncWaitMs = SYNC_WAIT_MS,
  ) {
    this.log = logger.child({ component: 'namespace-policies' });
    this.informer = new Informer<PolicyObject>({ kube, resource: POLICIES, logger });
    this.informer.addEventHandler({
      onAdd: (policy) => this.policyChanged(policy.metadata.name, policy),
      onUpdate: (_before, after) => this.policyChanged(after.metadata.name, after),
      onDelete: (policy) => this.policyChanged(policy.metadata.name, undefined),
    });
    namespaces.informer.addEventHandler({
      onUpdate: (before, after) => this.labelsChanged(before, after),
    });
  }

  /** `listener(namespaces)` runs whenever what governs those namespaces may have changed. */
  onChange(listener: (namespaces: string[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The policies governing the namespace. Until the policies have been listed once, waits a
   * little, then throws: without knowing them nothing may be written (the reconcile is retried).
   */
  async policiesFor(namespace: string): Promise<NamespacePolicies> {
    if (!this.informer.hasSynced()) {
      try {
        await this.informer.waitForSync(AbortSignal.timeout(this.syncWaitMs));
      } catch {
        const { lastError } = this.informer.health();
        throw new Error(
          `the ${POLICY_KIND} objects are not listed yet${lastError ? ` (${lastError})` : ''}: nothing is written to AWS until they are`,
        );
      }
    }
    const labels = this.read.size > 0 ? await this.namespaces.labelsOf(namespace) : undefined;
    return policiesGoverning(this.read.values(), { name: namespace, ...(labels && { labels }) });
  }

  private policyChanged(name: string, policy: PolicyObject | undefined): void {
    const before = this.read.get(name);
    const after = policy ? readPolicy(policy) : undefined;
    if (after) this.read.set(name, after);
    else this.read.delete(name);
    if (before && after && jsonEqual(before, after)) return;
    if (after && 'problem' in after) {
      this.log.warn(
        { policy: name, problem: after.problem, governs: after.selection ?? 'every namespace' },
        'policy cannot be read: it refuses every resource it may govern',
      );
    }
    this.tell(namespacesConcerned(before, after, this.knownNamespaces()));
  }

  private labelsChanged(before: Namespace, after: Namespace): void {
    if (jsonEqual(before.metadata.labels ?? {}, after.metadata.labels ?? {})) return;
    const names = (ns: Namespace) =>
      [...this.read.values()].filter((p) => governs(p, facts(ns))).map((p) => p.name);
    if (!jsonEqual(names(before), names(after))) this.tell([after.metadata.name]);
  }

  private knownNamespaces(): NamespaceFacts[] {
    const known: NamespaceFacts[] = [];
    for (const key of this.namespaces.informer.keys()) {
      const ns = this.namespaces.informer.get(key);
      if (ns) known.push(facts(ns));
    }
    return known;
  }

  private tell(namespaces: string[]): void {
    if (namespaces.length === 0) return;
    for (const listener of this.listeners) listener(namespaces);
  }
}

const facts = (ns: Namespace): NamespaceFacts => ({
  name: ns.metadata.name,
  ...(ns.metadata.labels && { labels: ns.metadata.labels }),
});
