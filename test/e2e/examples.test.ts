// examples/ as a person applies them, verbatim: each passes admission (server-side dry run), so the
// placeholder key ARNs and ids are syntactically valid.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kubectl, newNamespace } from '../support/cluster.js';
import { ensureCrd, ROOT, sharedCluster } from '../support/e2e.js';

const dir = join(ROOT, 'examples');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
let ns: string;

beforeAll(async () => {
  await ensureCrd(sharedCluster());
  ns = await newNamespace('e2e-examples');
});

describe('examples/', () => {
  it('has the manifests the README and the demo use', () => {
    expect(files).toEqual([
      '01-customer-managed-key.yaml',
      '02-encryption-context.yaml',
      '03-aws-owned-key.yaml',
      '04-asymmetric-key.yaml',
      '05-change-while-running.yaml',
      '06-adopt-existing.yaml',
      '07-job-runs.yaml',
    ]);
  });

  it.each(files)('%s passes admission as written', async (file) => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', join(dir, file)]);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatch(
        /emrserverless(application|jobrun)\.emrserverless\.operator\.dev\/\S+ (created|configured) \(server dry run\)/,
      );
    }
  });
});
