import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the Go module that builds the control plane lives, relative to the repository root. */
export const CONTROL_PLANE_MODULE = join('test', 'controlplane');

/**
 * The repository root: the nearest ancestor of this file holding the control plane's go.mod.
 * Walking up (rather than a fixed `../..`) works from both `src/envtest` (tsx) and `dist/envtest`.
 */
export function findRepoRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, CONTROL_PLANE_MODULE, 'go.mod'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find ${CONTROL_PLANE_MODULE}/go.mod above ${start}`);
    }
    dir = parent;
  }
}

export interface ControlPlanePaths {
  /** Directory of the Go module (go.mod, go.sum, etcd/main.go). */
  moduleDir: string;
  /** Gitignored output directory for the built binaries. */
  binDir: string;
  kubeApiServer: string;
  kubectl: string;
  etcd: string;
  /** helm, built in the same module (see build.ts). */
  helm: string;
  /** Records what the binaries in binDir were built from; see build.ts. */
  stampFile: string;
}

export function controlPlanePaths(repoRoot: string = findRepoRoot()): ControlPlanePaths {
  const binDir = join(repoRoot, '.cache', 'controlplane', 'bin');
  return {
    moduleDir: join(repoRoot, CONTROL_PLANE_MODULE),
    binDir,
    kubeApiServer: join(binDir, 'kube-apiserver'),
    kubectl: join(binDir, 'kubectl'),
    etcd: join(binDir, 'etcd'),
    helm: join(binDir, 'helm'),
    stampFile: join(binDir, 'build-stamp.json'),
  };
}

/** Where the Go module that builds promtool lives, relative to the repository root. */
export const PROMTOOL_MODULE = join('test', 'promtool');

export interface PromtoolPaths {
  moduleDir: string;
  binDir: string;
  promtool: string;
  stampFile: string;
}

export function promtoolPaths(repoRoot: string = findRepoRoot()): PromtoolPaths {
  const binDir = join(repoRoot, '.cache', 'promtool', 'bin');
  return {
    moduleDir: join(repoRoot, PROMTOOL_MODULE),
    binDir,
    promtool: join(binDir, 'promtool'),
    stampFile: join(binDir, 'build-stamp.json'),
  };
}

/** Where the Go module that builds Argo CD for the tests lives, relative to the repository root. */
export const ARGOCD_MODULE = join('test', 'argocd-local');

export interface ArgoCdPaths {
  moduleDir: string;
  binDir: string;
  /** One program: `argocd-local application-controller|repo-server|redis|git-server ...`. */
  argocdLocal: string;
  stampFile: string;
}

export function argoCdPaths(repoRoot: string = findRepoRoot()): ArgoCdPaths {
  const binDir = join(repoRoot, '.cache', 'argocd-local', 'bin');
  return {
    moduleDir: join(repoRoot, ARGOCD_MODULE),
    binDir,
    argocdLocal: join(binDir, 'argocd-local'),
    stampFile: join(binDir, 'build-stamp.json'),
  };
}
