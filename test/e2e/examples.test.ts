// examples/ as a person applies them, verbatim: each passes admission (server-side dry run), so the
// placeholder key ARNs and ids are syntactically valid. The policy of 08 is cluster-scoped and
// governs only namespaces labelled for the finance tenant, which the test namespace is not.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForCrdsEstablished } from '../../src/envtest/index.js';
import { kubectl, newNamespace } from '../support/cluster.js';
import { ensureCrd, ROOT, sharedCluster } from '../support/e2e.js';

const dir = join(ROOT, 'examples');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
let ns: string;

beforeAll(async () => {
  await ensureCrd(sharedCluster());
  await waitForCrdsEstablished(kubectl, ['crd/emrserverlesspolicies.emrserverless.operator.dev']);
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
      '08-namespace-policy.yaml',
    ]);
  });

  it.each(files)('%s passes admission as written', async (file) => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', join(dir, file)]);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatch(
        /emrserverless(application|jobrun|policy)\.emrserverless\.operator\.dev\/\S+ (created|configured) \(server dry run\)/,
      );
    }
  });
});

describe('examples/08-namespace-policy.yaml, applied for real', () => {
  let finance: string;

  beforeAll(async () => {
    await kubectl(['apply', '--server-side', '-f', join(dir, '08-namespace-policy.yaml')]);
    finance = await newNamespace('e2e-finance');
    await kubectl(['label', 'namespace', finance, 'emrserverless.operator.dev/tenant=finance']);
  });

  afterAll(async () => {
    await kubectl(['delete', '-f', join(dir, '08-namespace-policy.yaml'), '--ignore-not-found']);
  });

  it('admits examples/01 in a finance namespace and refuses examples/03 and 07, naming the policy', async () => {
    // The API server may take a moment to see a new parameter object: wait until 03 is refused.
    const deadline = Date.now() + 30_000;
    let refused = await kubectl(
      ['apply', '--dry-run=server', '-n', finance, '-f', join(dir, '03-aws-owned-key.yaml')],
      {
        check: false,
      },
    );
    while (refused.exitCode === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      refused = await kubectl(
        ['apply', '--dry-run=server', '-n', finance, '-f', join(dir, '03-aws-owned-key.yaml')],
        {
          check: false,
        },
      );
    }
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(
      'EmrServerlessPolicy finance requires a customer-managed key: set spec.diskEncryptionConfiguration.encryptionKeyArn',
    );

    const allowed = await kubectl([
      'apply',
      '--dry-run=server',
      '-n',
      finance,
      '-f',
      join(dir, '01-customer-managed-key.yaml'),
    ]);
    expect(allowed.stdout).toMatch(/analytics created \(server dry run\)/);

    const jobs = await kubectl(
      ['apply', '--dry-run=server', '-n', finance, '-f', join(dir, '07-job-runs.yaml')],
      {
        check: false,
      },
    );
    expect(jobs.exitCode).not.toBe(0);
    // Each is refused (the API server names the first rule that fails: the execution role).
    for (const name of ['nightly-etl', 'pii-export', 'signing-key-report']) {
      expect(jobs.stderr).toContain(`"${name}" is forbidden`);
    }
    expect(jobs.stderr).toContain('EmrServerlessPolicy finance refuses spec.executionRoleArn');

    // The namespace the other examples were applied to is not governed.
    const elsewhere = await kubectl([
      'apply',
      '--dry-run=server',
      '-n',
      ns,
      '-f',
      join(dir, '03-aws-owned-key.yaml'),
    ]);
    expect(elsewhere.stdout).toMatch(/analytics (created|configured) \(server dry run\)/);
  });
});
