// Which resource owns an application: the ownership tags, what a claim found on an application
// means for a resource, where adoption is allowed, and the claim itself.
//
// AWS tags have no conditional write, so the claim is made safe in two steps: every claim by
// this process on one application runs one at a time (ClaimLocks, keyed by the application's
// account, region and id, whichever identity claims it), and inside that turn the tags are read
// again, written only if still unclaimed, and read once more; the planner then binds only when
// that last read names the resource. Leader election makes the
// leader the only process that writes. See docs/reference.md "Ownership".
import {
  OPERATOR_TAG_PREFIX,
  OWNER_CLUSTER_TAG,
  OWNER_NAME_TAG,
  OWNER_NAMESPACE_TAG,
  OWNER_UID_TAG,
} from '../api/constants.js';
import type { EmrServerlessApplication } from '../api/schema.js';
import type { AwsApplication, AwsPort } from '../aws/port.js';

export interface OwnershipOptions {
  /** Written in the cluster tag: the `run --cluster-id` flag, by default the kube-system namespace's uid. */
  clusterId: string;
  /** Namespaces where a resource may adopt an application (spec.applicationId); `*` means all. */
  adoptionNamespaces: readonly string[];
}

/** Without options: no cluster tag, and adoption allowed nowhere (the secure default). */
export const NO_ADOPTION: OwnershipOptions = { clusterId: '', adoptionNamespaces: [] };

/** An ownership claim as read from an application's tags. */
export interface Claim {
  uid: string;
  namespace?: string;
  name?: string;
  cluster?: string;
}

export type ClaimVerdict =
  | { kind: 'unclaimed' }
  /** Claimed by this resource; `missing` are the ownership tags to add or correct (older versions wrote the uid only). */
  | { kind: 'ours'; missing: Record<string, string> }
  | { kind: 'another'; owner: Claim };

/** The tags that claim an application (or a job run) for this resource. */
export function ownershipTags(
  resource: { metadata: Pick<EmrServerlessApplication['metadata'], 'uid' | 'namespace' | 'name'> },
  clusterId: string,
): Record<string, string> {
  return {
    [OWNER_UID_TAG]: resource.metadata.uid,
    [OWNER_NAMESPACE_TAG]: resource.metadata.namespace,
    [OWNER_NAME_TAG]: resource.metadata.name,
    ...(clusterId && { [OWNER_CLUSTER_TAG]: clusterId }),
  };
}

export function claimOf(tags: Record<string, string>): Claim | undefined {
  const uid = tags[OWNER_UID_TAG];
  if (!uid) return undefined;
  return {
    uid,
    namespace: tags[OWNER_NAMESPACE_TAG],
    name: tags[OWNER_NAME_TAG],
    cluster: tags[OWNER_CLUSTER_TAG],
  };
}

/** The uid decides: uids are unique across clusters, so another cluster's claim is never ours. */
export function judgeClaim(
  tags: Record<string, string>,
  resource: EmrServerlessApplication,
  clusterId: string,
): ClaimVerdict {
  const claim = claimOf(tags);
  if (!claim) return { kind: 'unclaimed' };
  if (claim.uid !== resource.metadata.uid) return { kind: 'another', owner: claim };
  const wanted = ownershipTags(resource, clusterId);
  const missing = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => tags[k] !== v));
  return { kind: 'ours', missing };
}

export function describeOwner(owner: Claim): string {
  const who =
    owner.namespace && owner.name
      ? `EmrServerlessApplication ${owner.namespace}/${owner.name} (uid ${owner.uid})`
      : `the EmrServerlessApplication with uid ${owner.uid}`;
  return owner.cluster ? `${who} in cluster ${owner.cluster}` : who;
}

/** Tags with the operator's own removed: what spec.tags is compared with. */
export function withoutOperatorTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith(OPERATOR_TAG_PREFIX)));
}

export function adoptionAllowed(namespace: string, options: OwnershipOptions): boolean {
  return options.adoptionNamespaces.includes('*') || options.adoptionNamespaces.includes(namespace);
}

export function adoptionNotAllowedMessage(namespace: string, what: string): string {
  return (
    `${what} needs adoption allowed in namespace ${namespace}, and the operator does not allow it there. ` +
    `A cluster admin allows it with the operator flag --adopt-namespaces=${namespace} (or * for all namespaces); ` +
    'otherwise remove spec.applicationId to create a new application. Nothing was sent to AWS.'
  );
}

/** Runs claims one at a time per key: the in-process half of "exactly one binds". */
export class ClaimLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const turn = previous.then(task, task);
    const tail = turn.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await turn;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Claims an application for `resource` unless someone else holds it: in its turn, reads the
 * tags again, tags only an unclaimed (or already ours) application, and answers the application
 * as read after the write. The caller's planner decides from that read.
 */
export async function claimApplication(
  port: AwsPort,
  locks: ClaimLocks,
  claim: { applicationId: string; arn: string; tags: Record<string, string> },
): Promise<AwsApplication | undefined> {
  return locks.run(claimKey(port, claim), async () => {
    const current = await port.getApplication(claim.applicationId);
    if (!current) return undefined;
    const holder = claimOf(current.tags);
    if (holder && holder.uid !== claim.tags[OWNER_UID_TAG]) return current;
    await port.tagApplication(current.arn, claim.tags);
    return port.getApplication(claim.applicationId);
  });
}

/**
 * One key per application, whichever identity claims it: `ACCOUNT/REGION/ID`. The account is
 * in the key because the same id in two accounts is two applications. A namespace role's port
 * knows its account; the operator's own identity does not, and takes it from the ARN the
 * application was read with (arn:aws:emr-serverless:REGION:ACCOUNT:/applications/ID), so that
 * the operator and a namespace role of the same account take the same turn.
 */
export function claimKey(port: AwsPort, claim: { applicationId: string; arn: string }): string {
  const account = port.account ?? accountOfArn(claim.arn) ?? 'operator';
  return `${account}/${port.region}/${claim.applicationId}`;
}

/** The account an ARN names (its fifth field), if it has one. */
export function accountOfArn(arn: string): string | undefined {
  const parts = arn.split(':');
  return parts[0] === 'arn' && parts.length >= 6 && parts[4] ? parts[4] : undefined;
}
