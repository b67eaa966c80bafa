// The Helm chart with the real helm: `helm lint` and `helm template` with each values file of
// charts/emr-serverless-operator/ci/, the values schema refusing bad values, and what it renders
// compared with `kubectl kustomize manifests/` (the two must not drift).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrd } from '../../../src/api/crd.js';
import { PolicySpec } from '../../../src/api/policy-schema.js';
import { findRepoRoot } from '../../../src/envtest/index.js';
import { kubectl } from '../../support/cluster.js';
import {
  CHART,
  helm,
  helmTemplate,
  objectNames,
  parseObjects,
  type RenderedObject,
} from '../../support/helm.js';

const root = findRepoRoot();
const RELEASE = 'emr-serverless-operator';
const NS = 'emr-serverless-operator';

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, read loosely by the assertions
type Loose = RenderedObject & Record<string, any>;

/** The generated files of crds/, as the chart renders them (sorted as objectNames sorts). */
const CRD_OBJECTS = ['emrserverlessapplications', 'emrserverlessjobruns', 'emrserverlesspolicies'].map(
  (plural) => `CustomResourceDefinition/${plural}.emrserverless.operator.dev`,
);
const ADMISSION_OBJECTS = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].flatMap((kind) =>
  [
    'emrserverlessapplications.emrserverless.operator.dev-namespace-policies',
    'emrserverlessapplications.emrserverless.operator.dev-refuse-nulls',
    'emrserverlessjobruns.emrserverless.operator.dev-namespace-policies',
    'emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls',
    'emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls',
  ].map((name) => `${kind}/${name}`),
);

const find = (objects: RenderedObject[], kind: string, name?: string) => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind} ${name ?? ''} among ${objectNames(objects).join(', ')}`);
  return found as Loose;
};

describe('helm lint and helm template', () => {
  it("has the operator's version", () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect([chart.version, chart.appVersion]).toEqual([version, version]);
  });

  it('requires Kubernetes 1.30, where the ValidatingAdmissionPolicies it installs are GA', async () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
    expect(chart.kubeVersion).toBe('>=1.30.0-0');
    const rendered = await helmTemplate(RELEASE, NS, ['default-values.yaml'], ['--kube-version', '1.30.0']);
    expect(rendered.map((o) => o.kind)).toContain('ValidatingAdmissionPolicy');
    const old = await helm(
      [
        'template',
        RELEASE,
        CHART,
        '--namespace',
        NS,
        '-f',
        join(CHART, 'ci', 'default-values.yaml'),
        '--kube-version',
        '1.29.9',
      ],
      { check: false },
    );
    expect(old.exitCode).not.toBe(0);
    expect(old.stderr).toContain('>=1.30.0-0');
  });

  it.each(['default-values.yaml', 'shard-values.yaml', 'full-values.yaml'])(
    'lints cleanly (--strict) with ci/%s',
    async (file) => {
      const { stdout } = await helm(['lint', '--strict', CHART, '-f', join(CHART, 'ci', file)]);
      expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    },
  );

  it('renders the documented objects for each values file', async () => {
    expect(objectNames(await helmTemplate(RELEASE, NS, ['default-values.yaml']))).toEqual([
      'ClusterRole/emr-serverless-operator',
      'ClusterRole/emr-serverless-operator-edit',
      'ClusterRole/emr-serverless-operator-view',
      'ClusterRoleBinding/emr-serverless-operator',
      ...CRD_OBJECTS,
      'Deployment/emr-serverless-operator/emr-serverless-operator',
      'PodDisruptionBudget/emr-serverless-operator/emr-serverless-operator',
      'Role/emr-serverless-operator/emr-serverless-operator-leader-election',
      'RoleBinding/emr-serverless-operator/emr-serverless-operator-leader-election',
      'Service/emr-serverless-operator/emr-serverless-operator-metrics',
      'ServiceAccount/emr-serverless-operator/emr-serverless-operator',
      ...ADMISSION_OBJECTS,
    ]);
    expect(objectNames(await helmTemplate('shard-a', 'ops', ['shard-values.yaml']))).toEqual([
      'ClusterRole/shard-a-emr-serverless-operator',
      'ClusterRole/shard-a-emr-serverless-operator-cluster-identity',
      'ClusterRole/shard-a-emr-serverless-operator-edit',
      'ClusterRole/shard-a-emr-serverless-operator-view',
      'ClusterRoleBinding/shard-a-emr-serverless-operator-cluster-identity',
      'Deployment/ops/shard-a-emr-serverless-operator',
      'PodDisruptionBudget/ops/shard-a-emr-serverless-operator',
      'Role/ops/shard-a-emr-serverless-operator-leader-election',
      'RoleBinding/ops/shard-a-emr-serverless-operator-leader-election',
      'RoleBinding/team-a/shard-a-emr-serverless-operator',
      'RoleBinding/team-b/shard-a-emr-serverless-operator',
      'Service/ops/shard-a-emr-serverless-operator-metrics',
      'ServiceAccount/ops/shard-a-emr-serverless-operator',
    ]);
    expect(objectNames(await helmTemplate(RELEASE, NS, ['full-values.yaml']))).toEqual([
      'ClusterRole/emr-serverless-operator',
      'ClusterRole/emr-serverless-operator-edit',
      'ClusterRole/emr-serverless-operator-view',
      'ClusterRoleBinding/emr-serverless-operator',
      'ConfigMap/emr-serverless-operator/emr-serverless-operator-dashboard',
      ...CRD_OBJECTS,
      'Deployment/emr-serverless-operator/emr-serverless-operator',
      'PodDisruptionBudget/emr-serverless-operator/emr-serverless-operator',
      'PrometheusRule/emr-serverless-operator/emr-serverless-operator',
      'Role/emr-serverless-operator/emr-serverless-operator-leader-election',
      'RoleBinding/emr-serverless-operator/emr-serverless-operator-leader-election',
      'Service/emr-serverless-operator/emr-serverless-operator-metrics',
      'ServiceAccount/emr-serverless-operator/emr-serverless-operator',
      'ServiceMonitor/emr-serverless-operator/emr-serverless-operator',
      ...ADMISSION_OBJECTS,
    ]);
  });

  it('turns the values into run flags, the image, IRSA and the shard Lease', async () => {
    const shard = await helmTemplate('shard-a', 'ops', ['shard-values.yaml']);
    const shardArgs = find(shard, 'Deployment').spec.template.spec.containers[0].args;
    expect(shardArgs).toEqual(
      expect.arrayContaining([
        '--region=eu-west-1',
        '--namespace=team-a,team-b',
        '--watch-label-selector=emrserverless.operator.dev/shard=a',
        '--leader-elect=true',
        '--leader-election-id=emr-serverless-operator-shard-a',
      ]),
    );
    // Bound in the watched namespaces only, but reads of cluster-scoped objects (namespaces, the
    // EmrServerlessPolicies) need a ClusterRoleBinding of their own: exactly those rules of
    // manifests/rbac.yaml.
    expect(find(shard, 'ClusterRole', 'shard-a-emr-serverless-operator-cluster-identity').rules).toEqual([
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: ['emrserverless.operator.dev'],
        resources: ['emrserverlesspolicies'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    const leaseRule = find(shard, 'Role').rules.find((r: { resourceNames?: string[] }) => r.resourceNames);
    expect(leaseRule.resourceNames).toEqual(['emr-serverless-operator-shard-a']);
    for (const binding of shard.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace !== 'ops')) {
      expect((binding as Loose).roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'shard-a-emr-serverless-operator',
      });
    }

    const full = await helmTemplate(RELEASE, NS, ['full-values.yaml']);
    const container = find(full, 'Deployment').spec.template.spec.containers[0];
    expect(container.image).toBe(
      'registry.example.com/platform/emr-serverless-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    );
    expect(container.args).toEqual([
      '--region=us-east-1',
      '--aws-endpoint=https://emr-serverless.us-east-1.amazonaws.com',
      '--adopt-namespaces=data,platform',
      '--cluster-id=prod-eu',
      '--resync-period=5m',
      '--drift-detection=get',
      '--full-read-every=3',
      '--concurrency=8',
      '--aws-rps=12.5',
      '--verify-keys=false',
      '--verify-key-policies=true',
      '--key-cache-ttl=1m',
      '--leader-elect=true',
      '--leader-election-id=emr-serverless-operator',
      '--metrics-addr=:8080',
      '--health-addr=:8081',
      '--log-level=debug',
    ]);
    expect(container.env).toEqual([
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=576 --max-semi-space-size=2' },
      { name: 'MALLOC_ARENA_MAX', value: '2' },
      { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' },
    ]);
    expect(find(full, 'ServiceAccount').metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/emr-serverless-operator',
    });
    const pod = find(full, 'Deployment').spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.tolerations).toHaveLength(1);
    expect(pod.priorityClassName).toBe('system-cluster-critical');

    // The PrometheusRule is the rule file promtool tests, for this release's metrics Service.
    const rules = parse(readFileSync(join(CHART, 'files', 'prometheus-rules.yaml'), 'utf8'));
    const rendered = find(await helmTemplate('blue', 'ops', ['full-values.yaml']), 'PrometheusRule').spec;
    expect(rendered).toEqual(
      JSON.parse(
        JSON.stringify(rules).replaceAll(
          'job=\\"emr-serverless-operator-metrics\\"',
          'job=\\"blue-emr-serverless-operator-metrics\\"',
        ),
      ),
    );
    expect(JSON.stringify(rendered)).not.toContain('job=\\"emr-serverless-operator-metrics\\"');
    const dashboard = find(full, 'ConfigMap').data['emr-serverless-operator.json'];
    expect(JSON.parse(dashboard)).toEqual(
      JSON.parse(readFileSync(join(CHART, 'files', 'grafana-dashboard.json'), 'utf8')),
    );
  });

  it.each([
    [['--set', 'aws.region='], /aws\.region is required/],
    [['--set', 'aws.region=Europe'], /\/aws\/region.*does not match pattern/],
    [['--set', 'operator.concurrency=0'], /\/operator\/concurrency.*minimum/],
    [['--set', 'operator.resyncPeriod=ten minutes'], /\/operator\/resyncPeriod/],
    [['--set', 'operator.logLevel=loud'], /\/operator\/logLevel/],
    [['--set', 'operator.driftDetection=watch'], /\/operator\/driftDetection/],
    [['--set', 'operator.fullReadEvery=0'], /\/operator\/fullReadEvery.*minimum/],
    [['--set', 'image.digest=latest'], /\/image\/digest/],
    [['--set', 'operator.watchNamespaces[0]=Team_A'], /\/operator\/watchNamespaces\/0/],
    [['--set', 'aws.roleArn=my-role'], /\/aws\/roleArn/],
    [['--set', 'replicas=3'], /additional properties 'replicas' not allowed/],
    [['--set', 'operator.clusterId=a|b'], /\/operator\/clusterId/],
    [['--set', 'operator.adoptNamespaces[0]=Data'], /\/operator\/adoptNamespaces\/0/],
    [['--set', 'rbac.aggregateToTenantRoles=sometimes'], /\/rbac\/aggregateToTenantRoles/],
    [['--set-json', 'policies=[{"spec":{"namespaces":["finance"]}}]'], /\/policies\/0.*name/],
    [['--set-json', 'policies=[{"name":"finance","spec":"strict"}]'], /\/policies\/0\/spec/],
    [['--set-json', 'policies=[{"name":"Finance","spec":{}}]'], /\/policies\/0\/name/],
  ])('refuses %j at install time', async (args, message) => {
    const result = await helm(['template', RELEASE, CHART, '--set', 'aws.region=eu-west-1', ...args], {
      check: false,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});

describe('tenant roles and policies', () => {
  const tenantRoles = (objects: RenderedObject[]) =>
    objects.filter((o) => o.kind === 'ClusterRole' && /-(view|edit)$/.test(o.metadata.name)) as Loose[];

  it('aggregates reads into view and writes into edit and admin, never /status nor the policy kind', async () => {
    const roles = tenantRoles(await helmTemplate('blue', 'ops', ['default-values.yaml']));
    expect(roles.map((r) => r.metadata.name).sort()).toEqual([
      'blue-emr-serverless-operator-edit',
      'blue-emr-serverless-operator-view',
    ]);
    const byName = Object.fromEntries(roles.map((r) => [r.metadata.name, r]));
    const view = byName['blue-emr-serverless-operator-view']!;
    const edit = byName['blue-emr-serverless-operator-edit']!;
    expect(view.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
      'app.kubernetes.io/instance': 'blue',
    });
    expect(edit.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    });
    expect(edit.metadata.labels).not.toHaveProperty(['rbac.authorization.k8s.io/aggregate-to-view']);
    expect(view.rules.flatMap((r: { verbs: string[] }) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
    expect(edit.rules.flatMap((r: { verbs: string[] }) => r.verbs).sort()).toEqual([
      'create',
      'delete',
      'deletecollection',
      'patch',
      'update',
    ]);
    for (const rule of [...view.rules, ...edit.rules] as Array<{
      apiGroups: string[];
      resources: string[];
    }>) {
      expect(rule.apiGroups).toEqual(['emrserverless.operator.dev']);
      expect(rule.resources.sort()).toEqual(['emrserverlessapplications', 'emrserverlessjobruns']);
      for (const resource of rule.resources) {
        expect(resource).not.toContain('/');
        expect(resource).not.toMatch(/emrserverlesspolic|\*/);
      }
    }
    const off = await helmTemplate(
      'blue',
      'ops',
      ['default-values.yaml'],
      ['--set', 'rbac.aggregateToTenantRoles=false'],
    );
    expect(tenantRoles(off)).toEqual([]);
  });

  it('installs the policies of the `policies` value as EmrServerlessPolicies, spec as written', async () => {
    const spec = {
      namespaceSelector: { matchLabels: { 'emrserverless.operator.dev/tenant': 'finance' } },
      encryption: {
        requireCustomerManagedKey: true,
        allowedKeyArns: ['arn:aws:kms:*:111122223333:key/*'],
        jobRunKeyOverride: 'Forbidden',
      },
      jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::111122223333:role/finance-*'] },
      monitoring: { allowedS3LogUris: ['s3://finance-logs/*'] },
    };
    const objects = await helmTemplate(
      RELEASE,
      NS,
      ['default-values.yaml'],
      [
        '--set-json',
        `policies=${JSON.stringify([
          { name: 'finance', spec },
          { name: 'everyone', spec: { namespaceSelector: {} } },
        ])}`,
      ],
    );
    const policies = objects.filter((o) => o.kind === 'EmrServerlessPolicy') as Loose[];
    expect(policies.map((p) => [p.apiVersion, p.metadata.name, p.metadata.namespace])).toEqual([
      ['emrserverless.operator.dev/v1alpha1', 'finance', undefined],
      ['emrserverless.operator.dev/v1alpha1', 'everyone', undefined],
    ]);
    expect(policies[0]!.spec).toEqual(spec);
    expect(policies[1]!.spec).toEqual({ namespaceSelector: {} });
    expect(policies[0]!.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': RELEASE });
    // The spec the chart renders is the spec the CRD's schema takes.
    expect(PolicySpec.safeParse(policies[0]!.spec).success).toBe(true);
    // None by default.
    const none = await helmTemplate(RELEASE, NS, ['default-values.yaml']);
    expect(none.filter((o) => o.kind === 'EmrServerlessPolicy')).toEqual([]);
  });
});

describe('the chart and manifests/ do not drift', () => {
  let chart: RenderedObject[];
  let kustomize: RenderedObject[];

  beforeAll(async () => {
    chart = await helmTemplate(RELEASE, NS, ['default-values.yaml']);
    kustomize = parseObjects((await kubectl(['kustomize', join(root, 'manifests')])).stdout);
  });

  it('installs the same generated CRDs and admission policies', () => {
    const crd = find(
      chart,
      'CustomResourceDefinition',
      'emrserverlessapplications.emrserverless.operator.dev',
    );
    const { labels: _l, annotations, ...metadata } = crd.metadata;
    expect({ ...crd, metadata }).toEqual(buildCrd());
    expect(annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    // Labels and annotations differ by design; kustomize also puts its namespace on the
    // (cluster-scoped) policy objects, which the API server ignores.
    const bare = (o: RenderedObject) => {
      const { labels: _labels, annotations: _annotations, namespace: _namespace, ...rest } = o.metadata;
      return { ...o, metadata: rest };
    };
    const generated = (objects: RenderedObject[]) =>
      objects
        .filter((o) =>
          [
            'CustomResourceDefinition',
            'ValidatingAdmissionPolicy',
            'ValidatingAdmissionPolicyBinding',
          ].includes(o.kind),
        )
        .map(bare)
        .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
    expect(objectNames(generated(chart))).toEqual([...CRD_OBJECTS, ...ADMISSION_OBJECTS]);
    expect(generated(chart)).toEqual(generated(kustomize));
  });

  it('grants the same rights', () => {
    expect(find(chart, 'ClusterRole', RELEASE).rules).toEqual(find(kustomize, 'ClusterRole', RELEASE).rules);
    expect(find(chart, 'Role').rules).toEqual(find(kustomize, 'Role').rules);
    // The tenant roles: same names (the release is named like the chart), labels and rules.
    const tenant = (objects: RenderedObject[]) =>
      objects
        .filter((o) => o.kind === 'ClusterRole' && /-(view|edit)$/.test(o.metadata.name))
        .map((o) => ({
          name: o.metadata.name,
          aggregation: Object.entries(o.metadata.labels ?? {})
            .filter(([k]) => k.startsWith('rbac.authorization.k8s.io/'))
            .sort(),
          rules: (o as Loose).rules,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
    expect(tenant(chart).map((r) => r.name)).toEqual([`${RELEASE}-edit`, `${RELEASE}-view`]);
    expect(tenant(chart)).toEqual(tenant(kustomize));
    expect(find(chart, 'ClusterRoleBinding').subjects).toEqual(
      find(kustomize, 'ClusterRoleBinding').subjects,
    );
    expect(find(chart, 'RoleBinding').subjects).toEqual(find(kustomize, 'RoleBinding').subjects);
  });

  it('runs the same pod, flags aside', () => {
    const pod = (objects: RenderedObject[]) => {
      const deployment = find(objects, 'Deployment');
      const {
        containers,
        affinity: _a,
        topologySpreadConstraints: _t,
        ...spec
      } = deployment.spec.template.spec;
      const { args: _args, env: _env, image: _image, ...container } = containers[0];
      return { strategy: deployment.spec.strategy, replicas: deployment.spec.replicas, spec, container };
    };
    expect(pod(chart)).toEqual(pod(kustomize));
    const env = (objects: RenderedObject[]) =>
      find(objects, 'Deployment').spec.template.spec.containers[0].env.find(
        (e: { name: string }) => e.name === 'NODE_OPTIONS',
      );
    expect(env(chart)).toEqual(env(kustomize));
  });

  it('passes the same flags, the region given as a flag rather than AWS_REGION', () => {
    const args = (objects: RenderedObject[]) =>
      find(objects, 'Deployment').spec.template.spec.containers[0].args as string[];
    // manifests/ writes `--leader-elect` and leaves the rest at their defaults; the chart spells
    // every admin flag out.
    const spelled = new Set(args(chart).map((a) => a.split('=')[0]));
    for (const flag of args(kustomize)) expect(spelled, flag).toContain(flag.split('=')[0]);
    expect(args(chart)).toEqual(
      expect.arrayContaining(['--metrics-addr=:8080', '--health-addr=:8081', '--log-level=info']),
    );
  });

  it('exposes the same metrics Service and PodDisruptionBudget', () => {
    expect(find(chart, 'Service').spec.ports).toEqual(find(kustomize, 'Service').spec.ports);
    expect(find(chart, 'PodDisruptionBudget').spec.minAvailable).toBe(
      find(kustomize, 'PodDisruptionBudget').spec.minAvailable,
    );
  });
});
