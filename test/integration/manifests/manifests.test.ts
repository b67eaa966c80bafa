// manifests/ against a real kube-apiserver: `kubectl kustomize` renders it with the one generated
// CRD from crds/, a server-side dry run and a real `kubectl apply -k manifests/` are accepted with
// strict field validation, and the pods the Deployment would create pass the restricted Pod
// Security Standard (there is no scheduler or kubelet here, so they are checked by dry run).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { crdFiles } from '../../../src/api/crd.js';
import { findRepoRoot, waitForCrdsEstablished } from '../../../src/envtest/index.js';
import { kubectl, newNamespace } from '../../support/cluster.js';
import { OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT } from '../../support/operator-rbac.js';
import { dryRunPod } from '../../support/pod-security.js';

const root = findRepoRoot();
const MANIFESTS = join(root, 'manifests');
const CRD_DIR = join(root, 'crds');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

interface Container {
  image: string;
  args: string[];
  ports: unknown[];
  livenessProbe: { httpGet: unknown };
  readinessProbe: { httpGet: unknown };
  securityContext?: Record<string, unknown>;
  volumeMounts: unknown[];
  [key: string]: unknown;
}
interface PodSpec {
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  [key: string]: unknown;
}
interface Deployment extends Obj {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface Service extends Obj {
  spec: { ports: unknown[]; selector: Record<string, string> };
}

let rendered: Obj[];
const find = (kind: string, name?: string): Obj => {
  const obj = rendered.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!obj) throw new Error(`no ${kind} ${name ?? ''} in the rendered manifests`);
  return obj;
};

beforeAll(async () => {
  const { stdout } = await kubectl(['kustomize', MANIFESTS]);
  rendered = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
});

describe('kubectl kustomize manifests/', () => {
  it('renders every object, the CRD exactly as generated (no second copy to drift)', () => {
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/emr-serverless-operator',
        'ClusterRole/emr-serverless-operator-edit',
        'ClusterRole/emr-serverless-operator-view',
        'ClusterRoleBinding/emr-serverless-operator',
        'CustomResourceDefinition/emrserverlessapplications.emrserverless.operator.dev',
        'CustomResourceDefinition/emrserverlessjobruns.emrserverless.operator.dev',
        'CustomResourceDefinition/emrserverlesspolicies.emrserverless.operator.dev',
        'Deployment/emr-serverless-operator',
        'Namespace/emr-serverless-operator',
        'PodDisruptionBudget/emr-serverless-operator',
        'Role/emr-serverless-operator-leader-election',
        'RoleBinding/emr-serverless-operator-leader-election',
        'Service/emr-serverless-operator-metrics',
        'ServiceAccount/emr-serverless-operator',
        'ValidatingAdmissionPolicy/emrserverlessapplications.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicyBinding/emrserverlessapplications.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicy/emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicyBinding/emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicy/emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicyBinding/emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls',
        'ValidatingAdmissionPolicy/emrserverlessapplications.emrserverless.operator.dev-namespace-policies',
        'ValidatingAdmissionPolicyBinding/emrserverlessapplications.emrserverless.operator.dev-namespace-policies',
        'ValidatingAdmissionPolicy/emrserverlessjobruns.emrserverless.operator.dev-namespace-policies',
        'ValidatingAdmissionPolicyBinding/emrserverlessjobruns.emrserverless.operator.dev-namespace-policies',
      ].sort(),
    );
    const crds = rendered.filter((o) => o.kind === 'CustomResourceDefinition');
    // kustomize adds only the common labels.
    expect(
      crds.map((crd) => {
        const { labels, ...metadata } = crd.metadata;
        expect(labels).toEqual({ 'app.kubernetes.io/part-of': 'emr-serverless-operator' });
        return { ...crd, metadata };
      }),
    ).toEqual(crdFiles().map((f) => f.crd));
  });

  it('puts every namespaced object in the operator namespace', () => {
    for (const obj of rendered) {
      // Kustomize's built-in schema does not know the admission policy kinds are cluster-scoped
      // and gives them the namespace too; kubectl and the API server ignore it for them.
      if (['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(obj.kind)) continue;
      if (['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind)) {
        expect(obj.metadata.namespace, obj.kind).toBeUndefined();
      } else {
        expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(OPERATOR_NAMESPACE);
      }
    }
  });

  it('runs two leader-elected, locked-down replicas with probes on the health port', () => {
    const deployment = find('Deployment') as Deployment;
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(OPERATOR_SERVICE_ACCOUNT);
    expect(pod.terminationGracePeriodSeconds).toBe(40);
    const container = pod.containers[0]!;
    expect(container.image).toBe('ghcr.io/OWNER/emr-serverless-operator:0.1.0');
    expect(container.args).toEqual(
      expect.arrayContaining(['--leader-elect', '--metrics-addr=:8080', '--health-addr=:8081']),
    );
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.ports).toEqual([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    const service = find('Service') as Service;
    expect(service.spec.ports).toEqual([
      { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    const pdb = find('PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: deployment.spec.selector });
  });
});

describe('manifests/tenant-roles.yaml', () => {
  interface Rule {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
  }
  const roles = () =>
    rendered.filter((o) => o.kind === 'ClusterRole' && o.metadata.name !== 'emr-serverless-operator');
  const aggregation = (o: Obj) =>
    Object.entries(o.metadata.labels ?? {})
      .filter(([k]) => k.startsWith('rbac.authorization.k8s.io/aggregate-to-'))
      .map(([k, v]) => `${k.slice('rbac.authorization.k8s.io/'.length)}=${v}`)
      .sort();

  it('adds reads to view, and writes to edit and admin, of the two namespaced kinds only', () => {
    expect(roles().map((o) => ({ name: o.metadata.name, labels: aggregation(o), rules: o.rules }))).toEqual([
      {
        name: 'emr-serverless-operator-edit',
        labels: ['aggregate-to-admin=true', 'aggregate-to-edit=true'],
        rules: [
          {
            apiGroups: ['emrserverless.operator.dev'],
            resources: ['emrserverlessapplications', 'emrserverlessjobruns'],
            verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'],
          },
        ],
      },
      {
        name: 'emr-serverless-operator-view',
        labels: ['aggregate-to-admin=true', 'aggregate-to-edit=true', 'aggregate-to-view=true'],
        rules: [
          {
            apiGroups: ['emrserverless.operator.dev'],
            resources: ['emrserverlessapplications', 'emrserverlessjobruns'],
            verbs: ['get', 'list', 'watch'],
          },
        ],
      },
    ]);
  });

  it('never grants a /status subresource, the policy kind, or a wildcard', () => {
    const rules = roles().flatMap((o) => o.rules as Rule[]);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      for (const resource of rule.resources) {
        expect(resource).not.toContain('/');
        expect(resource).not.toMatch(/emrserverlesspolic/);
        expect(resource).not.toContain('*');
      }
      expect(rule.verbs).not.toContain('*');
      expect(rule.apiGroups).toEqual(['emrserverless.operator.dev']);
    }
  });
});

describe('kubectl apply -k manifests/ against the API server', () => {
  it('`kubectl apply -f crds/` still applies just the CRDs and their admission policies (crds/Kustomization is not a .yaml file)', async () => {
    const { stdout } = await kubectl([
      'apply',
      '--server-side',
      '--dry-run=server',
      '-o',
      'name',
      '-f',
      CRD_DIR,
    ]);
    expect(stdout.trim().split('\n')).toEqual([
      'customresourcedefinition.apiextensions.k8s.io/emrserverlessapplications.emrserverless.operator.dev',
      'validatingadmissionpolicy.admissionregistration.k8s.io/emrserverlessapplications.emrserverless.operator.dev-refuse-nulls',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/emrserverlessapplications.emrserverless.operator.dev-refuse-nulls',
      'customresourcedefinition.apiextensions.k8s.io/emrserverlessjobruns.emrserverless.operator.dev',
      'validatingadmissionpolicy.admissionregistration.k8s.io/emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/emrserverlessjobruns.emrserverless.operator.dev-refuse-nulls',
      'customresourcedefinition.apiextensions.k8s.io/emrserverlesspolicies.emrserverless.operator.dev',
      'validatingadmissionpolicy.admissionregistration.k8s.io/emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/emrserverlesspolicies.emrserverless.operator.dev-refuse-nulls',
      'validatingadmissionpolicy.admissionregistration.k8s.io/emrserverlessapplications.emrserverless.operator.dev-namespace-policies',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/emrserverlessapplications.emrserverless.operator.dev-namespace-policies',
      'validatingadmissionpolicy.admissionregistration.k8s.io/emrserverlessjobruns.emrserverless.operator.dev-namespace-policies',
      'validatingadmissionpolicybinding.admissionregistration.k8s.io/emrserverlessjobruns.emrserverless.operator.dev-namespace-policies',
    ]);
  });

  it('is accepted by a server-side dry run, then applied for real, then is a no-op', async () => {
    // The dry run needs what the other objects depend on: the namespace and the CRD.
    await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
    await waitForCrdsEstablished(kubectl, ['crd/emrserverlessapplications.emrserverless.operator.dev']);
    await kubectl(['create', 'namespace', OPERATOR_NAMESPACE], { check: false });

    const dryRun = await kubectl([
      'apply',
      '-k',
      MANIFESTS,
      '--server-side',
      '--dry-run=server',
      '--validate=strict',
    ]);
    expect(dryRun.stderr).not.toMatch(/warning/i);
    expect(dryRun.stdout.trim().split('\n')).toHaveLength(rendered.length);

    const applied = await kubectl([
      'apply',
      '-k',
      MANIFESTS,
      '--server-side',
      '--validate=strict',
      '-o',
      'name',
    ]);
    expect(applied.stderr).not.toMatch(/warning/i);
    expect(applied.stdout.trim().split('\n')).toHaveLength(rendered.length);

    const { stdout } = await kubectl([
      'get',
      'deployment',
      'emr-serverless-operator',
      '-n',
      OPERATOR_NAMESPACE,
      '-o',
      'json',
    ]);
    const deployment = JSON.parse(stdout);
    expect(deployment.spec.template.spec.containers[0].image).toBe(
      'ghcr.io/OWNER/emr-serverless-operator:0.1.0',
    );
    const ns = JSON.parse((await kubectl(['get', 'namespace', OPERATOR_NAMESPACE, '-o', 'json'])).stdout);
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');

    // Applying again changes nothing: the generation stays where it was.
    await kubectl(['apply', '-k', MANIFESTS, '--server-side']);
    const again = JSON.parse(
      (
        await kubectl([
          'get',
          'deployment',
          'emr-serverless-operator',
          '-n',
          OPERATOR_NAMESPACE,
          '-o',
          'json',
        ])
      ).stdout,
    );
    expect(again.metadata.generation).toBe(deployment.metadata.generation);
  });

  it("the Deployment's pods pass the restricted Pod Security Standard (and PodSecurity admission is on)", async () => {
    const ns = await newNamespace('pss-restricted');
    await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    await kubectl(['create', 'serviceaccount', OPERATOR_SERVICE_ACCOUNT, '-n', ns]);
    const deployment = find('Deployment') as Deployment;
    const { asWritten, withoutSecurityContext } = await dryRunPod(ns, deployment.spec.template);
    expect(asWritten.stderr).toBe('');
    expect(asWritten.exitCode).toBe(0);
    // The same pod without its security context is refused: the check above is not vacuous.
    expect(withoutSecurityContext.exitCode).not.toBe(0);
    expect(withoutSecurityContext.stderr).toMatch(/violates PodSecurity "restricted/);
  });
});

describe('argocd/argocd-cm-patch.yaml', () => {
  it('patches an argocd-cm ConfigMap with the health check, as documented', async () => {
    // The patch names namespace `argocd` (the API server refuses a patch for another namespace);
    // no other test uses it.
    const ns = 'argocd';
    await kubectl(['create', 'namespace', ns], { check: false });
    await kubectl(['delete', 'configmap', 'argocd-cm', '-n', ns, '--ignore-not-found']);
    await kubectl([
      'create',
      'configmap',
      'argocd-cm',
      '-n',
      ns,
      '--from-literal=url=https://argocd.example.com',
    ]);
    await kubectl([
      'patch',
      'configmap',
      'argocd-cm',
      '-n',
      ns,
      '--type',
      'merge',
      '--patch-file',
      join(root, 'argocd', 'argocd-cm-patch.yaml'),
    ]);
    const cm = JSON.parse((await kubectl(['get', 'configmap', 'argocd-cm', '-n', ns, '-o', 'json'])).stdout);
    const health = readFileSync(join(root, 'argocd', 'health.lua'), 'utf8');
    expect(cm.data).toEqual({
      url: 'https://argocd.example.com',
      'resource.customizations.health.emrserverless.operator.dev_EmrServerlessApplication': health,
      'resource.customizations.health.emrserverless.operator.dev_EmrServerlessJobRun': health,
    });
    expect(parse(readFileSync(join(root, 'argocd', 'argocd-cm-patch.yaml'), 'utf8')).metadata.namespace).toBe(
      'argocd',
    );
  });
});
