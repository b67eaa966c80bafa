// Every command answers a flag it does not know the same way: the reason and its usage on
// stderr, nothing on stdout, exit status 2; and --help: the usage on stdout, exit status 0.
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { runCommand } from '../support/cli.js';

describe.each(Object.keys(commands))('%s', (name) => {
  it('refuses an unknown flag with its usage and exit status 2', async () => {
    const out = await runCommand(name, ['--no-such-flag']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("'--no-such-flag'");
    expect(out.stderr).toContain(`Usage: emr-serverless-operator ${name}`);
    expect(out.stdout).toBe('');
  });

  it('prints its usage for --help, exit status 0', async () => {
    const out = await runCommand(name, ['--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`Usage: emr-serverless-operator ${name}`);
  });
});

describe('key-policy', () => {
  it('lists the flags that narrow the operator IAM policy in its usage', async () => {
    const out = await runCommand('key-policy', ['--help']);
    expect(out.code).toBe(0);
    for (const flag of [
      '--operator-iam-policy',
      '--cluster-id',
      '--policies',
      '--pass-role-arn',
      '--role-path',
    ]) {
      expect(out.stdout).toMatch(new RegExp(`^ {2}${flag} `, 'm'));
    }
  });
});
