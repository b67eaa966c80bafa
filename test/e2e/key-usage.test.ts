// key-usage end to end: an application on one key, a job run on it and another with a key of its
// own; their workers start in the local service, which records their GenerateDataKey and Decrypt
// in CloudTrail's event history; `key-usage` (the real CLI, reading the resource through the real
// API server) then prints both keys with their calls, and nothing for another application.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyUsage } from '../../src/cli/key-usage.js';
import {
  ADMIN_ACCESS_KEY,
  CLI,
  E2e,
  type JobRunResource,
  jobRunManifest,
  reportFailures,
} from '../support/e2e.js';

let e2e: E2e;
let appKey: string;
let jobKey: string;
let appId: string;
const APP = 'usage-app';

beforeAll(async () => {
  e2e = await E2e.start('e2e-key-usage');
  [appKey, jobKey] = await Promise.all([e2e.createKey(), e2e.createKey()]);
  appId = await e2e.readyApplicationOnKey(APP, appKey, { team: 'data' });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

async function runStarted(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await e2e.apply(jobRunManifest(name, APP, extra));
  const r = await e2e.waitForJob(name, 'submitted', (j) => !!j.status?.jobRunId && (j as JobRunResource));
  // The run's workers come up: the local service uses its key as EMR Serverless would.
  await e2e.aws.setJobRunState(appId, r.status!.jobRunId!, 'RUNNING');
}

/** The real CLI, as a person runs it against this cluster and the local service. */
async function keyUsageCli(...args: string[]): Promise<string> {
  const where = [
    '-n',
    e2e.namespace,
    '--kubeconfig',
    e2e.cluster.kubeconfig,
    '--aws-endpoint',
    e2e.emulator.endpoint,
  ];
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: ADMIN_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_PROFILE: '',
  };
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'key-usage', APP, ...where, ...args], {
    env,
  });
  return stdout;
}

describe('key-usage', () => {
  it("prints the two keys two job runs' workers used, with their calls, from CloudTrail", async () => {
    await runStarted('on-app-key');
    await runStarted('own-key', {
      configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: jobKey } },
    });
    const usage = JSON.parse(await keyUsageCli('-o', 'json', '--since', '1h')) as {
      keys: KeyUsage[];
      application: string;
    };
    expect(usage.application).toBe(appId);
    const byKey = Object.fromEntries(usage.keys.map((k) => [k.keyArn, k]));
    expect(Object.keys(byKey).sort()).toEqual([appKey, jobKey].sort());
    expect(byKey[appKey]).toMatchObject({ generateDataKey: 1, decrypt: 1 });
    expect(byKey[jobKey]).toMatchObject({ generateDataKey: 1, decrypt: 1 });
    // The job's own key was used after the application's.
    expect(byKey[jobKey]!.lastUsed >= byKey[appKey]!.lastUsed).toBe(true);

    const stdout = await keyUsageCli();
    const current = stdout.split('\n').find((l) => l.startsWith(appKey));
    expect(current).toMatch(/\byes$/);
  });
});
