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
import {
  type ArgoCdPaths,
  argoCdPaths,
  type ControlPlanePaths,
  controlPlanePaths,
  type PromtoolPaths,
  promtoolPaths,
} from './paths.js';

export interface ControlPlaneVersions {
  /** e.g. v1.37.2, the k8s.io/kubernetes module version that kube-apiserver and kubectl are built from. */
  kubernetes: string;
  /** e.g. v3.7.0, the go.etcd.io/etcd/server/v3 module version. */
  etcd: string;
  /** e.g. v3.21.4, the helm.sh/helm/v3 module version (the chart tests' helm). */
  helm: string;
}

export interface BuildOptions {
  /** Progress lines for a person watching; defaults to stderr. */
  log?: (line: string) => void;
  /** Run `go build` even when the stamp says the binaries are current. */
  force?: boolean;
}

export interface BuiltControlPlane {
  paths: ControlPlanePaths;
  versions: ControlPlaneVersions;
  /** False when the stamp matched and no build ran. */
  built: boolean;
}

/**
 * Binaries built from one Go module of this repository (a directory with go.mod, go.sum and
 * `tool` directives). Every tool the tests run is built this way, through the one Go build cache:
 * no downloaded binaries, and a warm rebuild is seconds.
 */
export interface GoToolsSpec {
  /** Names the progress lines, e.g. "controlplane". */
  name: string;
  moduleDir: string;
  binDir: string;
  /** Records what the binaries in binDir were built from. */
  stampFile: string;
  /** Packages to build (import paths, or ./dir in the module); one binary each, named as the package. */
  packages: string[];
  /** The binaries `go build` leaves in binDir. */
  binaries: string[];
  /** Build tags. */
  tags?: string[];
  /** GOTOOLCHAIN for a module that needs a newer Go than the one on PATH (fetched through the module proxy). */
  toolchain?: string;
  /** Linker flags, computed just before a build. */
  ldflags?: () => Promise<string>;
  /** What is being built, for the first progress line. */
  description: string;
  /** e.g. "~2400 packages and takes several minutes", for the first progress line. */
  coldCost: string;
}

export interface GoToolsOptions {
  log?: (line: string) => void;
  force?: boolean;
}

// Bump when the way the binaries are built changes, so existing stamps no longer match.
const RECIPE = 'go build -v -buildvcs=false -tags=<tags> -ldflags=<ldflags> (recipe 2)';

const logTo = (name: string) => (line: string) => process.stderr.write(`[${name}] ${line}\n`);

/** Builds the spec's binaries unless the stamp says they match the module's go.mod, go.sum and sources. */
export async function ensureGoTools(spec: GoToolsSpec, options: GoToolsOptions = {}): Promise<boolean> {
  const log = options.log ?? logTo(spec.name);
  const stamp = buildInputsDigest(spec);
  if (!options.force && binariesMatch(spec, stamp)) return false;

  mkdirSync(spec.binDir, { recursive: true });
  const started = Date.now();
  log(`building ${spec.description} with Go`);
  log(`(the first build compiles ${spec.coldCost}; later builds use the Go cache)`);
  const total = await countPackages(spec).catch(() => undefined);
  const ldflags = spec.ldflags ? await spec.ldflags() : undefined;
  await runGoBuild(spec, ldflags, total, log);
  writeFileSync(spec.stampFile, `${JSON.stringify({ stamp }, null, 2)}\n`);
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)}s into ${spec.binDir}`);
  return true;
}

/** The version of `module` that a go.mod requires. */
export function requiredVersion(moduleDir: string, module: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new Error(`go.mod in ${moduleDir} does not require ${module}`);
  return match[1];
}

export function readVersions(moduleDir: string): ControlPlaneVersions {
  return {
    kubernetes: requiredVersion(moduleDir, 'k8s.io/kubernetes'),
    etcd: requiredVersion(moduleDir, 'go.etcd.io/etcd/server/v3'),
    helm: requiredVersion(moduleDir, 'helm.sh/helm/v3'),
  };
}

/**
 * Builds kube-apiserver, kubectl, etcd and helm from the Go module in test/controlplane unless the
 * binaries already match it. helm shares the module so that Go's minimal version selection gives
 * it the k8s.io packages already compiled for the control plane: it adds ~180 packages to the
 * ~2400 of a cold build.
 */
export async function ensureControlPlaneBinaries(
  options: BuildOptions & { paths?: ControlPlanePaths } = {},
): Promise<BuiltControlPlane> {
  const paths = options.paths ?? controlPlanePaths();
  const versions = readVersions(paths.moduleDir);
  const built = await ensureGoTools(
    {
      name: 'controlplane',
      moduleDir: paths.moduleDir,
      binDir: paths.binDir,
      stampFile: paths.stampFile,
      packages: [
        'k8s.io/kubernetes/cmd/kube-apiserver',
        'k8s.io/kubernetes/cmd/kubectl',
        './etcd',
        'helm.sh/helm/v3/cmd/helm',
      ],
      binaries: [paths.kubeApiServer, paths.kubectl, paths.etcd, paths.helm],
      ldflags: async () =>
        [
          versionLdflags(versions.kubernetes, await moduleTime(paths.moduleDir)),
          helmLdflags(versions.helm, versions.kubernetes),
        ].join(' '),
      description: `kube-apiserver, kubectl ${versions.kubernetes}, etcd ${versions.etcd} and helm ${versions.helm}`,
      coldCost: '~2600 packages and takes several minutes',
    },
    options,
  );
  if (built) {
    // The stamp also answers which versions the binaries are (see readBuiltVersions).
    const stamp = JSON.parse(readFileSync(paths.stampFile, 'utf8')) as object;
    writeFileSync(paths.stampFile, `${JSON.stringify({ ...stamp, versions }, null, 2)}\n`);
  }
  return { paths, versions, built };
}

/** promtool (for `promtool test rules`), from the Go module in test/promtool. */
export async function ensurePromtool(
  options: BuildOptions & { paths?: PromtoolPaths } = {},
): Promise<{ promtool: string; version: string; built: boolean }> {
  const paths = options.paths ?? promtoolPaths();
  const version = requiredVersion(paths.moduleDir, 'github.com/prometheus/prometheus');
  const built = await ensureGoTools(
    {
      name: 'promtool',
      moduleDir: paths.moduleDir,
      binDir: paths.binDir,
      stampFile: paths.stampFile,
      packages: ['github.com/prometheus/prometheus/cmd/promtool'],
      binaries: [paths.promtool],
      // Service discovery plugins (cloud SDKs) are of no use to rule checks and tests.
      tags: ['remove_all_sd'],
      description: `promtool (github.com/prometheus/prometheus ${version})`,
      coldCost: '~1100 packages and takes a few minutes',
    },
    options,
  );
  return { promtool: paths.promtool, version, built };
}

/**
 * Argo CD's application controller and repo server, with an in-memory Redis and a git HTTP
 * server, in one program from the Go module in test/argocd-local (see its main.go). Argo CD needs
 * a newer Go than the other tools: `toolchain` in the spec.
 */
export async function ensureArgoCd(
  options: BuildOptions & { paths?: ArgoCdPaths } = {},
): Promise<{ paths: ArgoCdPaths; version: string; built: boolean }> {
  const paths = options.paths ?? argoCdPaths();
  const version = requiredVersion(paths.moduleDir, 'github.com/argoproj/argo-cd/v3');
  const built = await ensureGoTools(
    {
      name: 'argocd',
      moduleDir: paths.moduleDir,
      binDir: paths.binDir,
      stampFile: paths.stampFile,
      packages: ['.'],
      binaries: [paths.argocdLocal],
      toolchain: ARGOCD_TOOLCHAIN,
      description: `Argo CD ${version} (application controller, repo server), miniredis and a git server`,
      coldCost: '~1900 packages and takes several minutes',
    },
    options,
  );
  return { paths, version, built };
}

/** The Go Argo CD's go.mod asks for (go 1.27), newer than the one on PATH. */
const ARGOCD_TOOLCHAIN = 'go1.27.3';

/**
 * The files of a Go module that moduleDir requires (its version pinned in go.mod, its content
 * verified against go.sum): downloaded into the module cache on first use, like a build's
 * dependencies. For tests that need data a project publishes only in its module (CRDs, say).
 */
export async function goModuleDir(
  moduleDir: string,
  modulePath: string,
  toolchain?: string,
): Promise<string> {
  const { stdout } = await runGo(moduleDir, ['mod', 'download', '-json', modulePath], toolchain);
  const { Dir, Error: failure } = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`go mod download ${modulePath} in ${moduleDir}: ${failure ?? 'no directory'}`);
  return Dir;
}

function binariesMatch(spec: GoToolsSpec, stamp: string): boolean {
  try {
    for (const binary of spec.binaries) accessSync(binary, constants.X_OK);
    return JSON.parse(readFileSync(spec.stampFile, 'utf8')).stamp === stamp;
  } catch {
    return false;
  }
}

/** Digest of everything the build depends on that lives in this repository. */
function buildInputsDigest(spec: GoToolsSpec): string {
  const hash = createHash('sha256')
    .update(RECIPE)
    .update(`\0${spec.packages.join(' ')}\0${(spec.tags ?? []).join(',')}`)
    // Only when set: the stamps of the other tools stay what they were.
    .update(spec.toolchain ? `\0${spec.toolchain}` : '');
  const files = ['go.mod', 'go.sum', ...goSources(spec.moduleDir)].sort();
  for (const file of files) {
    const path = join(spec.moduleDir, file);
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

/**
 * As upstream's Makefile links helm: its version, and the Kubernetes version of its k8s.io modules,
 * which `helm template` and `helm lint` assume when no cluster is asked (else v1.20).
 */
function helmLdflags(helmVersion: string, kubernetesVersion: string): string {
  const [major, minor] = kubernetesVersion.replace(/^v/, '').split('.');
  return [
    `-X helm.sh/helm/v3/internal/version.version=${helmVersion}`,
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((pkg) => [
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=${major}`,
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${minor}`,
    ]),
  ].join(' ');
}

/** The release time of k8s.io/kubernetes; a fixed build date keeps the link step cacheable. */
async function moduleTime(moduleDir: string): Promise<string> {
  const { stdout } = await runGo(moduleDir, ['list', '-m', '-json', 'k8s.io/kubernetes']);
  const time: unknown = JSON.parse(stdout).Time;
  return typeof time === 'string' ? time : '1970-01-01T00:00:00Z';
}

async function countPackages(spec: GoToolsSpec): Promise<number> {
  const { stdout } = await runGo(
    spec.moduleDir,
    ['list', ...tagsFlag(spec), '-deps', ...spec.packages],
    spec.toolchain,
  );
  return stdout.split('\n').filter(Boolean).length;
}

const tagsFlag = (spec: GoToolsSpec) => (spec.tags?.length ? [`-tags=${spec.tags.join(',')}`] : []);

const goEnv = (toolchain?: string) => ({
  ...process.env,
  GOWORK: 'off',
  ...(toolchain && { GOTOOLCHAIN: toolchain }),
});

function runGo(cwd: string, args: string[], toolchain?: string): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { cwd, env: goEnv(toolchain), stdio: ['ignore', 'pipe', 'pipe'] });
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
  spec: GoToolsSpec,
  ldflags: string | undefined,
  total: number | undefined,
  log: (line: string) => void,
): Promise<void> {
  const args = [
    'build',
    '-v',
    '-buildvcs=false',
    ...tagsFlag(spec),
    ...(ldflags ? [`-ldflags=${ldflags}`] : []),
    '-o',
    `${spec.binDir}/`,
    ...spec.packages,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, {
      cwd: spec.moduleDir,
      env: goEnv(spec.toolchain),
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
      else reject(new Error(`go build of ${spec.name} failed (exit ${code}):\n${diagnostics.join('\n')}`));
    });
  });
}

function goError(error: NodeJS.ErrnoException): Error {
  return error.code === 'ENOENT'
    ? new Error(
        'the Go toolchain (go >= 1.26) must be on PATH to build the test tools (control plane, helm, promtool)',
      )
    : error;
}
