// Errors the local service answers, shaped exactly as the AWS SDK v3 parses them.
//
// EMR Serverless (restJson1): HTTP status of the modelled error, the error class in the
// `x-amzn-errortype` header (Coral style, `Name:http://internal.amazon.com/coral/...`; the SDK
// keeps the text before `:`), and a JSON body `{"message": "..."}`.
// KMS (awsJson1_1): the class in the body's `__type` (the SDK reads it first) and in the header.

/** Where the header of a Coral service names its error shapes (the SDK drops it). */
const EMR_CORAL_NAMESPACE = 'http://internal.amazon.com/coral/com.amazonaws.awsemrserverlesscontrolplane/';

export type ServiceName = 'emr-serverless' | 'kms' | 'sts' | 'cloudtrail';

/** An error answer of the AWS API: thrown by handlers, written by the server. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export const validationError = (message: string): ServiceError =>
  new ServiceError(400, 'ValidationException', message);

export const notFoundError = (message: string): ServiceError =>
  new ServiceError(404, 'ResourceNotFoundException', message);

export const conflictError = (message: string): ServiceError =>
  new ServiceError(409, 'ConflictException', message);

export const serializationError = (message: string): ServiceError =>
  new ServiceError(400, 'SerializationException', message);

export const internalError = (message = 'Internal server error'): ServiceError =>
  new ServiceError(500, 'InternalServerException', message);

/** KMS answers every modelled client error with HTTP 400. */
export const kmsError = (type: string, message: string): ServiceError => new ServiceError(400, type, message);

/** The error class a fault uses when only a status is given. */
export function defaultErrorType(status: number): string {
  if (status === 429) return 'ThrottlingException';
  if (status === 409) return 'ConflictException';
  if (status === 402) return 'ServiceQuotaExceededException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 403) return 'AccessDeniedException';
  if (status >= 500) return 'InternalServerException';
  return 'ValidationException';
}

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The status, headers and body of an error answer for the given service. */
export function wireError(service: ServiceName, err: ServiceError): WireError {
  if (service === 'kms' || service === 'cloudtrail') {
    return {
      status: err.status,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': err.type },
      body: { __type: err.type, message: err.message },
    };
  }
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${err.type}:${EMR_CORAL_NAMESPACE}` },
    body: { message: err.message },
  };
}
