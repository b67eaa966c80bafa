// The kustomize overlays the docs tell users to write (docs/install.md, docs/eks.md) render with
// `kubectl kustomize` into what the docs promise: the image by tag or by digest, the region, the
// IRSA role annotation, and a `namespace:` that moves everything, bindings included.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { findRepoRoot } from '../../../src/envtest/index.js';
import { kubectl } from '../../support/cluster.js';
import { yamlBlocks } from '../../support/docs.js';

const root = findRepoRoot();
const MANIFESTS = join(root, 'manifests');

interface Kustomization {
  resources: string[];
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  patches?: Array<{ target: { kind: string }; patch: string }>;
  namespace?: string;
}
interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  subjects?: Array<{ kind: string; name: string; namespace: string }>;
}

/** Every yaml block of a doc that is a Kustomization based on this repository's manifests/. */
function overlaysIn(doc: string): Kustomization[] {
  const text = readFileSync(join(root, 'docs', doc), 'utf8');
  return yamlBlocks(text)
    .map((block) => parse(block) as Kustomization | null)
    .filter((k): k is Kustomization => (k as { kind?: string } | null)?.kind === 'Kustomization');
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'emr-overlay-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Renders `overlay` with its base pointed at this checkout's manifests/. */
async function render(name: string, overlay: Kustomization): Promise<Obj[]> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const based = {
    ...overlay,
    resources: overlay.resources.map((r) => (r.endsWith('manifests') ? relative(dir, MANIFESTS) : r)),
  };
  writeFileSync(join(dir, 'kustomization.yaml'), stringify(based));
  const { stdout } = await kubectl(['kustomize', dir]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

const deploymentOf = (objs: Obj[]) => objs.find((o) => o.kind === 'Deployment')!;
const containerOf = (objs: Obj[]) =>
  (
    deploymentOf(objs).spec as {
      template: {
        spec: { containers: Array<{ image: string; env: Array<{ name: string; value: string }> }> };
      };
    }
  ).template.spec.containers[0]!;

describe('the overlays in the docs', () => {
  const overlays = [
    ...overlaysIn('install.md').map((k, i) => [`install.md #${i + 1}`, k] as const),
    ...overlaysIn('eks.md').map((k, i) => [`eks.md #${i + 1}`, k] as const),
  ];

  it('are found', () => {
    expect(overlays.length).toBeGreaterThanOrEqual(2);
  });

  it.each(overlays)('%s renders the image, region and role it sets', async (name, overlay) => {
    const objs = await render(name.replace(/\W+/g, '-'), overlay);
    const container = containerOf(objs);
    const image = overlay.images![0]!;
    expect(container.image).toBe(`${image.newName}:${image.newTag}`);
    const region = overlay.patches!.find((p) => p.target.kind === 'Deployment')!;
    const value = (parse(region.patch) as Array<{ value: string }>)[0]!.value;
    expect(container.env.find((e) => e.name === 'AWS_REGION')?.value).toBe(value);
    const role = overlay.patches!.find((p) => p.target.kind === 'ServiceAccount');
    if (role) {
      const arn = (parse(role.patch) as Array<{ value: string }>)[0]!.value;
      const sa = objs.find((o) => o.kind === 'ServiceAccount')!;
      expect(sa.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(arn);
    }
  });

  it('pins the image by digest as docs/eks.md shows', async () => {
    const text = readFileSync(join(root, 'docs', 'eks.md'), 'utf8');
    const snippet = yamlBlocks(text)
      .map((block) => parse(block) as Pick<Kustomization, 'images'> | null)
      .find((k) => k?.images?.some((i) => i.digest));
    expect(snippet).toBeDefined();
    const objs = await render('digest', { resources: ['manifests'], images: snippet!.images! });
    const image = snippet!.images![0]!;
    expect(containerOf(objs).image).toBe(`${image.newName}@${image.digest}`);
  });

  it('moves everything, bindings included, with a namespace: of its own', async () => {
    const objs = await render('namespace', { resources: ['manifests'], namespace: 'platform-emr' });
    for (const o of objs.filter((x) => x.metadata.namespace !== undefined)) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('platform-emr');
    }
    for (const binding of objs.filter((o) => ['RoleBinding', 'ClusterRoleBinding'].includes(o.kind))) {
      expect(
        binding.subjects!.map((s) => s.namespace),
        binding.kind,
      ).toEqual(['platform-emr']);
    }
  });
});
