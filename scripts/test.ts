// `npm test`: the whole suite on both supported Node.js majors (package.json `engines`): the
// Node.js 22 of the operator's image (`config.imageNodeVersion`) and the newest release of
// Node.js 24 (`config.testNodeMajor`), both installed from the npm registry by scripts/node.sh,
// whatever node is on PATH (an older one only runs this script, which starts the two).
//
// Order, chosen for a machine whose Go cache is cold: the test tools (control plane, helm,
// promtool) are built from their Go modules in the background, at a lower CPU priority, while the
// `unit` project (which needs none of them) runs on each runtime; then the `cluster` project runs
// on each runtime, one after the other (their timing-sensitive end-to-end tests are not shared with
// a second suite's load).
//
// Arguments after `--` go to every vitest run (a file filter, `-t name`); `--runtime 22|24`
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
  if (only !== undefined && only !== '22' && only !== '24') {
    process.stderr.write(`--runtime must be 22 or 24, not ${only}\n`);
    process.exit(2);
  }
  return { only, vitestArgs };
}

function runtimes(only: string | undefined): Runtime[] {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
    config: { imageNodeVersion: string; testNodeMajor: string };
  };
  const image: Runtime = {
    name: '22',
    version: `v${pkg.config.imageNodeVersion}`,
    command: ['scripts/node.sh', pkg.config.imageNodeVersion],
  };
  // The exact release is known once scripts/node.sh has resolved it (printed by `--version`).
  const newest: Runtime = {
    name: '24',
    version: `${pkg.config.testNodeMajor}.x (newest)`,
    command: ['scripts/node.sh', pkg.config.testNodeMajor],
  };
  if (only === '22') return [image];
  if (only === '24') return [newest];
  return [image, newest];
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

/** The command's standard output, trimmed; undefined when it fails. */
function output(command: string[]): Promise<string | undefined> {
  const [file, ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(file as string, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? text.trim() : undefined));
  });
}

async function timed(label: string, command: string[], options?: { nice?: boolean }): Promise<Result> {
  const started = Date.now();
  const code = await run(command, options);
  return { label, code, seconds: Math.round((Date.now() - started) / 1000) };
}

const { only, vitestArgs } = parseArgs(process.argv.slice(2));
const pathMajor = Number(process.versions.node.split('.')[0]);
if (pathMajor < 22) {
  process.stdout.write(
    `[node] the node on PATH is ${process.version}, older than Node.js 22 (package.json engines): it only runs this script; the suite runs on the Node.js 22 and 24 that scripts/node.sh installs from the npm registry\n`,
  );
}
const selected = runtimes(only);
const started = Date.now();

// Installs both runtimes first, so that npm's output does not interleave with a test run; the
// newest 24 is resolved once here and pinned for the rest of the run.
for (const runtime of selected) {
  const version = await output([...runtime.command, '--version']);
  if (version === undefined) process.exit(1);
  runtime.version = version;
  runtime.command = ['scripts/node.sh', version.replace(/^v/, '')];
  process.stdout.write(`Node.js ${runtime.name}: ${version}\n`);
}

const tools = timed(
  'test tools (Go build)',
  [...(selected[0] as Runtime).command, 'node_modules/tsx/dist/cli.mjs', 'src/envtest/build-cli.ts'],
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
