// Which namespace an AWS call is made for. The controller runs each reconcile inside
// `forNamespace`; the SDK middleware (middleware.ts) reads it, so the rate limit can give each
// namespace its turn and the calls can be counted per namespace, without threading a name
// through every port method. Async context follows the reconcile's awaits, SDK retries included.
import { AsyncLocalStorage } from 'node:async_hooks';

/** The tenant of a call made for no single namespace: a scope's shared listing, start-up reads. */
export const SHARED_TENANT = '_shared';

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with its AWS calls made for `namespace`. */
export function forNamespace<R>(namespace: string, fn: () => R): R {
  return current.run(namespace, fn);
}

/** Runs `fn` with its AWS calls made for no single namespace (work shared by all of them). */
export function forAllNamespaces<R>(fn: () => R): R {
  return current.run(SHARED_TENANT, fn);
}

/** The namespace the running code's AWS calls are for. */
export function currentTenant(): string {
  return current.getStore() ?? SHARED_TENANT;
}
