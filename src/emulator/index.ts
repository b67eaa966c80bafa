// The local EMR Serverless + KMS service: faithful enough that the AWS SDK v3 clients cannot
// tell it from AWS for everything the operator does. See docs/local-aws-service.md.
import { EmulatorServer } from './server.js';

export {
  AWS_WRITE_OPERATIONS,
  type CreateKeyOptions,
  type DeclaredRole,
  EmulatorControl,
  EmulatorControlError,
  type EmulatorKeyMetadata,
  type RoleDeclaration,
} from './control-client.js';
export type { Call, Fault } from './server.js';

export interface EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long CREATING, STARTING, STOPPING and CANCELLING last. Default 50 ms. */
  transitionMs?: number;
  /** How many ms one minute of autoStop idle timeout lasts. Default 60000; tests use e.g. 10. */
  idleMinuteMs?: number;
  /** > 0: job runs go SUBMITTED -> ... -> SUCCESS by themselves, one state per this many ms. Default 0 (moved through the control API). */
  jobRunStepMs?: number;
  /** Default 123456789012. */
  accountId?: string;
  /** Region of requests without a SigV4 credential scope. Default us-east-1. */
  defaultRegion?: string;
}

export interface Emulator {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const host = opts.host ?? '127.0.0.1';
  const server = new EmulatorServer({
    accountId: opts.accountId ?? '123456789012',
    defaultRegion: opts.defaultRegion ?? 'us-east-1',
    transitionMs: opts.transitionMs ?? 50,
    idleMinuteMs: opts.idleMinuteMs ?? 60_000,
    ...(opts.jobRunStepMs !== undefined && { jobRunStepMs: opts.jobRunStepMs }),
  });
  const port = await server.listen(opts.port ?? 0, host);
  const shown = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${shown}:${port}`,
    port,
    close: () => {
      closing ??= server.close();
      return closing;
    },
  };
}
