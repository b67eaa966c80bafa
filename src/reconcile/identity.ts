// Which application a resource is about, and where: spec first, then what status recorded.
import { FINALIZER } from '../api/constants.js';
import type { EmrServerlessApplication, Spec } from '../api/schema.js';

export const spec_ = (resource: EmrServerlessApplication) => (resource.spec ?? {}) as Partial<Spec>;

export function regionOf(resource: EmrServerlessApplication, defaultRegion: string): string {
  return spec_(resource).region ?? resource.status?.region ?? defaultRegion;
}

/** The application to look up: adopted, or created earlier and recorded in status. */
export function applicationIdOf(resource: EmrServerlessApplication): string | undefined {
  return spec_(resource).applicationId ?? resource.status?.applicationId;
}

/** A finalizer without an id means an earlier reconcile may have created the app and crashed. */
export function mayOwnUnrecordedApplication(resource: EmrServerlessApplication): boolean {
  return (
    applicationIdOf(resource) === undefined &&
    spec_(resource).name !== undefined &&
    (resource.metadata.finalizers ?? []).includes(FINALIZER)
  );
}
