// What every kind the operator reconciles must provide (docs/development.md, "Adding a kind").
// A new kind is added to KINDS below; each row is then checked for every piece a user, an
// admin, Argo CD or the operator itself relies on.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { GROUP } from '../../src/api/constants.js';
import { buildCrd, buildJobRunCrd, crdFiles } from '../../src/api/crd.js';
import { applicationController, jobRunController } from '../../src/controller/kinds.js';
import { ApplicationReconciler } from '../../src/reconcile/application/reconciler.js';
import { JobRunReconciler } from '../../src/reconcile/jobrun/reconciler.js';
import { KindReconciler } from '../../src/reconcile/kind-reconciler.js';

const root = new URL('../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

// Constructing a reconciler talks to nothing: these dependencies are never called here.
const unused = new Proxy({}, { get: () => () => Promise.reject(new Error('not called in this test')) });
const deps = {
  aws: unused as never,
  writer: unused as never,
  events: { record: () => {} },
  cache: { get: () => undefined },
  logger: pino({ level: 'silent' }),
  options: { defaultRegion: 'us-east-1', verifyKeys: true, resyncPeriodMs: 60_000 },
};
const noFactory = () => {
  throw new Error('not called in this test');
};

const KINDS = [
  {
    name: 'EmrServerlessApplication',
    controller: applicationController(noFactory),
    crd: buildCrd(),
    reconciler: () => new ApplicationReconciler(deps),
    reference: '# EmrServerlessApplication reference',
  },
  {
    name: 'EmrServerlessJobRun',
    controller: jobRunController(noFactory),
    crd: buildJobRunCrd(),
    reconciler: () => new JobRunReconciler(deps),
    reference: '# EmrServerlessJobRun reference',
  },
];

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const operatorRules = (parseAllDocuments(read('manifests/rbac.yaml'))[0]!.toJS() as { rules: Rule[] }).rules;
const tenantRoles = parseAllDocuments(read('manifests/tenant-roles.yaml')).map(
  (d) => d.toJS() as { metadata: { name: string }; rules: Rule[] },
);
const verbsOn = (rules: Rule[], resource: string) =>
  rules.filter((r) => r.apiGroups.includes(GROUP) && r.resources.includes(resource)).flatMap((r) => r.verbs);

describe.each(KINDS)('the $name kind provides', (k) => {
  const { plural, kind } = k.controller.resource;

  it('a reconciler built on the shared skeleton (the kind supplies begin, plan, act and next)', () => {
    expect(k.reconciler()).toBeInstanceOf(KindReconciler);
  });

  it('a controller of its own: a name (metrics label, readiness checks) and the resource it watches', () => {
    expect(k.controller.name).toBe(kind.toLowerCase());
    expect(kind).toBe(k.name);
    expect(k.controller.resource.group).toBe(GROUP);
  });

  it('a CRD with the status subresource, kstatus conditions and a Ready column', () => {
    const spec = k.crd.spec as {
      names: { plural: string };
      versions: Array<{
        subresources?: { status?: object };
        additionalPrinterColumns: Array<{ name: string }>;
        schema: { openAPIV3Schema: { properties: { status: { properties: Record<string, unknown> } } } };
      }>;
    };
    expect(spec.names.plural).toBe(plural);
    const [version] = spec.versions;
    expect(version!.subresources?.status).toEqual({});
    expect(version!.additionalPrinterColumns.map((c) => c.name)).toContain('Ready');
    expect(Object.keys(version!.schema.openAPIV3Schema.properties.status.properties)).toEqual(
      expect.arrayContaining(['conditions', 'observedGeneration']),
    );
  });

  it('admission policies: one refusing nulls, one enforcing the namespace policies', () => {
    const names = crdFiles()
      .flatMap((f) =>
        parseAllDocuments(f.yaml).map((d) => d.toJS() as { kind: string; metadata: { name: string } }),
      )
      .filter((d) => d.kind === 'ValidatingAdmissionPolicy')
      .map((d) => d.metadata.name);
    expect(names).toContain(`${plural}.${GROUP}-refuse-nulls`);
    expect(names).toContain(`${plural}.${GROUP}-namespace-policies`);
  });

  it("the operator's RBAC: watch and patch it, patch its status, update its finalizers", () => {
    expect(verbsOn(operatorRules, plural)).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'patch']));
    expect(verbsOn(operatorRules, `${plural}/status`)).toEqual(expect.arrayContaining(['patch']));
    expect(verbsOn(operatorRules, `${plural}/finalizers`)).toEqual(['update']);
  });

  it("the tenants' roles: view reads it, edit writes it, neither touches its status", () => {
    const role = (suffix: string) => tenantRoles.find((r) => r.metadata.name.endsWith(suffix))!.rules;
    expect(verbsOn(role('-view'), plural)).toEqual(expect.arrayContaining(['get', 'list', 'watch']));
    expect(verbsOn(role('-edit'), plural)).toEqual(
      expect.arrayContaining(['create', 'update', 'patch', 'delete']),
    );
    for (const r of tenantRoles) expect(verbsOn(r.rules, `${plural}/status`)).toEqual([]);
  });

  it('a reference section in docs/reference.md and an Argo CD health check', () => {
    expect(read('docs/reference.md')).toContain(k.reference);
    expect(read('argocd/argocd-cm-patch.yaml')).toContain(`resource.customizations.health.${GROUP}_${kind}:`);
  });
});
