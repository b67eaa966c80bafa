// The AWS side of the operator: the port, its SDK implementation, and what surrounds it.
export {
  AwsAccess,
  type AwsAccessOptions,
  type AwsScope,
  type NamespaceRoles,
  NO_ACCOUNT_MAPPING,
  NO_NAMESPACE_ROLES,
  operatorIdentity,
} from './access.js';
export * from './accounts.js';
export { AwsClients, type AwsClientsOptions, credentialsConfigured, DEFAULT_AWS_RPS } from './clients.js';
export { isThrottlingError, toAwsError } from './errors.js';
export { KeyVerifier, type KeyVerifierOptions, type RegionPorts, regionOfKeyArn } from './keys.js';
export type { AwsCallEvent, AwsCallObserver, AwsService } from './middleware.js';
export * from './port.js';
export { TokenBucket, type TokenBucketOptions } from './rate-limiter.js';
export { SdkAwsPort, toAwsApplication } from './sdk-port.js';
