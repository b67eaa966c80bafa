import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ControlPlaneVersions, ensureControlPlaneBinaries } from './build.js';
import {
  createServiceAccountKubeconfig,
  type ServiceAccountKubeconfig,
  type ServiceAccountKubeconfigOptions,
  writeKubeconfig,
} from './kubeconfig.js';
import { type KubectlOptions, type KubectlResult, runKubectl, waitForCrdsEstablished } from './kubectl.js';
import type { ControlPlanePaths } from './paths.js';
import { addExitHook, type ManagedProcess, startManagedProcess } from './process.js';

export interface ControlPlaneOptions {
  /** Progress and diagnostics; defaults to stderr. Never receives tokens or keys. */
  log?: (line: string) => void;
  /** CRD manifests (files or directories) to install and wait for before returning. */
  crds?: string[];
  /** Keep the temp directory (etcd data, logs, kubeconfigs) after `stop()`, for debugging. */
  keepDataDir?: boolean;
  /** How long etcd and kube-apiserver each get to become ready (default 120 s). */
  startTimeoutMs?: number;
  paths?: ControlPlanePaths;
  /** More kube-apiserver flags (e.g. `--etcd-compaction-interval=1s`), after the defaults. */
  apiServerArgs?: string[];
}

export interface ControlPlane {
  /** Path of the admin (system:masters) kubeconfig. */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Path of the kubectl binary built with the same Kubernetes version. */
  kubectl: string;
  /** http://127.0.0.1:<port> */
  etcdEndpoint: string;
  /** Temp directory holding etcd data, certificates, keys, logs and kubeconfigs. */
  dataDir: string;
  versions: ControlPlaneVersions;
  /** Stops kube-apiserver only; etcd keeps the data. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port, certificates and etcd; resolves when ready. */
  startApiServer(): Promise<void>;
  createServiceAccountKubeconfig(options: ServiceAccountKubeconfigOptions): Promise<ServiceAccountKubeconfig>;
  /** Applies CRD manifests (files or directories) and waits until the CRDs are Established; returns the names of all objects applied. */
  installCrds(paths: string[]): Promise<string[]>;
  /** Runs the built kubectl as admin. */
  kubectlAdmin(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Stops kube-apiserver and etcd and removes the temp directory. Safe to call twice. */
  stop(): Promise<void>;
}

const defaultLog = (line: string) => process.stderr.write(`[controlplane] ${line}\n`);

/** Builds the binaries if needed and starts etcd plus kube-apiserver on free loopback ports. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? defaultLog;
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const { paths, versions } = await ensureControlPlaneBinaries({
    log,
    ...(options.paths && { paths: options.paths }),
  });

  const dataDir = mkdtempSync(join(tmpdir(), 'emr-envtest-'));
  const removeDataDir = () => {
    if (!options.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const removeExitHook = addExitHook(removeDataDir);
  const logDir = join(dataDir, 'logs');
  const certDir = join(dataDir, 'apiserver-certs');
  mkdirSync(logDir);
  mkdirSync(certDir);

  let etcd: ManagedProcess | undefined;
  let apiServer: ManagedProcess | undefined;
  const stopAll = async () => {
    await apiServer?.stop();
    await etcd?.stop();
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiServerPort] = (await freePorts(3)) as [number, number, number];
    const etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
    const server = `https://127.0.0.1:${apiServerPort}`;
    const adminToken = randomBytes(32).toString('hex');
    const files = writeCredentials(dataDir, adminToken);

    const started = Date.now();
    etcd = startManagedProcess(
      'etcd',
      paths.etcd,
      etcdArgs(join(dataDir, 'etcd'), etcdEndpoint, `http://127.0.0.1:${etcdPeerPort}`),
      join(logDir, 'etcd.log'),
      { cleanupDirOnParentDeath: dataDir },
    );
    await waitUntil(etcd, timeoutMs, () => etcdHealthy(etcdEndpoint));

    const apiServerArgs = [
      ...kubeApiServerArgs({ etcdEndpoint, port: apiServerPort, certDir, ...files }),
      ...(options.apiServerArgs ?? []),
    ];
    const servingCertFile = join(certDir, 'apiserver.crt');
    const launchApiServer = async () => {
      apiServer = startManagedProcess(
        'kube-apiserver',
        paths.kubeApiServer,
        apiServerArgs,
        join(logDir, 'kube-apiserver.log'),
      );
      const running = apiServer;
      await waitUntil(running, timeoutMs, async () => existsSync(servingCertFile));
      await waitUntil(running, timeoutMs, () =>
        apiServerReady(server, readFileSync(servingCertFile), adminToken),
      );
    };
    await launchApiServer();
    log(
      `kube-apiserver ${versions.kubernetes} and etcd ${versions.etcd} ready in ${Date.now() - started} ms at ${server}`,
    );

    // kube-apiserver signs its serving certificate with a CA it generates into --cert-dir; the file
    // holds the certificate followed by that CA, so it serves as the clients' trust bundle.
    const caData = readFileSync(servingCertFile);
    const kubeconfig = join(dataDir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfig, { server, caData, user: 'admin', token: adminToken });

    const kubectlAdmin = (args: string[], kubectlOptions?: KubectlOptions) =>
      runKubectl(paths.kubectl, kubeconfig, args, kubectlOptions);

    const controlPlane: ControlPlane = {
      kubeconfig,
      server,
      kubectl: paths.kubectl,
      etcdEndpoint,
      dataDir,
      versions,
      kubectlAdmin,
      async stopApiServer() {
        await apiServer?.stop();
      },
      async startApiServer() {
        if (apiServer?.isRunning()) return;
        try {
          await launchApiServer();
        } catch (error) {
          await apiServer?.stop();
          const reason = `kube-apiserver failed to restart: ${(error as Error).message}`;
          throw new Error(`${reason}\n${logTails(apiServer)}`, { cause: error });
        }
      },
      async installCrds(crdPaths) {
        const names: string[] = [];
        for (const path of crdPaths) {
          const { stdout } = await kubectlAdmin(['apply', '--server-side', '-o', 'name', '-f', path]);
          names.push(...stdout.split('\n').filter(Boolean));
        }
        // The files may hold other objects with the CRD (its admission policy): only CRDs get Established.
        const crds = names.filter((n) => n.startsWith('customresourcedefinition.'));
        if (crds.length > 0) {
          await waitForCrdsEstablished(kubectlAdmin, [...crds]);
        }
        return names;
      },
      createServiceAccountKubeconfig: (saOptions) =>
        createServiceAccountKubeconfig({ kubectl: paths.kubectl, kubeconfig, outputDir: dataDir }, saOptions),
      async stop() {
        await stopAll();
        removeDataDir();
        removeExitHook();
      },
    };

    if (options.crds?.length) await controlPlane.installCrds(options.crds);
    return controlPlane;
  } catch (error) {
    const tails = logTails(etcd, apiServer);
    await stopAll();
    if (!options.keepDataDir) {
      removeDataDir();
      removeExitHook();
    }
    throw new Error(`control plane failed to start: ${(error as Error).message}\n${tails}`, { cause: error });
  }
}

function logTails(...processes: Array<ManagedProcess | undefined>): string {
  return processes
    .filter((p): p is ManagedProcess => p !== undefined)
    .map((p) => `--- last lines of ${p.logFile} ---\n${p.logTail()}`)
    .join('\n');
}

function etcdArgs(dataDir: string, clientUrl: string, peerUrl: string): string[] {
  return [
    '--name=envtest',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=envtest=${peerUrl}`,
    '--initial-cluster-state=new',
    // Test data is thrown away; skipping fsync makes writes much faster.
    '--unsafe-no-fsync',
    '--quota-backend-bytes=2147483648',
    '--log-level=warn',
  ];
}

interface ApiServerSettings {
  etcdEndpoint: string;
  port: number;
  certDir: string;
  tokenFile: string;
  serviceAccountKeyFile: string;
}

function kubeApiServerArgs(s: ApiServerSettings): string[] {
  return [
    `--etcd-servers=${s.etcdEndpoint}`,
    `--secure-port=${s.port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The endpoint reconciler refuses loopback addresses; no pods need the `kubernetes` service here.
    '--endpoint-reconciler-type=none',
    // No --tls-cert-file: kube-apiserver generates a CA and serving certificate here (SANs include 127.0.0.1).
    `--cert-dir=${s.certDir}`,
    // Only a configuration value (ClusterIP allocation); nothing listens on it.
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=RBAC',
    `--token-auth-file=${s.tokenFile}`,
    // TokenRequest (service account kubeconfigs) needs an issuer and a signing key.
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${s.serviceAccountKeyFile}`,
    `--service-account-signing-key-file=${s.serviceAccountKeyFile}`,
    '--allow-privileged=true',
    '--profiling=false',
  ];
}

/** Writes the static admin token file and the service-account signing key (owner-only). */
function writeCredentials(dataDir: string, adminToken: string) {
  const tokenFile = join(dataDir, 'tokens.csv');
  writeFileSync(tokenFile, `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const serviceAccountKeyFile = join(dataDir, 'service-account.key');
  writeFileSync(serviceAccountKeyFile, privateKey, { mode: 0o600 });
  return { tokenFile, serviceAccountKeyFile };
}

/** Ports the kernel hands out for port 0 on loopback, all held open together so they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected listen address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Polls `check` until it returns true; fails early if the process exits, or after `timeoutMs`. */
async function waitUntil(
  server: ManagedProcess,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: number | string | undefined;
  void server.exited.then((code) => {
    exit = code;
  });
  while (Date.now() < deadline) {
    if (exit !== undefined) throw new Error(`${server.name} exited (${exit}) before it was ready`);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${server.name} was not ready after ${timeoutMs} ms`);
}

async function etcdHealthy(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2_000) });
  return response.ok && ((await response.json()) as { health?: string }).health === 'true';
}

function apiServerReady(server: string, ca: Buffer, token: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}/readyz`,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
