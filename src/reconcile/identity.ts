// Which application a resource is about, and where. Once status records the binding
// (applicationId and region) it wins over spec for life. Before that, a create written ahead
// (status.pendingCreate: name, region, client token) wins over spec: the application it may have
// made is searched for where it was sent. Otherwise spec and the defaults say.
import { FINALIZER } from '../api/constants.js';
import type { EmrServerlessApplication, Origin, PendingCreate, Spec } from '../api/schema.js';
import type { AwsScope } from '../aws/access.js';
import { LISTING_LAG_MS } from './absence.js';

export const spec_ = (resource: EmrServerlessApplication) => (resource.spec ?? {}) as Partial<Spec>;

/** The application this resource is bound to, once status has recorded it. */
export function bindingOf(
  resource: EmrServerlessApplication,
): { applicationId: string; region: string | undefined } | undefined {
  const id = resource.status?.applicationId;
  return id ? { applicationId: id, region: resource.status?.region } : undefined;
}

/** The create written ahead of CreateApplication, while no binding is recorded. */
export function pendingCreateOf(resource: EmrServerlessApplication): PendingCreate | undefined {
  return bindingOf(resource) ? undefined : resource.status?.pendingCreate;
}

/** The account id in an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`). */
export function accountOfArn(arn: string | undefined): string | undefined {
  return arn ? /^arn:[^:]+:[^:]+:[^:]*:([0-9]{12}):/.exec(arn)?.[1] : undefined;
}

/** The account of the bound application: recorded in status, or read from its ARN. */
export function boundAccountOf(resource: EmrServerlessApplication): string | undefined {
  return resource.status?.account ?? accountOfArn(resource.status?.arn);
}

/**
 * The account a reconcile acts in, as far as a recorded binding needs it: the namespace role's;
 * else the found object's (its ARN); else, for a recorded object the operator's own identity did
 * not find (gone, or in another account: the namespace's role was removed), the operator's own
 * account. Only that last case costs a call (STS GetCallerIdentity, once per process).
 */
export async function actingAccount(
  scope: Pick<AwsScope, 'account' | 'actingAccount'>,
  found: { arn: string } | null | undefined,
  recorded: boolean,
): Promise<string | undefined> {
  if (scope.account !== undefined) return scope.account;
  if (found) return accountOfArn(found.arn);
  return recorded ? scope.actingAccount() : undefined;
}

export function regionOf(resource: EmrServerlessApplication, defaultRegion: string): string {
  return (
    bindingOf(resource)?.region ??
    pendingCreateOf(resource)?.region ??
    spec_(resource).region ??
    defaultRegion
  );
}

/**
 * The application to look up: the bound one, else the one spec asks to adopt (unless a create is
 * pending: then the created one is searched for, whatever spec says).
 */
export function applicationIdOf(resource: EmrServerlessApplication): string | undefined {
  const bound = bindingOf(resource)?.applicationId;
  if (bound) return bound;
  return pendingCreateOf(resource) ? undefined : spec_(resource).applicationId;
}

/**
 * How the binding was (or is being) made. Recorded in status.origin; resources bound by a
 * version that did not record it are judged by spec.applicationId, which admission has kept
 * fixed since binding.
 */
export function originOf(resource: EmrServerlessApplication): Origin {
  if (resource.status?.origin) return resource.status.origin;
  if (pendingCreateOf(resource)) return 'Created';
  return spec_(resource).applicationId ? 'Adopted' : 'Created';
}

/**
 * The search for an application an earlier reconcile may have created without its answer
 * arriving (ListApplications by name, then the owner tag): with the recorded create's name when
 * one is pending, else (a create sent by a version that did not record it) with spec's when the
 * finalizer is there. Undefined when there is an id to read, or nothing to search for.
 *
 * `listedAfter`: the scope's shared listing may answer it, if taken after this time (epoch ms).
 * Only without a pending create: then no create of this process is in doubt (a refused one
 * withdrew its record, and an earlier version's is older than this process), so a resource
 * stalled unbound with its finalizer costs no list pages of its own on each reconcile. A deletion
 * confirming an empty search takes a listing from at least the listing lag after the first one.
 * A pending create searches with its own fresh listing: a shared one may predate the create.
 */
export function unrecordedSearchOf(
  resource: EmrServerlessApplication,
  lagMs = LISTING_LAG_MS,
): { name: string; ownerUid: string; listedAfter?: number } | undefined {
  if (applicationIdOf(resource) !== undefined) return undefined;
  const ownerUid = resource.metadata.uid;
  const pending = pendingCreateOf(resource);
  if (pending) return { name: pending.name, ownerUid };
  const name = spec_(resource).name;
  if (name === undefined || !(resource.metadata.finalizers ?? []).includes(FINALIZER)) return undefined;
  const firstEmpty = Date.parse(resource.status?.deletionSearch ?? '');
  return { name, ownerUid, listedAfter: Number.isNaN(firstEmpty) ? 0 : firstEmpty + lagMs };
}

/**
 * A bound resource whose namespace now acts in another account (its role was changed to one of
 * another account, or removed so the operator's own identity in its own account acts). The
 * application cannot be reached from there, and a resource is never moved: nothing is sent,
 * deletion included, until the mapping is restored.
 */
export function accountConflict(resource: EmrServerlessApplication, account?: string): string | undefined {
  const binding = bindingOf(resource);
  const bound = boundAccountOf(resource);
  if (!binding || account === undefined || bound === undefined || account === bound) return undefined;
  const namespace = resource.metadata.namespace;
  return (
    `application ${binding.applicationId} is bound in AWS account ${bound}, but namespace ${namespace} now acts in ` +
    `account ${account}. A resource is never moved between accounts: nothing was sent to AWS` +
    (resource.metadata.deletionTimestamp ? ' and the finalizer stays' : '') +
    `. Restore the namespace's emrserverless.operator.dev/role-arn annotation to a role of account ${bound}` +
    (resource.metadata.deletionTimestamp
      ? `, or, to leave the application in account ${bound} untouched, remove the finalizer by hand.`
      : ', or create a new resource for the new account.')
  );
}

/**
 * A binding field of spec that disagrees with the binding: possible only where the CRD lacks
 * its admission rules. Nothing moves; the resource is Stalled until spec is put back.
 */
export function bindingConflict(resource: EmrServerlessApplication, spec: Spec): string | undefined {
  const binding = bindingOf(resource);
  if (!binding) return pendingCreateConflict(resource, spec);
  const fix = 'Put it back, or create a new resource for another application; nothing was sent to AWS.';
  if (spec.applicationId !== undefined && spec.applicationId !== binding.applicationId) {
    return `spec.applicationId is ${spec.applicationId} but this resource is bound to application ${binding.applicationId} for life. ${fix}`;
  }
  if (spec.applicationId === undefined && originOf(resource) === 'Adopted') {
    return `spec.applicationId was removed but this resource is bound to adopted application ${binding.applicationId} for life. ${fix}`;
  }
  if (spec.region !== undefined && binding.region !== undefined && spec.region !== binding.region) {
    return `spec.region is ${spec.region} but application ${binding.applicationId} is bound in ${binding.region} for life. ${fix}`;
  }
  return undefined;
}

/**
 * A binding field of spec that disagrees with the create written ahead (status.pendingCreate):
 * the application may exist under the recorded name and region, so spec may not move the search
 * elsewhere (admission refuses the same). Nothing moves until spec is put back.
 */
function pendingCreateConflict(resource: EmrServerlessApplication, spec: Spec): string | undefined {
  const pending = pendingCreateOf(resource);
  if (!pending) return undefined;
  const what = `application ${pending.name} is being created for this resource in ${pending.region} (status.pendingCreate)`;
  const fix =
    'Put it back, or delete this resource and create a new one; nothing was sent to AWS for this spec.';
  if (spec.applicationId !== undefined) {
    return `spec.applicationId was added, but ${what} and the resource binds it once it is found. ${fix}`;
  }
  if (spec.name !== undefined && spec.name !== pending.name) {
    return `spec.name is ${spec.name}, but ${what}. ${fix}`;
  }
  if (spec.region !== undefined && spec.region !== pending.region) {
    return `spec.region is ${spec.region}, but ${what}. ${fix}`;
  }
  return undefined;
}
