// `npm test`: the whole suite on every supported runtime this machine can give it: the Node.js of
// the operator's image (package.json `config.imageNodeVersion`, installed from the npm registry by
// scripts/node.sh) and the Node.js on PATH (what a newcomer has), once if they are the same.
//
// Order, chosen for a machine whose Go cache is cold: the test tools (control plane, helm,
// promtool) are built from their Go modules in the background, at a lower CPU priority, while the
// `unit` project (which needs none of them) runs on each runtime; then the `cluster` project runs
// on each runtime, one after the other (their timing-sensitive end-to-end tests are not shared with
// a second suite's load).
//
// Arguments after `--` go to every vitest run (a file filter, `-t name`); `--runtime image|path`
// runs one runtime only.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

type Runtime = { name: string; version: string; command: string[] };
type Result = { label: string; code: number; seconds: number };

const root = new URL('..', import.meta.url).pathname;
const vitest = 'node_modules/vitest/vitest.mjs';

function parseArgs(argv: string[]): { only?: string; vitestArgs: string[] } {
  const vitestArgs: string[] = [];
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runtime') only = argv[++i];
    else if (argv[i]?.startsWith('--runtime=')) only = argv[i]?.slice('--runtime='.length);
    else vitestArgs.push(argv[i] as string);
  }
  if (only !== undefined && only !== 'image' && only !== 'path') {
    process.stderr.write(`--runtime must be image or path, not ${only}\n`);
    process.exit(2);
  }
  return { only, vitestArgs };
}

function runtimes(only: string | undefined): Runtime[] {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
    config: { imageNodeVersion: string };
  };
  const image: Runtime = {
    name: 'image',
    version: `v${pkg.config.imageNodeVersion}`,
    command: ['scripts/node.sh', pkg.config.imageNodeVersion],
  };
  const path: Runtime = { name: 'path', version: process.version, command: [process.execPath] };
  if (only === 'image') return [image];
  if (only === 'path') return [path];
  return image.version === path.version ? [image] : [image, path];
}

function run(command: string[], options: { nice?: boolean } = {}): Promise<number> {
  const [file, ...args] = options.nice ? ['nice', '-n', '10', ...command] : command;
  return new Promise((resolve) => {
    const child = spawn(file as string, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (error) => {
      process.stderr.write(`${command.join(' ')}: ${error.message}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function timed(label: string, command: string[], options?: { nice?: boolean }): Promise<Result> {
  const started = Date.now();
  const code = await run(command, options);
  return { label, code, seconds: Math.round((Date.now() - started) / 1000) };
}

const { only, vitestArgs } = parseArgs(process.argv.slice(2));
const selected = runtimes(only);
const started = Date.now();

// Installs the image's Node.js first, so that its npm output does not interleave with a test run.
for (const runtime of selected) {
  const code = await run([...runtime.command, '--version']);
  if (code !== 0) process.exit(code);
}

const tools = timed(
  'test tools (Go build)',
  [process.execPath, 'node_modules/tsx/dist/cli.mjs', 'src/envtest/build-cli.ts'],
  { nice: true },
);
const project = (name: 'unit' | 'cluster', runtime: Runtime) =>
  timed(`${name} on Node.js ${runtime.version}`, [
    ...runtime.command,
    vitest,
    'run',
    '--project',
    name,
    '--passWithNoTests',
    ...vitestArgs,
  ]);

const results: Result[] = [];
for (const runtime of selected) results.push(await project('unit', runtime));
const built = await tools;
results.push(built);
if (built.code === 0) {
  for (const runtime of selected) results.push(await project('cluster', runtime));
}

process.stdout.write('\nnpm test:\n');
for (const result of results) {
  process.stdout.write(
    `  ${result.code === 0 ? 'passed' : 'FAILED'}  ${result.label} (${result.seconds} s)\n`,
  );
}
process.stdout.write(`  total ${Math.round((Date.now() - started) / 1000)} s\n`);
process.exit(results.every((result) => result.code === 0) ? 0 : 1);
