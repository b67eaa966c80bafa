// Two SDK middlewares installed on every client of a region (see clients.ts):
//
//  - per attempt (between the SDK's retry and signing middlewares, so it runs again for every
//    retry and signs after waiting): take a token from the region's bucket in the turn of the
//    namespace the command is tagged with (tenant.ts), count the attempt,
//    and tell the bucket when the answer was throttling;
//  - per call (the outermost `initialize` step): time the whole call, retries included, and
//    report it with its outcome to the AwsCallObserver.
//
// The context object is shared by all attempts of one call, which is how the counts reach the
// per-call middleware.
import { isThrottlingError, toAwsError } from './errors.js';
import type { AwsErrorKind } from './port.js';
import type { TokenBucket } from './rate-limiter.js';
import { SHARED_TENANT } from './tenant.js';

export type AwsService = 'emr-serverless' | 'kms' | 'sts';

/** One SDK call (a ListApplications page, a DescribeKey, ...), after all its retries. */
export interface AwsCallEvent {
  /** The account the call acted in (the namespace role's), or `operator` for the operator's own identity. */
  account: string;
  region: string;
  /** The namespace the call was made for, or SHARED_TENANT (tenant.ts). */
  namespace: string;
  service: AwsService;
  /** The API operation, e.g. "UpdateApplication". */
  operation: string;
  outcome: 'success' | AwsErrorKind;
  /** Wall time of the call, token waits and retry backoff included. */
  seconds: number;
  /** Requests sent: 1 plus the SDK's retries. */
  attempts: number;
  /** How many of those attempts were answered with throttling. */
  throttledAttempts: number;
}

/** Implemented by the controller's metrics: counts and latency by operation and outcome. */
export interface AwsCallObserver {
  onCall(event: AwsCallEvent): void;
}

// Minimal structural views of the SDK's middleware types, so that both clients (whose
// input/output unions differ) can take the same functions without importing @smithy/types.
// Generic in the handler's arguments and result, which is what lets one function stand for the
// SDK's InitializeMiddleware<I, O> and FinalizeRequestMiddleware<I, O> of either client.
type Middleware = <Args extends { input: object }, Result extends { output: object }>(
  next: (args: Args) => Promise<Result>,
  context: CallContext,
) => (args: Args) => Promise<Result>;
interface CallContext {
  commandName?: string;
  [key: string]: unknown;
}

/** The part of an SDK client this file needs. */
export interface MiddlewareHost {
  middlewareStack: {
    add(middleware: Middleware, options: { step: 'initialize'; name: string; priority: 'high' }): void;
    addRelativeTo(
      middleware: Middleware,
      options: { relation: 'before'; toMiddleware: string; name: string; override?: boolean },
    ): void;
  };
}

const ATTEMPTS = 'emrServerlessOperator.attempts';
const THROTTLED = 'emrServerlessOperator.throttledAttempts';
const TENANT = 'emrServerlessOperator.tenant';

/** An SDK command (structural: both clients' commands fit). */
export interface TaggableCommand {
  middlewareStack: Pick<MiddlewareHost['middlewareStack'], 'add'>;
}

/** Makes `command`'s call take `tenant`'s turn at the rate limit and count as its (tenant.ts). */
export function tagTenant<C extends TaggableCommand>(command: C, tenant: string): C {
  const tag: Middleware = (next, context) => (args) => {
    context[TENANT] = tenant;
    return next(args);
  };
  command.middlewareStack.add(tag, {
    step: 'initialize',
    name: 'emrServerlessOperatorTenant',
    priority: 'high',
  });
  return command;
}

/** The tenant a call was tagged with; an untagged call is the shared tenant's. */
const tenantOf = (context: CallContext): string => {
  const tenant = context[TENANT];
  return typeof tenant === 'string' ? tenant : SHARED_TENANT;
};

const count = (context: CallContext, key: string): number => {
  const value = context[key];
  return typeof value === 'number' ? value : 0;
};

/** "UpdateApplicationCommand" -> "UpdateApplication". */
const operationOf = (context: CallContext): string =>
  (context.commandName ?? 'Unknown').replace(/Command$/, '');

export interface CallMiddlewareOptions {
  account: string;
  region: string;
  service: AwsService;
  bucket: TokenBucket;
  observer?: AwsCallObserver;
}

export function installCallMiddleware(client: MiddlewareHost, options: CallMiddlewareOptions): void {
  const { account, region, service, bucket, observer } = options;

  const perAttempt: Middleware = (next, context) => async (args) => {
    await bucket.take(tenantOf(context));
    context[ATTEMPTS] = count(context, ATTEMPTS) + 1;
    try {
      return await next(args);
    } catch (err) {
      if (isThrottlingError(err)) {
        context[THROTTLED] = count(context, THROTTLED) + 1;
        bucket.throttled();
      }
      throw err;
    }
  };
  client.middlewareStack.addRelativeTo(perAttempt, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'emrServerlessOperatorRateLimit',
    override: true,
  });

  if (!observer) return;
  const perCall: Middleware = (next, context) => async (args) => {
    const started = performance.now();
    const report = (outcome: AwsCallEvent['outcome']) => {
      try {
        observer.onCall({
          account,
          region,
          namespace: tenantOf(context),
          service,
          operation: operationOf(context),
          outcome,
          seconds: (performance.now() - started) / 1000,
          attempts: Math.max(1, count(context, ATTEMPTS)),
          throttledAttempts: count(context, THROTTLED),
        });
      } catch {
        // Metrics must never fail an AWS call.
      }
    };
    try {
      const result = await next(args);
      report('success');
      return result;
    } catch (err) {
      report(toAwsError(err, operationOf(context)).kind);
      throw err;
    }
  };
  client.middlewareStack.add(perCall, {
    step: 'initialize',
    name: 'emrServerlessOperatorObserver',
    priority: 'high',
  });
}
