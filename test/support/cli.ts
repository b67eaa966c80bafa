// Runs a command of the CLI in this process and captures what it prints.
import { vi } from 'vitest';
import { commands } from '../../src/cli/commands.js';

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** `emr-serverless-operator <name> <args>`, for commands that return without serving. */
export async function runCommand(name: string, args: string[]): Promise<CommandOutput> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((s: unknown) => void stdout.push(`${String(s)}\n`)),
    vi.spyOn(console, 'error').mockImplementation((s: unknown) => void stderr.push(`${String(s)}\n`)),
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout.push(String(s));
      return true;
    }),
  ];
  try {
    const code = await commands[name]!.run(args);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
