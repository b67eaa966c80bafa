// The local AWS service for the tests of src/aws: one per test file, reset before each test.
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { AwsClients } from '../../src/aws/index.js';
import type { ApplicationState, AwsApplication, AwsError, AwsPort } from '../../src/aws/port.js';
import {
  AWS_WRITE_OPERATIONS,
  type Emulator,
  EmulatorControl,
  startEmulator,
} from '../../src/emulator/index.js';

export interface LocalService {
  endpoint: string;
  control: EmulatorControl;
}

/** Starts the local service for this file; the returned object is filled in before the first test. */
export function useLocalService(): LocalService {
  const service = {} as LocalService;
  let emulator: Emulator | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, transitionMs: 20 });
    service.endpoint = emulator.endpoint;
    service.control = new EmulatorControl(emulator.endpoint);
  });
  beforeEach(async () => {
    await service.control.reset();
  });
  afterAll(async () => {
    await emulator?.close();
  });
  return service;
}

/** The local service and the operator's AWS clients on it, for tests that drive a reconciler. */
export interface ReconcilerService {
  endpoint: string;
  control: EmulatorControl;
  clients: AwsClients;
  /** How many calls the service has logged: a mark for `writesSince`. */
  mark(): Promise<number>;
  /** The AWS writes since `mark`, by operation name. */
  writesSince(mark: number): Promise<string[]>;
}

/**
 * Starts the local service (state carried from test to test, transitions of 20 ms) and AwsClients
 * on it for this file's tests; the returned object is filled in before the first test.
 */
export function useReconcilerService(region: string): ReconcilerService {
  let emulator: Emulator | undefined;
  const service = {
    async mark() {
      return (await service.control.calls()).length;
    },
    async writesSince(mark: number) {
      return (await service.control.calls())
        .slice(mark)
        .filter((c) => AWS_WRITE_OPERATIONS.has(c.operation))
        .map((c) => c.operation);
    },
  } as ReconcilerService;
  beforeAll(async () => {
    emulator = await startEmulator({ transitionMs: 20, defaultRegion: region });
    service.endpoint = emulator.endpoint;
    service.control = new EmulatorControl(emulator.endpoint);
    service.clients = new AwsClients({ endpoint: emulator.endpoint, rps: 0 });
  });
  afterAll(async () => {
    service.clients?.close();
    await emulator?.close();
  });
  return service;
}

/** Polls GetApplication until the application is in `state`. */
export async function waitForState(
  port: AwsPort,
  applicationId: string,
  state: ApplicationState,
  timeoutMs = 5_000,
): Promise<AwsApplication> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const app = await port.getApplication(applicationId);
    if (app?.state === state) return app;
    if (Date.now() > deadline) throw new Error(`${applicationId} is ${app?.state ?? 'gone'}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A KMS key ARN nobody created. */
export const UNKNOWN_KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000';

/** The AwsError a call failed with; fails the test when the call succeeds. */
export async function rejection(promise: Promise<unknown>): Promise<AwsError> {
  try {
    await promise;
  } catch (err) {
    return err as AwsError;
  }
  throw new Error('expected a rejection');
}
