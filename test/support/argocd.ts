// Real Argo CD for the end-to-end tests: its application controller and repo server (built from
// Argo CD's Go module into one program, test/argocd-local), an in-memory Redis and git's own
// http-backend serving a repository, all local processes against the test API server, as Argo CD
// runs for its own local development. The operator's health check is installed the documented
// way: argocd/argocd-cm-patch.yaml patched onto argocd-cm.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { argoCdPaths, controlPlanePaths, ensureArgoCd, goModuleDir } from '../../src/envtest/index.js';
import { runKubectl, waitForCrdsEstablished } from '../../src/envtest/kubectl.js';
import { type ClusterAccess, ROOT, waitFor } from './e2e.js';

const run = promisify(execFile);
const ARGOCD_MODULE = 'github.com/argoproj/argo-cd/v3';
const TOOLCHAIN = 'go1.27.3';

export interface ArgoApplicationStatus {
  sync?: { status?: string; revision?: string };
  health?: { status?: string; message?: string };
  operationState?: {
    phase?: string;
    message?: string;
    syncResult?: {
      revision?: string;
      resources?: Array<{ kind: string; name: string; status?: string; message?: string }>;
    };
  };
  resources?: Array<{
    kind: string;
    name: string;
    status?: string;
    health?: { status?: string; message?: string };
  }>;
  conditions?: Array<{ type: string; message?: string }>;
  reconciledAt?: string;
}

const COMPARE_OPTIONS = 'argocd.argoproj.io/compare-options';

/** The sync and compare options of the team Application in argocd/application.yaml. */
function documentedTeamApplication(): { syncOptions: string[]; compareOptions: Record<string, string> } {
  const apps = parseAllDocuments(readFileSync(join(ROOT, 'argocd', 'application.yaml'), 'utf8')).map(
    (d) =>
      d.toJS() as {
        metadata: { annotations?: Record<string, string> };
        spec: { source: { path: string }; syncPolicy?: { syncOptions?: string[] } };
      },
  );
  const team = apps.find((a) => a.spec.source.path !== 'manifests');
  if (!team) throw new Error('argocd/application.yaml has no team Application');
  const compare = team.metadata.annotations?.[COMPARE_OPTIONS];
  return {
    syncOptions: team.spec.syncPolicy?.syncOptions ?? [],
    compareOptions: compare === undefined ? {} : { [COMPARE_OPTIONS]: compare },
  };
}

/** A free TCP port on 127.0.0.1 (Argo CD's components take a port, not an address to report back). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** Starts `argocd-local ...`, its output in `log`; resolves with the first line matching `ready`. */
function start(
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  log: string,
  ready?: RegExp,
): Promise<{ child: ChildProcess; match?: RegExpMatchArray }> {
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(log);
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  if (!ready) return Promise.resolve({ child });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = chunk.toString().match(ready);
      if (match) resolve({ child, match });
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code} (log: ${log})`)));
  });
}

export class ArgoCd {
  private constructor(
    readonly namespace: string,
    /** The git URL the repo server fetches from. */
    readonly repoUrl: string,
    /** A clone of that repository: commit here, then `push`. */
    readonly workTree: string,
    readonly logDir: string,
    private readonly cluster: ClusterAccess,
    private readonly processes: ChildProcess[],
  ) {}

  /** Argo CD in namespace `argocd`, deploying into any namespace of `cluster`. */
  static async start(cluster: ClusterAccess): Promise<ArgoCd> {
    const { paths } = await ensureArgoCd();
    const moduleDir = await goModuleDir(paths.moduleDir, ARGOCD_MODULE, TOOLCHAIN);
    const kubectl = (args: string[], input?: string) =>
      runKubectl(cluster.kubectlPath, cluster.kubeconfig, args, input === undefined ? {} : { input });
    // The namespace the documented install (and argocd/argocd-cm-patch.yaml) names: one Argo CD per
    // control plane, as in a real cluster.
    const namespace = 'argocd';
    const work = mkdtempSync(join(tmpdir(), 'argocd-e2e-'));
    const logDir = join(work, 'logs');
    mkdirSync(logDir);

    // Argo CD's CRDs from the same module (server-side: they exceed the last-applied annotation).
    const crds = ['application-crd.yaml', 'appproject-crd.yaml'].flatMap((f) => [
      '-f',
      join(moduleDir, 'manifests', 'crds', f),
    ]);
    await kubectl(['apply', '--server-side', '--force-conflicts', ...crds]);
    await waitForCrdsEstablished(kubectl, ['crd/applications.argoproj.io', 'crd/appprojects.argoproj.io']);
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(
      ['apply', '-n', namespace, '-f', '-'],
      stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'argocd-cm', labels: { 'app.kubernetes.io/part-of': 'argocd' } },
            data: {},
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'argocd-secret', labels: { 'app.kubernetes.io/part-of': 'argocd' } },
            stringData: { 'server.secretkey': 'e2e' },
          },
          {
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'AppProject',
            metadata: { name: 'default' },
            spec: {
              sourceRepos: ['*'],
              destinations: [{ server: '*', namespace: '*' }],
              clusterResourceWhitelist: [{ group: '*', kind: '*' }],
            },
          },
        ],
      }),
    );
    // The documented install of the health check.
    await kubectl([
      '-n',
      namespace,
      'patch',
      'configmap',
      'argocd-cm',
      '--type',
      'merge',
      '--patch-file',
      join(ROOT, 'argocd', 'argocd-cm-patch.yaml'),
    ]);

    // The repository: a bare one served by git http-backend, and a clone to commit in.
    const root = join(work, 'git');
    const bare = join(root, 'apps.git');
    const workTree = join(work, 'apps');
    await run('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    await run('git', ['init', '-q', '-b', 'main', workTree]);
    for (const [k, v] of [
      ['user.name', 'e2e'],
      ['user.email', 'e2e@example.com'],
      ['commit.gpgsign', 'false'],
    ] as const)
      await run('git', ['-C', workTree, 'config', k, v]);
    await run('git', ['-C', workTree, 'remote', 'add', 'origin', bare]);
    writeFileSync(join(workTree, 'README'), 'e2e\n');
    await run('git', ['-C', workTree, 'add', '.']);
    await run('git', ['-C', workTree, 'commit', '-q', '-m', 'init']);
    await run('git', ['-C', workTree, 'push', '-q', 'origin', 'main']);

    // v3.6's repo server runs hack/git-verify-wrapper.sh for every revision: on PATH, executable
    // (module files are read-only and lose their mode). helm for Helm sources.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    copyFileSync(join(moduleDir, 'hack', 'git-verify-wrapper.sh'), join(bin, 'git-verify-wrapper.sh'));
    chmodSync(join(bin, 'git-verify-wrapper.sh'), 0o755);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${bin}:${dirname(controlPlanePaths().helm)}:${process.env.PATH}`,
      KUBECONFIG: cluster.kubeconfig,
      // The in-cluster destination then uses the kubeconfig.
      ARGOCD_FAKE_IN_CLUSTER: 'true',
      ARGOCD_GPG_ENABLED: 'false',
      ARGOCD_TLS_DATA_PATH: join(work, 'tls'),
      ARGOCD_SSH_DATA_PATH: join(work, 'ssh'),
      ARGOCD_GNUPGHOME: join(work, 'gpg'),
      HOME: work,
    };
    const binary = paths.argocdLocal;
    const processes: ChildProcess[] = [];
    try {
      const redis = await start(
        binary,
        ['redis', '127.0.0.1:0'],
        env,
        join(logDir, 'redis.log'),
        /listening on (\S+)/,
      );
      processes.push(redis.child);
      const git = await start(
        binary,
        ['git-server', '127.0.0.1:0', root],
        env,
        join(logDir, 'git.log'),
        /listening on (\S+)/,
      );
      processes.push(git.child);
      const redisAddr = redis.match?.[1] as string;
      const [repoPort, repoMetrics, controllerMetrics] = [
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      const repo = await start(
        binary,
        [
          'repo-server',
          '--port',
          String(repoPort),
          '--metrics-port',
          String(repoMetrics),
          '--redis',
          redisAddr,
          '--disable-tls',
          // Its default is a path in Argo CD's image; with --disable-tls it must be empty.
          '--client-ca-path=',
          '--loglevel',
          'info',
        ],
        env,
        join(logDir, 'repo-server.log'),
      );
      processes.push(repo.child);
      const controller = await start(
        binary,
        [
          'application-controller',
          '--kubeconfig',
          cluster.kubeconfig,
          '--namespace',
          namespace,
          '--redis',
          redisAddr,
          '--repo-server',
          `127.0.0.1:${repoPort}`,
          '--repo-server-plaintext',
          '--metrics-port',
          String(controllerMetrics),
          // Each resource's health (and its message) in the Application's status, where the tests
          // read it; v3 keeps it in Redis for the API server by default.
          '--persist-resource-health',
          '--loglevel',
          'info',
        ],
        env,
        join(logDir, 'application-controller.log'),
      );
      processes.push(controller.child);
      const repoUrl = `http://${git.match?.[1]}/apps.git`;
      return new ArgoCd(namespace, repoUrl, workTree, logDir, cluster, processes);
    } catch (error) {
      for (const p of processes) p.kill();
      throw error;
    }
  }

  private kubectl(args: string[], input?: string) {
    return runKubectl(
      this.cluster.kubectlPath,
      this.cluster.kubeconfig,
      args,
      input === undefined ? {} : { input },
    );
  }

  /** Writes `files` (path -> content) in the repository, commits and pushes; answers the commit. */
  async commit(files: Record<string, string | null>, message = 'change'): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const file = join(this.workTree, path);
      if (content === null) await run('git', ['-C', this.workTree, 'rm', '-q', path]);
      else {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, content);
        await run('git', ['-C', this.workTree, 'add', path]);
      }
    }
    await run('git', ['-C', this.workTree, 'commit', '-q', '--allow-empty', '-m', message]);
    await run('git', ['-C', this.workTree, 'push', '-q', 'origin', 'main']);
    return (await run('git', ['-C', this.workTree, 'rev-parse', 'HEAD'])).stdout.trim();
  }

  /**
   * An Application of `path` in the repository into `destination`, automated with prune and
   * self-heal. By default synced as the team Application of argocd/application.yaml is (its sync
   * options and compare options: the documented way); `sync: 'client-side'` is Argo CD's default
   * sync instead, `sync: 'server-side-only'` server-side apply without the compare option.
   */
  async createApplication(
    name: string,
    path: string,
    destination: string,
    options: {
      sync?: 'documented' | 'client-side' | 'server-side-only';
      source?: object;
      /** More sync options, after those of `sync`. */
      syncOptions?: string[];
    } = {},
  ): Promise<void> {
    const sync = options.sync ?? 'documented';
    const documented = documentedTeamApplication();
    const annotations = sync === 'documented' ? documented.compareOptions : {};
    const syncOptions = [
      ...(sync === 'client-side'
        ? []
        : sync === 'documented'
          ? documented.syncOptions
          : ['ServerSideApply=true']),
      ...(options.syncOptions ?? []),
    ];
    await this.kubectl(
      ['apply', '-n', this.namespace, '-f', '-'],
      stringify({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name, annotations },
        spec: {
          project: 'default',
          source: { repoURL: this.repoUrl, targetRevision: 'main', path, ...options.source },
          destination: { server: 'https://kubernetes.default.svc', namespace: destination },
          syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions },
        },
      }),
    );
  }

  /** What a git webhook does on push: ask Argo CD to look at the repository now. */
  async refresh(name: string): Promise<void> {
    await this.kubectl([
      '-n',
      this.namespace,
      'annotate',
      'application',
      name,
      'argocd.argoproj.io/refresh=normal',
      '--overwrite',
    ]);
  }

  async status(name: string): Promise<ArgoApplicationStatus> {
    const { stdout } = await this.kubectl(['-n', this.namespace, 'get', 'application', name, '-o', 'json']);
    return (JSON.parse(stdout) as { status?: ArgoApplicationStatus }).status ?? {};
  }

  /** Waits until the Application is Synced at `revision` and its health is `health`. */
  async waitFor(
    name: string,
    revision: string,
    health = 'Healthy',
    timeoutMs = 90_000,
  ): Promise<ArgoApplicationStatus> {
    return waitFor(
      `Application ${name} Synced at ${revision.slice(0, 8)} and ${health}`,
      async () => {
        const s = await this.status(name);
        return (
          s.sync?.status === 'Synced' && s.sync.revision === revision && s.health?.status === health && s
        );
      },
      {
        timeoutMs,
        intervalMs: 200,
        diagnostics: async () =>
          `${JSON.stringify(await this.status(name), null, 1)}\nArgo CD logs: ${this.logDir}`,
      },
    );
  }

  /** Waits until `probe` holds for the Application's status. */
  async waitUntil<T>(
    name: string,
    what: string,
    probe: (status: ArgoApplicationStatus) => T | undefined | false,
    timeoutMs = 90_000,
  ): Promise<T> {
    return waitFor(`Application ${name}: ${what}`, async () => probe(await this.status(name)), {
      timeoutMs,
      intervalMs: 200,
      diagnostics: async () =>
        `${JSON.stringify(await this.status(name), null, 1)}\nArgo CD logs: ${this.logDir}`,
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill();
          }),
      ),
    );
  }
}

/** Built ahead by the argocd project's global setup; here for `argoCdPaths` users. */
export { argoCdPaths };
