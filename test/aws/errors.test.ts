// Classification of what the SDK throws, using the SDK's own exception classes.
import {
  ConflictException,
  EMRServerlessServiceException,
  InternalServerException,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ValidationException,
} from '@aws-sdk/client-emr-serverless';
import { KMSServiceException, LimitExceededException, NotFoundException } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { isThrottlingError, toAwsError } from '../../src/aws/errors.js';
import { AwsError } from '../../src/aws/port.js';

const meta = (httpStatusCode?: number) => ({ $metadata: { httpStatusCode } });

/** A service error the model does not declare, as the SDK builds it from the wire. */
const generic = (name: string, status: number, message = `${name} happened`) =>
  new EMRServerlessServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    message,
    ...meta(status),
  });

const nodeError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

describe('toAwsError', () => {
  it.each([
    ['ThrottlingException', 400],
    ['TooManyRequestsException', 400],
    ['ThrottledException', 400],
    ['RequestLimitExceeded', 503],
    ['SomethingElse', 429],
  ])('%s (HTTP %i) is throttled', (name, status) => {
    const error = toAwsError(generic(name, status), 'GetApplication');
    expect(error.kind).toBe('throttled');
    expect(isThrottlingError(generic(name, status))).toBe(true);
  });

  it('KMS LimitExceededException (its request-rate error) is throttled', () => {
    const err = new LimitExceededException({ message: 'Rate exceeded', ...meta(400) });
    expect(toAwsError(err, 'DescribeKey').kind).toBe('throttled');
  });

  it.each([
    ['InternalServerException', new InternalServerException({ message: 'boom', ...meta(500) })],
    ['an unnamed 502', generic('UnknownError', 502)],
    ['an unnamed 503', generic('ServiceUnavailable', 503)],
    ['ECONNREFUSED', nodeError('ECONNREFUSED')],
    ['ECONNRESET', nodeError('ECONNRESET')],
    ['a request timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError', code: 'ETIMEDOUT' })],
    ['a network error wrapped in cause', new Error('send failed', { cause: nodeError('EPIPE') })],
    ['an error without $metadata', new Error('socket hang up')],
    ['a thrown non-error', 'what'],
  ])('%s is transient', (_what, err) => {
    expect(toAwsError(err, 'GetApplication').kind).toBe('transient');
  });

  it.each(['updated', 'deleted', 'stopped', 'started'])(
    'ValidationException about the application status (%s) is a stateRace',
    (verb) => {
      const message = `Application 00abc must be in one of the statuses to be ${verb}: [STOPPED, CREATED]. Current status: STARTED`;
      const error = toAwsError(new ValidationException({ message, ...meta(400) }), 'UpdateApplication');
      expect(error.kind).toBe('stateRace');
      expect(error.code).toBe('ValidationException');
      expect(error.message).toBe(message);
      expect(error.operation).toBe('UpdateApplication');
    },
  );

  it('a stop refused for active job runs is a stateRace', () => {
    const message =
      'Application 00abc cannot be stopped while it has 1 job run(s) in a non-final state. ' +
      'All scheduled and running jobs must be completed or cancelled before stopping an application.';
    expect(toAwsError(new ValidationException({ message, ...meta(400) }), 'StopApplication').kind).toBe(
      'stateRace',
    );
  });

  it('any other ValidationException is invalid', () => {
    const err = new ValidationException({ message: 'Invalid releaseLabel emr-0.0.0', ...meta(400) });
    expect(toAwsError(err, 'CreateApplication').kind).toBe('invalid');
  });

  it.each([
    ['AccessDeniedException', generic('AccessDeniedException', 403)],
    [
      'AccessDeniedException from KMS',
      new KMSServiceException({ name: 'AccessDeniedException', $fault: 'client', ...meta(400) }),
    ],
    ['UnrecognizedClientException', generic('UnrecognizedClientException', 400)],
    ['an unnamed 403', generic('Forbidden', 403)],
    // IRSA: STS refuses the web identity token (no OIDC provider, or a trust policy that does not match).
    ['STS InvalidIdentityToken', generic('InvalidIdentityToken', 400)],
    ['STS IDPRejectedClaim', generic('IDPRejectedClaim', 403)],
    ['STS AccessDenied on AssumeRoleWithWebIdentity', generic('AccessDenied', 403)],
  ])('%s is accessDenied', (_what, err) => {
    expect(toAwsError(err, 'DescribeKey').kind).toBe('accessDenied');
  });

  it('maps quota, conflict and not found', () => {
    expect(toAwsError(new ServiceQuotaExceededException({ message: 'q', ...meta(402) }), 'op').kind).toBe(
      'quota',
    );
    expect(toAwsError(new ConflictException({ message: 'c', ...meta(409) }), 'op').kind).toBe('conflict');
    expect(toAwsError(new ResourceNotFoundException({ message: 'n', ...meta(404) }), 'op').kind).toBe(
      'notFound',
    );
    expect(toAwsError(new NotFoundException({ message: 'n', ...meta(400) }), 'op').kind).toBe('notFound');
  });

  it('falls back on the status for names it does not know', () => {
    expect(toAwsError(generic('Weird', 404), 'op').kind).toBe('notFound');
    expect(toAwsError(generic('Weird', 409), 'op').kind).toBe('conflict');
    expect(toAwsError(generic('Weird', 400), 'op').kind).toBe('invalid');
  });

  it('keeps the code and the original error, and passes AwsErrors through', () => {
    const original = nodeError('ECONNREFUSED');
    const error = toAwsError(original, 'ListApplications');
    expect(error).toBeInstanceOf(AwsError);
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.cause).toBe(original);
    expect(toAwsError(error, 'Other')).toBe(error);
  });
});
