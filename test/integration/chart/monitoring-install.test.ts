// The chart's ServiceMonitor and PrometheusRule against their real schemas: prometheus-operator's
// CRDs, taken from the files of its Go module (test/monitoring-crds pins and verifies the version),
// installed in the test API server; then the render with every optional part on (ci/full-values.yaml)
// dry-run with strict server-side validation, and a `helm install` with monitoring on that creates
// both objects and an `helm uninstall` that removes them.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRepoRoot, goModuleDir, waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { kubectl, newNamespace } from '../../support/cluster.js';
import { ensureCrd, sharedCluster } from '../../support/e2e.js';
import { CHART, CI_VALUES, helm, parseObjects } from '../../support/helm.js';

const MONITORING_CRDS = ['servicemonitors', 'prometheusrules'];

let ns: string;
let release: string;

beforeAll(async () => {
  await ensureCrd(sharedCluster());
  const module = await goModuleDir(
    join(findRepoRoot(), 'test', 'monitoring-crds'),
    'github.com/prometheus-operator/prometheus-operator',
  );
  for (const plural of MONITORING_CRDS) {
    const file = join(module, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${plural}.yaml`);
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
    await waitForCrdsEstablished(kubectl, [`customresourcedefinition/${plural}.monitoring.coreos.com`]);
  }
  ns = await newNamespace('helm-monitoring');
  release = `mon-${ns.slice(-8)}`;
});

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', ns], { check: false });
});

/** `helm template` with every optional part on (ci/full-values.yaml). */
const fullRender = async (extra: string[]) =>
  (
    await helm([
      'template',
      release,
      CHART,
      '--namespace',
      ns,
      '-f',
      join(CI_VALUES, 'full-values.yaml'),
      ...extra,
    ])
  ).stdout;

describe('the chart with monitoring on, against prometheus-operator’s CRDs', () => {
  it('every object of the full render is accepted with strict validation and no warning', async () => {
    const manifest = await fullRender(['--set', 'crds.install=false']);
    const kinds = parseObjects(manifest).map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
    const dryRun = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-n', ns, '-f', '-'],
      { input: manifest },
    );
    expect(dryRun.stderr).not.toMatch(/warning/i);
    expect(dryRun.stdout.trim().split('\n')).toHaveLength(kinds.length);
  });

  it('a misspelled field of the ServiceMonitor is refused by the same validation', async () => {
    const stdout = await fullRender(['--show-only', 'templates/servicemonitor.yaml']);
    const broken = stdout.replace(/^(\s+)interval:/m, '$1intervall:');
    expect(broken).not.toBe(stdout);
    const dryRun = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-n', ns, '-f', '-'],
      { input: broken, check: false },
    );
    expect(dryRun.exitCode).not.toBe(0);
    expect(dryRun.stderr).toMatch(/intervall/);
  });

  it('helm install creates the ServiceMonitor and the PrometheusRule; uninstall removes them', async () => {
    await helm([
      'install',
      release,
      CHART,
      '--namespace',
      ns,
      '--set',
      'aws.region=eu-west-1',
      '--set',
      'crds.install=false',
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.prometheusRule.enabled=true',
    ]);
    const created = await kubectl(['get', 'servicemonitors,prometheusrules', '-n', ns, '-o', 'name']);
    expect(created.stdout.trim().split('\n').sort()).toEqual([
      `prometheusrule.monitoring.coreos.com/${release}-emr-serverless-operator`,
      `servicemonitor.monitoring.coreos.com/${release}-emr-serverless-operator`,
    ]);
    await helm(['uninstall', release, '--namespace', ns]);
    const left = await kubectl(['get', 'servicemonitors,prometheusrules', '-n', ns, '-o', 'name']);
    expect(left.stdout.trim()).toBe('');
  });
});
