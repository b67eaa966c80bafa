// What the namespace policies cost at admission: the latency of a server-side dry-run apply of an
// EmrServerlessApplication (what `kubectl apply` and Argo CD's dry run pay) with 0, 1 and 20
// EmrServerlessPolicies in the cluster. Every policy is a parameter of the admission policy's
// binding, so the API server evaluates the rules once per policy.
//
//   npm run bench:admission                 100 requests per step, through the real kubectl
//   npm run bench:admission -- --requests 300
//
// Writes bench-results/admission.json and prints a table. Two figures per step: `kubectl apply
// --dry-run=server` as a person runs it (a process per apply, most of its time is kubectl's own
// start-up), and the same request sent directly to the API server (admission's share shows there).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { findRepoRoot, startControlPlane } from '../src/envtest/index.js';
import { KubeClient } from '../src/kube/client.js';
import { loadKubeConnection } from '../src/kube/config.js';
import { percentile, round, table } from './lib/stats.js';

const { values: flags } = parseArgs({ options: { requests: { type: 'string', default: '100' } } });
const requests = Number(flags.requests);
const root = findRepoRoot();

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const application = {
  apiVersion: 'emrserverless.operator.dev/v1alpha1',
  kind: 'EmrServerlessApplication',
  metadata: { name: 'analytics', namespace: 'bench' },
  spec: {
    name: 'analytics',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    diskEncryptionConfiguration: { encryptionKeyArn: KEY },
  },
};
/** A policy that governs the namespace and lets the application through (every rule is evaluated). */
const policy = (i: number) => ({
  apiVersion: 'emrserverless.operator.dev/v1alpha1',
  kind: 'EmrServerlessPolicy',
  metadata: { name: `bench-${i}` },
  spec: {
    namespaceSelector: { matchLabels: { bench: 'selected' } },
    encryption: { requireCustomerManagedKey: true, allowedKeyArns: ['arn:aws:kms:*:111122223333:key/*'] },
    jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::111122223333:role/team-a-*'] },
    monitoring: { allowedS3LogUris: ['s3://team-a-logs/*'] },
  },
});

const controlPlane = await startControlPlane({ crds: [join(root, 'crds')] });
try {
  await controlPlane.kubectlAdmin(['create', 'namespace', 'bench']);
  await controlPlane.kubectlAdmin(['label', 'namespace', 'bench', 'bench=selected']);
  const kube = new KubeClient(await loadKubeConnection({ path: controlPlane.kubeconfig }));
  const path = '/apis/emrserverless.operator.dev/v1alpha1/namespaces/bench/emrserverlessapplications';
  const results: Record<string, unknown>[] = [];
  let installed = 0;
  for (const policies of [0, 1, 20]) {
    for (; installed < policies; installed++)
      await controlPlane.kubectlAdmin(['apply', '-f', '-'], { input: stringify(policy(installed)) });
    // The admission plugin reads its parameters from an informer: let it catch up, then warm up.
    await new Promise((r) => setTimeout(r, 2_000));
    const direct: number[] = [];
    const viaKubectl: number[] = [];
    for (let i = 0; i < requests + 10; i++) {
      const start = performance.now();
      await kube.request({ method: 'POST', path: `${path}?dryRun=All`, body: application });
      if (i >= 10) direct.push(performance.now() - start);
    }
    for (let i = 0; i < requests; i++) {
      const start = performance.now();
      await controlPlane.kubectlAdmin(['apply', '--dry-run=server', '-f', '-'], {
        input: stringify(application),
      });
      viaKubectl.push(performance.now() - start);
    }
    const figures = {
      policies,
      requests,
      directP50Ms: round(percentile(direct, 50)),
      directP99Ms: round(percentile(direct, 99)),
      kubectlP50Ms: round(percentile(viaKubectl, 50)),
      kubectlP99Ms: round(percentile(viaKubectl, 99)),
    };
    results.push(figures);
    console.log(JSON.stringify(figures));
  }
  writeFileSync(
    join(root, 'bench-results', 'admission.json'),
    `${JSON.stringify({ at: new Date().toISOString(), kubernetes: controlPlane.versions.kubernetes, results }, null, 2)}\n`,
  );
  console.log(
    table([
      ['policies', 'direct p50 / p99 ms', 'kubectl apply --dry-run=server p50 / p99 ms'],
      ...results.map((r): [string, string, string] => [
        String(r.policies),
        `${r.directP50Ms} / ${r.directP99Ms}`,
        `${r.kubectlP50Ms} / ${r.kubectlP99Ms}`,
      ]),
    ]),
  );
} finally {
  await controlPlane.stop();
}
