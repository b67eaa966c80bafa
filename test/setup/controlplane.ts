// Vitest global setup for the `cluster` project: one real etcd + kube-apiserver per test run,
// shared by every test file (each file isolates itself in its own namespace, see test/support/cluster.ts).
// Builds the binaries first if needed (minutes on a cold Go cache, with progress on stderr): the
// control plane and helm, then promtool.
import type { TestProject } from 'vitest/node';
import { controlPlanePaths, ensurePromtool, startControlPlane } from '../../src/envtest/index.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane();
  let promtool: string;
  try {
    ({ promtool } = await ensurePromtool());
  } catch (error) {
    await controlPlane.stop();
    throw error;
  }
  project.provide('helm', controlPlanePaths().helm);
  project.provide('helmVersion', controlPlane.versions.helm);
  project.provide('promtool', promtool);
  project.provide('kubeconfig', controlPlane.kubeconfig);
  project.provide('server', controlPlane.server);
  project.provide('kubectl', controlPlane.kubectl);
  project.provide('etcdEndpoint', controlPlane.etcdEndpoint);
  project.provide('controlPlaneDataDir', controlPlane.dataDir);
  project.provide('kubernetesVersion', controlPlane.versions.kubernetes);
  project.provide('etcdVersion', controlPlane.versions.etcd);
  return () => controlPlane.stop();
}
