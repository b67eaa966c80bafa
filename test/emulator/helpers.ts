// Shared set-up of the emulator tests: a fresh local service per file, the real AWS SDK clients
// pointed at it, and a polling helper for the state machine.
import { EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import {
  type Emulator,
  EmulatorControl,
  type EmulatorOptions,
  startEmulator,
} from '../../src/emulator/index.js';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const credentials = { accessKeyId: 'AKIDEMULATOR', secretAccessKey: 'emulator-secret' };

export interface Harness {
  emulator: Emulator;
  emr: EMRServerlessClient;
  kms: KMSClient;
  control: EmulatorControl;
  emrIn(region: string): EMRServerlessClient;
  kmsIn(region: string): KMSClient;
  close(): Promise<void>;
}

export async function harness(opts: EmulatorOptions = {}): Promise<Harness> {
  const emulator = await startEmulator({
    transitionMs: 30,
    idleMinuteMs: 60_000,
    defaultRegion: REGION,
    ...opts,
  });
  const clients: { destroy(): void }[] = [];
  const emrIn = (region: string) => {
    const c = new EMRServerlessClient({ endpoint: emulator.endpoint, region, credentials });
    clients.push(c);
    return c;
  };
  const kmsIn = (region: string) => {
    const c = new KMSClient({ endpoint: emulator.endpoint, region, credentials });
    clients.push(c);
    return c;
  };
  return {
    emulator,
    emr: emrIn(REGION),
    kms: kmsIn(REGION),
    control: new EmulatorControl(emulator.endpoint),
    emrIn,
    kmsIn,
    close: async () => {
      for (const c of clients) c.destroy();
      await emulator.close();
    },
  };
}

/**
 * A harness for this file: started before its first test, closed after its last, and reset before
 * each test (unless `reset: false`). The returned object is filled in before the first test.
 */
export function useHarness(opts: EmulatorOptions = {}, { reset = true } = {}): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    Object.assign(h, await harness(opts));
  });
  afterAll(async () => {
    await h.close?.();
  });
  if (reset) {
    beforeEach(async () => {
      await h.control.reset();
    });
  }
  return h;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 10));
    last = await read();
  }
  return last;
}

export async function waitForState(
  emr: EMRServerlessClient,
  applicationId: string,
  state: string,
  timeoutMs = 5_000,
): Promise<void> {
  await waitFor(
    async () => (await emr.send(new GetApplicationCommand({ applicationId }))).application?.state,
    (s) => s === state,
    `application ${applicationId} to be ${state}`,
    timeoutMs,
  );
}

/** The error an SDK call rejects with (fails the test if it resolves). */
export async function rejection(
  p: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail, it succeeded');
}

export const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const OTHER_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/job-role`;
