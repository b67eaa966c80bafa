// `npm run controlplane:build [-- --force]`: build kube-apiserver, kubectl and etcd ahead of time
// (e.g. in a CI cache step), printing where they are.
import { ensureControlPlaneBinaries } from './build.js';

const { paths, versions, built } = await ensureControlPlaneBinaries({
  force: process.argv.includes('--force'),
});
process.stdout.write(
  `${built ? 'Built' : 'Up to date:'} Kubernetes ${versions.kubernetes}, etcd ${versions.etcd} in ${paths.binDir}\n`,
);
