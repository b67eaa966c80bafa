// The namespace -> IAM role mapping, read from namespace annotations (see src/aws/accounts.ts).
// Namespaces are the admin's: tenants with edit rights in a namespace cannot change its
// annotations, so a resource cannot choose the account it acts in.
//
// Namespaces are watched (an informer: list and watch namespaces), so a reconcile reads the
// mapping from memory and a change to a namespace's role annotations is told at once to whoever
// listens (the manager re-queues that namespace's resources). Before the cache has synced, or for
// a namespace it does not hold yet, the namespace is read with a `get`.
//
// The same cache gives the namespaces' labels, which EmrServerlessPolicies select namespaces by
// (namespace-policies.ts).

import type { Logger } from 'pino';
import type { NamespaceRoles } from '../aws/access.js';
import {
  EXTERNAL_ID_ANNOTATION,
  type NamespaceRole,
  namespaceRoleOf,
  REGION_ANNOTATION,
  ROLE_ARN_ANNOTATION,
} from '../aws/accounts.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import { httpStatusOf } from '../kube/errors.js';
import { Informer, type KubeObject } from './informer.js';

export type Namespace = KubeObject & {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
};

const MAPPING_ANNOTATIONS = [ROLE_ARN_ANNOTATION, REGION_ANNOTATION, EXTERNAL_ID_ANNOTATION];
const NAMESPACES = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' };

/** Whether two versions of a namespace map it differently (any of the three annotations). */
export function mappingChanged(before: Namespace | undefined, after: Namespace | undefined): boolean {
  return MAPPING_ANNOTATIONS.some(
    (name) => before?.metadata.annotations?.[name] !== after?.metadata.annotations?.[name],
  );
}

export class KubeNamespaceRoles implements NamespaceRoles {
  /** The namespaces, as the manager starts, stops and health-checks its other caches. */
  readonly informer: Informer<Namespace>;
  private readonly listeners: Array<(namespace: string) => void> = [];

  constructor(
    private readonly kube: KubeClient,
    logger: Logger,
  ) {
    this.informer = new Informer<Namespace>({
      kube,
      resource: NAMESPACES,
      logger,
    });
    const tell = (before: Namespace | undefined, after: Namespace | undefined) => {
      const name = (after ?? before)?.metadata.name;
      if (name && mappingChanged(before, after)) for (const listener of this.listeners) listener(name);
    };
    this.informer.addEventHandler({
      onUpdate: (before, after) => tell(before, after),
      onDelete: (before) => tell(before, undefined),
    });
  }

  /** `listener(namespace)` runs whenever a namespace's role, region or external id annotation changes. */
  onMappingChange(listener: (namespace: string) => void): void {
    this.listeners.push(listener);
  }

  async roleOf(namespace: string): Promise<NamespaceRole | undefined> {
    return namespaceRoleOf(namespace, (await this.metadataOf(namespace))?.annotations);
  }

  /** The namespace's labels; undefined when it has none or is gone. */
  async labelsOf(namespace: string): Promise<Record<string, string> | undefined> {
    return (await this.metadataOf(namespace))?.labels;
  }

  private async metadataOf(namespace: string): Promise<Namespace['metadata'] | undefined> {
    const cached = this.informer.hasSynced() ? this.informer.get(namespace) : undefined;
    return cached ? cached.metadata : await this.read(namespace);
  }

  private async read(name: string): Promise<Namespace['metadata'] | undefined> {
    try {
      const path = resourcePath({ ...NAMESPACES, name });
      return (await this.kube.request<Namespace>({ method: 'GET', path })).metadata;
    } catch (err) {
      // A namespace that is gone has no resources left to act for.
      if (httpStatusOf(err) !== 404) throw err;
      return undefined;
    }
  }
}
