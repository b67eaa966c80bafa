import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { type ControlPlanePaths, controlPlanePaths } from './paths.js';

export interface ControlPlaneVersions {
  /** e.g. v1.37.2, the k8s.io/kubernetes module version that kube-apiserver and kubectl are built from. */
  kubernetes: string;
  /** e.g. v3.7.0, the go.etcd.io/etcd/server/v3 module version. */
  etcd: string;
}

export interface BuildOptions {
  /** Progress lines for a person watching; defaults to stderr. */
  log?: (line: string) => void;
  /** Run `go build` even when the stamp says the binaries are current. */
  force?: boolean;
  paths?: ControlPlanePaths;
}

export interface BuiltControlPlane {
  paths: ControlPlanePaths;
  versions: ControlPlaneVersions;
  /** False when the stamp matched and no build ran. */
  built: boolean;
}

const PACKAGES = ['k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl', './etcd'];

// Bump when the way the binaries are built changes, so existing stamps no longer match.
const RECIPE = 'go build -v -buildvcs=false -ldflags=<version vars> (recipe 1)';

const defaultLog = (line: string) => process.stderr.write(`[controlplane] ${line}\n`);

export function readVersions(moduleDir: string): ControlPlaneVersions {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const version = (module: string) => {
    const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
    if (!match?.[1]) throw new Error(`go.mod in ${moduleDir} does not require ${module}`);
    return match[1];
  };
  return { kubernetes: version('k8s.io/kubernetes'), etcd: version('go.etcd.io/etcd/server/v3') };
}

/**
 * Builds kube-apiserver, kubectl and etcd from the Go module in test/controlplane unless the binaries
 * already match its go.mod, go.sum and sources. The first build compiles ~2400 packages (minutes);
 * Go's build cache makes later rebuilds fast.
 */
export async function ensureControlPlaneBinaries(options: BuildOptions = {}): Promise<BuiltControlPlane> {
  const paths = options.paths ?? controlPlanePaths();
  const log = options.log ?? defaultLog;
  const versions = readVersions(paths.moduleDir);
  const stamp = buildInputsDigest(paths.moduleDir);

  if (!options.force && binariesMatch(paths, stamp)) return { paths, versions, built: false };

  mkdirSync(paths.binDir, { recursive: true });
  const started = Date.now();
  log(`building kube-apiserver, kubectl ${versions.kubernetes} and etcd ${versions.etcd} with Go`);
  log('(the first build compiles ~2400 packages and takes several minutes; later builds use the Go cache)');
  const total = await countPackages(paths.moduleDir).catch(() => undefined);
  const ldflags = versionLdflags(versions.kubernetes, await moduleTime(paths.moduleDir));
  await runGoBuild(paths, ldflags, total, log);
  writeFileSync(paths.stampFile, `${JSON.stringify({ stamp, versions }, null, 2)}\n`);
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)}s into ${paths.binDir}`);
  return { paths, versions, built: true };
}

function binariesMatch(paths: ControlPlanePaths, stamp: string): boolean {
  try {
    for (const binary of [paths.kubeApiServer, paths.kubectl, paths.etcd]) accessSync(binary, constants.X_OK);
    return JSON.parse(readFileSync(paths.stampFile, 'utf8')).stamp === stamp;
  } catch {
    return false;
  }
}

/** Digest of everything the build depends on that lives in this repository. */
function buildInputsDigest(moduleDir: string): string {
  const hash = createHash('sha256').update(RECIPE);
  const files = ['go.mod', 'go.sum', ...goSources(moduleDir)].sort();
  for (const file of files) {
    const path = join(moduleDir, file);
    hash.update(`\0${file}\0`);
    if (existsSync(path)) hash.update(readFileSync(path));
  }
  return hash.digest('hex');
}

function goSources(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return goSources(path, root);
    return entry.name.endsWith('.go') ? [relative(root, path)] : [];
  });
}

/**
 * kube-apiserver and kubectl report their version from these linker variables (as in upstream's
 * hack/lib/version.sh); without them they claim v0.0.0, which confuses discovery-driven clients.
 */
function versionLdflags(gitVersion: string, buildDate: string): string {
  const [major, minor] = gitVersion.replace(/^v/, '').split('.');
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${gitVersion}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitCommit=`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.buildDate=${buildDate}`,
    ])
    .join(' ');
}

/** The release time of k8s.io/kubernetes; a fixed build date keeps the link step cacheable. */
async function moduleTime(moduleDir: string): Promise<string> {
  const { stdout } = await runGo(moduleDir, ['list', '-m', '-json', 'k8s.io/kubernetes']);
  const time: unknown = JSON.parse(stdout).Time;
  return typeof time === 'string' ? time : '1970-01-01T00:00:00Z';
}

async function countPackages(moduleDir: string): Promise<number> {
  const { stdout } = await runGo(moduleDir, ['list', '-deps', ...PACKAGES]);
  return stdout.split('\n').filter(Boolean).length;
}

const goEnv = () => ({ ...process.env, GOWORK: 'off' });

function runGo(cwd: string, args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { cwd, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error) => reject(goError(error)));
    child.on('close', (code) =>
      code === 0 ? resolve({ stdout }) : reject(new Error(`go ${args.join(' ')} failed:\n${stderr}`)),
    );
  });
}

function runGoBuild(
  paths: ControlPlanePaths,
  ldflags: string,
  total: number | undefined,
  log: (line: string) => void,
): Promise<void> {
  const args = [
    'build',
    '-v',
    '-buildvcs=false',
    `-ldflags=${ldflags}`,
    '-o',
    `${paths.binDir}/`,
    ...PACKAGES,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, {
      cwd: paths.moduleDir,
      env: goEnv(),
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    // `go build -v` names each package as it compiles it; anything else on stderr is a diagnostic.
    let compiled = 0;
    let lastPackage = '';
    const diagnostics: string[] = [];
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (/^[\w.\-/]+$/.test(line)) {
        compiled++;
        lastPackage = line;
      } else if (line.startsWith('go: downloading ')) {
        lastPackage = line;
      } else {
        diagnostics.push(line);
      }
    });
    const progress = setInterval(() => {
      const of = total ? `/${total}` : '';
      log(`go build: ${compiled}${of} packages compiled (${lastPackage || 'resolving modules'})`);
    }, 10_000);
    child.on('error', (error) => {
      clearInterval(progress);
      reject(goError(error));
    });
    child.on('close', (code) => {
      clearInterval(progress);
      if (code === 0) resolve();
      else
        reject(new Error(`go build of the control plane failed (exit ${code}):\n${diagnostics.join('\n')}`));
    });
  });
}

function goError(error: NodeJS.ErrnoException): Error {
  return error.code === 'ENOENT'
    ? new Error('the Go toolchain (go >= 1.26) must be on PATH to build the test control plane')
    : error;
}
