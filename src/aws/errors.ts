// Turns whatever the AWS SDK threw into an AwsError whose kind tells the reconciler what to do.
//
// The SDK names a service error after the error shape (`err.name`) and keeps the HTTP answer in
// `err.$metadata.httpStatusCode`; network failures are plain Node errors with a `code`
// (ECONNREFUSED ...) and, once the SDK's retries are spent, a `$metadata` without a status.
// The name decides first, because the HTTP status does not choose the class (aws-facts.md);
// the status is the fallback for names this file does not know.
import { AwsError, type AwsErrorKind } from './port.js';

/** The names the SDK's standard retry strategy treats as throttling (plus HTTP 429). */
const THROTTLING_NAMES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException', // KMS: "the request rate exceeded a quota"
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/** Node and SDK failures below HTTP: nothing was answered, so trying again may work. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
const TRANSIENT_NAMES = new Set([
  'InternalServerException', // EMR Serverless
  'KMSInternalException',
  'DependencyTimeoutException', // KMS
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError', // the SDK's request timeout
  'RequestTimeout',
  'RequestTimeoutException',
]);
const ACCESS_DENIED_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  // STS refusing the web identity (IRSA) before any EMR Serverless or KMS call: the role's trust
  // policy or the cluster's OIDC provider, not the request, is what needs fixing.
  'InvalidIdentityToken',
  'IDPRejectedClaim',
]);
const NOT_FOUND_NAMES = new Set(['ResourceNotFoundException', 'NotFoundException']);

/**
 * The service refuses a write because of the application's current state, not its input, e.g.
 * "Application X must be in one of the statuses to be updated: [STOPPED, CREATED]. Current status: STARTED"
 * (the same wording for delete, start and stop), or a stop refused because job runs are still
 * active ("All scheduled and running jobs must be completed or cancelled before stopping an
 * application"). It arrives as a plain ValidationException, so only the message tells it apart
 * from bad input; looking again soon is the right answer to both.
 */
const STATE_RACE_MESSAGE =
  /must be in one of the (statuses|states)|current (status|state)\s*:|must be completed or cancelled|in a non-final state/i;

interface SdkErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const asRecord = (err: unknown): SdkErrorLike =>
  typeof err === 'object' && err !== null ? (err as SdkErrorLike) : {};

const nameOf = (err: unknown): string => {
  const name = asRecord(err).name;
  return typeof name === 'string' ? name : '';
};

const statusOf = (err: unknown): number | undefined => asRecord(err).$metadata?.httpStatusCode;

/** Node's error code (ECONNREFUSED ...), looking through `cause` as the SDK does. */
function networkCodeOf(err: unknown, depth = 0): string | undefined {
  const rec = asRecord(err);
  if (typeof rec.code === 'string' && NETWORK_CODES.has(rec.code)) return rec.code;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && depth < 5 ? networkCodeOf(cause, depth + 1) : undefined;
}

/** Whether the service (or a proxy) said "slow down": also used by the rate limiter. */
export function isThrottlingError(err: unknown): boolean {
  return THROTTLING_NAMES.has(nameOf(err)) || statusOf(err) === 429;
}

function kindOf(err: unknown, name: string, message: string): AwsErrorKind {
  if (isThrottlingError(err)) return 'throttled';
  if (networkCodeOf(err) !== undefined || TRANSIENT_NAMES.has(name)) return 'transient';
  if (name === 'ValidationException') return STATE_RACE_MESSAGE.test(message) ? 'stateRace' : 'invalid';
  if (ACCESS_DENIED_NAMES.has(name)) return 'accessDenied';
  if (name === 'ServiceQuotaExceededException') return 'quota';
  if (name === 'ConflictException') return 'conflict';
  if (NOT_FOUND_NAMES.has(name)) return 'notFound';

  const status = statusOf(err);
  // No HTTP answer at all (or a thrown non-SDK value): the request may not have reached AWS.
  if (status === undefined) return 'transient';
  if (status >= 500) return 'transient';
  if (status === 403 || status === 401) return 'accessDenied';
  if (status === 404) return 'notFound';
  if (status === 409) return 'conflict';
  if (status === 402) return 'quota';
  return 'invalid'; // any other 4xx: the service refused the request as sent
}

/** Classifies an SDK failure of `operation` (e.g. "UpdateApplication"). AwsErrors pass through. */
export function toAwsError(err: unknown, operation: string): AwsError {
  if (err instanceof AwsError) return err;
  const rec = asRecord(err);
  const name = nameOf(err);
  const message = typeof rec.message === 'string' && rec.message !== '' ? rec.message : name || String(err);
  const code = name && name !== 'Error' ? name : (networkCodeOf(err) ?? (name || 'UnknownError'));
  const awsError = new AwsError(kindOf(err, name, message), code, message, operation);
  awsError.cause = err;
  return awsError;
}
