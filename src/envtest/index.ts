// A real Kubernetes control plane (etcd + kube-apiserver + kubectl, built from upstream Go modules)
// for integration tests and the demo command.
export {
  type BuildOptions,
  type BuiltControlPlane,
  type ControlPlaneVersions,
  ensureArgoCd,
  ensureControlPlaneBinaries,
  ensureGoTools,
  ensurePromtool,
  type GoToolsSpec,
  goModuleDir,
  readVersions,
} from './build.js';
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './controlplane.js';
export {
  type AdminAccess,
  createServiceAccountKubeconfig,
  type ServiceAccountKubeconfig,
  type ServiceAccountKubeconfigOptions,
  writeKubeconfig,
} from './kubeconfig.js';
export {
  KubectlError,
  type KubectlOptions,
  type KubectlResult,
  runKubectl,
  waitForCrdsEstablished,
} from './kubectl.js';
export {
  type ArgoCdPaths,
  argoCdPaths,
  type ControlPlanePaths,
  controlPlanePaths,
  findRepoRoot,
  type PromtoolPaths,
  promtoolPaths,
} from './paths.js';
