// Which application a resource is about, and where. Once status records the binding
// (applicationId and region) it wins over spec for life; before that, spec and the defaults say.
import { FINALIZER } from '../api/constants.js';
import type { EmrServerlessApplication, Origin, Spec } from '../api/schema.js';
import type { AwsScope } from '../aws/access.js';

export const spec_ = (resource: EmrServerlessApplication) => (resource.spec ?? {}) as Partial<Spec>;

/** The application this resource is bound to, once status has recorded it. */
export function bindingOf(
  resource: EmrServerlessApplication,
): { applicationId: string; region: string | undefined } | undefined {
  const id = resource.status?.applicationId;
  return id ? { applicationId: id, region: resource.status?.region } : undefined;
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
  return bindingOf(resource)?.region ?? spec_(resource).region ?? defaultRegion;
}

/** The application to look up: the bound one, else the one spec asks to adopt. */
export function applicationIdOf(resource: EmrServerlessApplication): string | undefined {
  return bindingOf(resource)?.applicationId ?? spec_(resource).applicationId;
}

/**
 * How the binding was (or is being) made. Recorded in status.origin; resources bound by a
 * version that did not record it are judged by spec.applicationId, which admission has kept
 * fixed since binding.
 */
export function originOf(resource: EmrServerlessApplication): Origin {
  return resource.status?.origin ?? (spec_(resource).applicationId ? 'Adopted' : 'Created');
}

/** A finalizer without an id means an earlier reconcile may have created the app and crashed. */
export function mayOwnUnrecordedApplication(resource: EmrServerlessApplication): boolean {
  return (
    applicationIdOf(resource) === undefined &&
    spec_(resource).name !== undefined &&
    (resource.metadata.finalizers ?? []).includes(FINALIZER)
  );
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
  if (!binding) return undefined;
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
