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
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

type Runtime = { name: string; version: string; command: string[] };
type Result = { label: string; code: number; seconds: number; failures?: string[] };

const root = new URL('..', import.meta.url).pathname;
const vitest = 'node_modules/vitest/vitest.mjs';

function parseArgs(argv: string[]): { only?: string; vitestArgs: string[] } {
  const vitestArgs: string[] = [];
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runtime') only = argv[++i];
    else if (argv[i]?.startsWith('--runtime=')) only = argv[i]?.slice('--runtime='.length);
    else if (argv[i] === '--' && vitestArgs.length === 0) continue;
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
// Each run also writes vitest's JSON report, so that the summary at the end names what failed
// (a CI log is often read from its tail, far below a failing run's own output).
const reports = `${root}.cache/test-reports`;
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const project = async (name: 'unit' | 'cluster', runtime: Runtime): Promise<Result> => {
  const report = `${reports}/${name}-${runtime.name}.json`;
  const result = await timed(`${name} on Node.js ${runtime.version}`, [
    ...runtime.command,
    vitest,
    'run',
    '--project',
    name,
    '--passWithNoTests',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...vitestArgs,
  ]);
  return result.code === 0 ? result : { ...result, failures: failuresIn(report) };
};

type JsonReport = {
  testResults?: Array<{
    name: string;
    status: string;
    message?: string;
    assertionResults?: Array<{ fullName: string; status: string; failureMessages?: string[] }>;
  }>;
};

/** The failed files and tests of a vitest JSON report, each with its error's first line. */
function failuresIn(report: string): string[] {
  let parsed: JsonReport;
  try {
    parsed = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
  } catch {
    return [`(no report at ${report}: the run ended before vitest wrote it)`];
  }
  const firstLine = (text: string | undefined) => (text ?? '').trim().split('\n')[0]?.slice(0, 300) ?? '';
  const failures: string[] = [];
  for (const file of parsed.testResults ?? []) {
    const path = file.name.startsWith(root) ? file.name.slice(root.length) : file.name;
    const failed = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failed)
      failures.push(`${path} > ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
    if (failed.length === 0 && file.status === 'failed') failures.push(`${path}: ${firstLine(file.message)}`);
  }
  return failures;
}

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
  for (const failure of result.failures ?? []) process.stdout.write(`          ${failure}\n`);
}
process.stdout.write(`  total ${Math.round((Date.now() - started) / 1000)} s\n`);
process.exit(results.every((result) => result.code === 0) ? 0 : 1);
