// `npm run controlplane:build [-- --force]`: build the test tools ahead of time (e.g. in a CI cache
// step): kube-apiserver, kubectl, etcd and helm, then promtool; prints where they are.
import { ensureControlPlaneBinaries, ensurePromtool } from './build.js';

const force = process.argv.includes('--force');
const { paths, versions, built } = await ensureControlPlaneBinaries({ force });
process.stdout.write(
  `${built ? 'Built' : 'Up to date:'} Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}, helm ${versions.helm} in ${paths.binDir}\n`,
);
const promtool = await ensurePromtool({ force });
process.stdout.write(
  `${promtool.built ? 'Built' : 'Up to date:'} promtool ${promtool.version}: ${promtool.promtool}\n`,
);
