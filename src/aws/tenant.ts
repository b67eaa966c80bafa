// Which namespace an AWS call is made for. A scope's port (access.ts) tags each SDK command with
// its namespace (`tagTenant`, middleware.ts); the SDK middleware reads the tag from the call's
// context, so the rate limit can give each namespace its turn and the calls can be counted per
// namespace, SDK retries included. A tag on the command, not AsyncLocalStorage: on Node.js 20 and
// 22 that hooks every promise of the process, which cost about 33 MB of RSS at 10,000 resources
// (bench/README.md).

/** The tenant of a call made for no single namespace: a scope's shared listing, STS, start-up reads. */
export const SHARED_TENANT = '_shared';
