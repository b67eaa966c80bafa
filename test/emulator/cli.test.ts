// The `emulator` command: flags, the endpoint line, serving real SDK calls, clean exit on SIGTERM.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import {
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emulatorCommand } from '../../src/cli/emulator.js';
import { credentials } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('emulator command', () => {
  it('prints its flags with --help', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await emulatorCommand(['--help'])).toBe(0);
    const text = log.mock.calls.map((c) => String(c[0])).join('\n');
    for (const flag of ['--port', '--host', '--transition-ms', '--idle-minute-ms', '--account', '--region']) {
      expect(text).toContain(flag);
    }
  });

  it('refuses unknown flags and bad values with exit code 2', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await emulatorCommand(['--nope'])).toBe(2);
    expect(await emulatorCommand(['--port', 'abc'])).toBe(2);
    expect(await emulatorCommand(['--account', '12'])).toBe(2);
    expect(err).toHaveBeenCalled();
  });

  it('prints endpoint= first, serves the SDK, and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'emulator',
        '--port',
        '0',
        '--transition-ms',
        '5',
        '--region',
        'eu-north-1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const lines = createInterface({ input: child.stdout! });
      const [first] = (await once(lines, 'line')) as [string];
      expect(first).toMatch(/^endpoint=http:\/\/127\.0\.0\.1:\d+$/);
      const endpoint = first.slice('endpoint='.length);

      const emr = new EMRServerlessClient({ endpoint, region: 'eu-north-1', credentials });
      const out = await emr.send(new CreateApplicationCommand({ releaseLabel: 'emr-7.1.0', type: 'SPARK' }));
      expect(out.arn).toContain(':eu-north-1:123456789012:');
      const got = await emr.send(new GetApplicationCommand({ applicationId: out.applicationId }));
      expect(got.application?.applicationId).toBe(out.applicationId);
      emr.destroy();

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
