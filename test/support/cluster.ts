// Helpers for tests in the `cluster` project, which share the control plane started by
// test/setup/controlplane.ts. Tests that disrupt the server (stop/restart) must start their own
// with startControlPlane() from src/envtest instead.
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import {
  createServiceAccountKubeconfig,
  type KubectlOptions,
  type KubectlResult,
  runKubectl,
  type ServiceAccountKubeconfig,
  type ServiceAccountKubeconfigOptions,
} from '../../src/envtest/index.js';
import { connectKube, type KubeClient } from '../../src/kube/client.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the admin (system:masters) kubeconfig of the shared control plane. */
    kubeconfig: string;
    /** https://127.0.0.1:<port> */
    server: string;
    /** Path of the kubectl binary of the same Kubernetes version. */
    kubectl: string;
    etcdEndpoint: string;
    /** Temp directory of the control plane, removed at the end of the run. */
    controlPlaneDataDir: string;
    /** e.g. v1.37.2 */
    kubernetesVersion: string;
    /** e.g. v3.7.0 */
    etcdVersion: string;
    /** Path of the helm binary, built with the control plane's k8s.io modules. */
    helm: string;
    /** e.g. v3.21.4 */
    helmVersion: string;
    /** Path of the promtool binary. */
    promtool: string;
  }
}

/** Runs the real kubectl as admin against the shared control plane; throws on failure unless `check: false`. */
export function kubectl(args: string[], options?: KubectlOptions): Promise<KubectlResult> {
  return runKubectl(inject('kubectl'), inject('kubeconfig'), args, options);
}

/** The operator's own Kubernetes client, as the admin user of the shared control plane. */
export function adminKube(): Promise<KubeClient> {
  return connectKube({ path: inject('kubeconfig') });
}

/** A client-node KubeConfig for the admin user of the shared control plane. */
export function adminKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(inject('kubeconfig'));
  return kubeConfig;
}

/**
 * Creates a namespace with a unique name starting with `prefix`. There is no controller-manager,
 * so deleted namespaces would never finish terminating: tests leave theirs behind.
 */
export async function newNamespace(prefix: string): Promise<string> {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
  const name = `${base || 'test'}-${randomBytes(4).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  return name;
}

/** A kubeconfig for a service account with the given RBAC (see createServiceAccountKubeconfig). */
export function serviceAccountKubeconfig(
  options: ServiceAccountKubeconfigOptions,
): Promise<ServiceAccountKubeconfig> {
  return createServiceAccountKubeconfig(
    {
      kubectl: inject('kubectl'),
      kubeconfig: inject('kubeconfig'),
      outputDir: inject('controlPlaneDataDir'),
    },
    options,
  );
}
