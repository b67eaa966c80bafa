// `npm run controlplane [-- CRD_PATH...]`: start a throwaway control plane and keep it up until Ctrl-C.
import { startControlPlane } from './controlplane.js';

const crds = process.argv.slice(2);
const controlPlane = await startControlPlane({ crds });

process.stdout.write(
  [
    `Kubernetes ${controlPlane.versions.kubernetes} (etcd ${controlPlane.versions.etcd}) is up.`,
    `  server:     ${controlPlane.server}`,
    `  kubeconfig: ${controlPlane.kubeconfig}`,
    `  kubectl:    ${controlPlane.kubectl}`,
    '',
    'Try:',
    `  export KUBECONFIG=${controlPlane.kubeconfig}`,
    `  ${controlPlane.kubectl} api-resources`,
    '',
    'Press Ctrl-C to stop (everything, including the data directory, is removed).',
    '',
  ].join('\n'),
);

const shutdown = async () => {
  await controlPlane.stop();
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
