// `helm install`, `helm upgrade` and `helm uninstall` of the chart against the real API server,
// with the checks manifests/ gets: strict server-side validation, the restricted Pod Security
// Standard, and `kubectl auth can-i` as the chart's own service account for every verb the
// operator needs and a list of forbidden ones. The shared API server already has the CRD (other
// tests install it from crds/), so the release leaves it out; its CRD object is dry-run instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceAccountKubeconfig } from '../../../src/envtest/index.js';
import { kubectl, newNamespace, serviceAccountKubeconfig } from '../../support/cluster.js';
import { ensureCrd, sharedCluster } from '../../support/e2e.js';
import { CHART, helm, parseObjects } from '../../support/helm.js';
import { dryRunPod } from '../../support/pod-security.js';
import { all, canI, forbiddenAccess, neededAccess } from '../../support/rbac-checks.js';

let ns: string;
let watched: string;
let release: string;
/** The release's objects' name: "<release>-emr-serverless-operator". */
let fullname: string;
let sa: ServiceAccountKubeconfig;

const BASE = ['--set', 'aws.region=eu-west-1', '--set', 'crds.install=false'];

async function deployment() {
  const { stdout } = await kubectl(['get', 'deployment', fullname, '-n', ns, '-o', 'json']);
  return JSON.parse(stdout);
}

beforeAll(async () => {
  await ensureCrd(sharedCluster());
  ns = await newNamespace('helm-install');
  watched = await newNamespace('helm-watched');
  await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  release = `eso-${ns.slice(-8)}`;
  fullname = `${release}-emr-serverless-operator`;
});

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', ns], { check: false });
});

describe('helm install, upgrade, uninstall', () => {
  it('installs: every object is accepted with strict validation and no warning', async () => {
    // What the release will create, dry-run with strict field validation first.
    const { stdout: manifest } = await helm(['template', release, CHART, '--namespace', ns, ...BASE]);
    const dryRun = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-n', ns, '-f', '-'],
      { input: manifest },
    );
    expect(dryRun.stderr).not.toMatch(/warning/i);
    expect(dryRun.stdout.trim().split('\n')).toHaveLength(parseObjects(manifest).length);
    // The CRD as the chart renders it, against the same server.
    const { stdout: crd } = await helm([
      'template',
      release,
      CHART,
      '--set',
      'aws.region=eu-west-1',
      '--show-only',
      'templates/crd.yaml',
    ]);
    const crdDryRun = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      {
        input: crd,
      },
    );
    expect(crdDryRun.stdout).toMatch(
      /customresourcedefinition.*emrserverlessapplications.*serverside-applied/,
    );

    const install = await helm(['install', release, CHART, '--namespace', ns, ...BASE]);
    expect(install.stderr).not.toMatch(/warning/i);
    const status = JSON.parse((await helm(['status', release, '--namespace', ns, '-o', 'json'])).stdout);
    expect(status.info.status).toBe('deployed');
    expect(status.version).toBe(1);
    const d = await deployment();
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.serviceAccountName).toBe(fullname);
  });

  it('renders policies from values that the EmrServerlessPolicy CRD accepts, and the tenant roles', async () => {
    const policies = [
      {
        name: `${release}-finance`,
        spec: {
          namespaces: [ns],
          encryption: {
            requireCustomerManagedKey: true,
            allowedKeyArns: ['arn:aws:kms:*:111122223333:key/*'],
            jobRunKeyOverride: 'Forbidden',
          },
          jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::111122223333:role/finance-*'] },
          monitoring: { allowedS3LogUris: ['s3://finance-logs/*'] },
        },
      },
    ];
    const { stdout } = await helm([
      'template',
      release,
      CHART,
      '--namespace',
      ns,
      ...BASE,
      '--set-json',
      `policies=${JSON.stringify(policies)}`,
      '--show-only',
      'templates/policies.yaml',
    ]);
    const dryRun = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      {
        input: stdout,
      },
    );
    expect(dryRun.stderr).not.toMatch(/warning/i);
    expect(dryRun.stdout).toMatch(/emrserverlesspolicy.*finance serverside-applied/);
    // The release installed above holds the tenant roles.
    const roles = await kubectl(['get', 'clusterrole', `${fullname}-view`, `${fullname}-edit`, '-o', 'name']);
    expect(roles.stdout.trim().split('\n')).toHaveLength(2);
  });

  it("the Deployment's pods pass the restricted Pod Security Standard of the release namespace", async () => {
    const { asWritten, withoutSecurityContext } = await dryRunPod(ns, (await deployment()).spec.template);
    expect(asWritten.stderr).toBe('');
    expect(asWritten.exitCode).toBe(0);
    expect(withoutSecurityContext.stderr).toMatch(/violates PodSecurity "restricted/);
  });

  it('its service account may do what the operator calls, and nothing else', async () => {
    sa = await serviceAccountKubeconfig({ namespace: ns, name: fullname });
    const scope = { operatorNs: ns, watchedNs: watched, lease: fullname };
    const needed = neededAccess(scope);
    expect(await canI(sa.kubeconfig, needed)).toEqual(all(needed, true));
    const forbidden = forbiddenAccess(scope);
    expect(await canI(sa.kubeconfig, forbidden)).toEqual(all(forbidden, false));
  });

  it('upgrades to one shard watching one namespace: RBAC follows, a bad value changes nothing', async () => {
    const shard = [
      ...BASE,
      '--set',
      `operator.watchNamespaces={${watched}}`,
      '--set',
      'operator.watchLabelSelector=shard=a',
      '--set',
      `operator.leaderElection.id=${release}-shard-a`,
      '--set',
      'operator.logLevel=debug',
    ];
    await helm(['upgrade', release, CHART, '--namespace', ns, ...shard]);
    const args = (await deployment()).spec.template.spec.containers[0].args;
    expect(args).toEqual(
      expect.arrayContaining([
        `--namespace=${watched}`,
        '--watch-label-selector=shard=a',
        `--leader-election-id=${release}-shard-a`,
        '--log-level=debug',
      ]),
    );
    // Rights in the watched namespace only now, and on the shard's Lease.
    const scope = { operatorNs: ns, watchedNs: watched, lease: `${release}-shard-a`, clusterWide: false };
    const needed = neededAccess(scope);
    expect(await canI(sa.kubeconfig, needed)).toEqual(all(needed, true));
    const elsewhere = [
      ['list', 'emrserverlessapplications.emrserverless.operator.dev', '--all-namespaces'],
      ['patch', 'emrserverlessapplications.emrserverless.operator.dev', '-n', ns],
      ['get', `leases.coordination.k8s.io/${fullname}`, '-n', ns],
    ];
    expect(await canI(sa.kubeconfig, elsewhere)).toEqual(all(elsewhere, false));

    const bad = await helm(
      ['upgrade', release, CHART, '--namespace', ns, ...shard, '--set', 'operator.awsRps=-1'],
      {
        check: false,
      },
    );
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/\/operator\/awsRps/);
    const history = JSON.parse((await helm(['history', release, '--namespace', ns, '-o', 'json'])).stdout);
    expect(history.map((h: { revision: number; status: string }) => [h.revision, h.status])).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
  });

  it('uninstalls: the release objects are gone', async () => {
    await helm(['uninstall', release, '--namespace', ns]);
    const left = await kubectl([
      'get',
      'deployment,service,serviceaccount,role,rolebinding,poddisruptionbudget',
      '-n',
      ns,
      '-o',
      'name',
    ]);
    expect(left.stdout.trim()).toBe('');
    const cluster = await kubectl([
      'get',
      'clusterrole',
      fullname,
      `${fullname}-view`,
      `${fullname}-edit`,
      '--ignore-not-found',
      '-o',
      'name',
    ]);
    expect(cluster.stdout.trim()).toBe('');
    const binding = await kubectl([
      'get',
      'rolebinding',
      release,
      '-n',
      watched,
      '--ignore-not-found',
      '-o',
      'name',
    ]);
    expect(binding.stdout.trim()).toBe('');
  });
});
