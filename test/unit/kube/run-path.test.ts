// The `run` path must not load @kubernetes/client-node: its generated API code alone held about
// 60 MB of the idle operator's memory (docs/reference.md, "Kubernetes client"). Checked by loading
// the run command's modules in a fresh Node process that logs every module it resolves.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url);

function modulesLoadedBy(entries: string[]): string[] {
  const log = join(mkdtempSync(join(tmpdir(), 'run-path-')), 'modules');
  const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');
  return result;
}`;
  const script = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
${entries.map((e) => `await import(${JSON.stringify(new URL(e, ROOT).href)});`).join('\n')}`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT.pathname,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return readFileSync(log, 'utf8').trim().split('\n');
}

// Each case compiles and loads a few hundred modules in a new process: tens of seconds on a
// loaded 2-core machine, more than the unit project's default timeout.
describe('the run path', { timeout: 90_000 }, () => {
  it('loads the controller, the AWS clients and the Kubernetes client, but not client-node', () => {
    const loaded = modulesLoadedBy(['src/cli/run.ts', 'src/controller/operator.ts', 'src/kube/client.ts']);
    expect(loaded.some((url) => url.endsWith('/src/controller/manager.ts'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/src/kube/config.ts'))).toBe(true);
    expect(loaded.filter((url) => url.includes('/@kubernetes/client-node/'))).toEqual([]);
  });

  it('would see client-node if it were loaded', () => {
    const loaded = modulesLoadedBy(['node_modules/@kubernetes/client-node/dist/index.js']);
    expect(loaded.some((url) => url.includes('/@kubernetes/client-node/dist/gen/'))).toBe(true);
  });
});
