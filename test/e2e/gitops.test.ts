// GitOps fidelity: after convergence the object holds exactly what was applied, re-applying the
// same file is a no-op, `kubectl wait` works, and a resource in sync costs no write at all, in
// AWS or in Kubernetes, over several resync periods.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2e, parseYaml, RESYNC_MS, reportFailures, sleep } from '../support/e2e.js';
import { APPLICATION_READS, expectQuietWindow } from '../support/quiet.js';

let e2e: E2e;
let dir: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-gitops');
  dir = mkdtempSync(join(tmpdir(), 'e2e-gitops-'));
});

afterAll(async () => {
  await e2e?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

reportFailures(() => e2e);

describe('GitOps fidelity', () => {
  it('spec, labels and annotations stay as applied; re-apply is a no-op; in sync costs zero writes', async () => {
    const key = await e2e.createKey();
    const file = join(dir, 'analytics.yaml');
    writeFileSync(
      file,
      `apiVersion: emrserverless.operator.dev/v1alpha1
kind: EmrServerlessApplication
metadata:
  name: analytics
  labels:
    app.kubernetes.io/part-of: data-platform
    team: data
  annotations:
    example.com/owner: data-team@example.com
spec:
  name: analytics
  type: SPARK
  releaseLabel: emr-7.5.0
  maximumCapacity:
    cpu: 200 vCPU
    memory: 800 GB
  autoStopConfiguration:
    enabled: true
    idleTimeoutMinutes: 30
  tags:
    team: data
    cost-center: "1234"
  diskEncryptionConfiguration:
    encryptionKeyArn: ${key}
    encryptionContext:
      project: analytics
  updateStrategy: StopWhenIdle
  deletionPolicy: Delete
`,
    );
    const applied = parseYaml(readFileSync(file, 'utf8'))[0] as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: Record<string, unknown>;
    };

    const first = await e2e.kubectl(['apply', '-f', file]);
    expect(first.stdout).toContain('emrserverlessapplication.emrserverless.operator.dev/analytics created');
    // What a pipeline does.
    await e2e.kubectlWaitReady('analytics', 60);
    const converged = await e2e.waitForReady('analytics', 'True', 'Reconciled');

    // The operator never writes spec, labels or annotations.
    expect(converged.spec).toEqual(applied.spec);
    expect(converged.metadata.labels).toEqual(applied.metadata.labels);
    const { 'kubectl.kubernetes.io/last-applied-configuration': _lastApplied, ...annotations } =
      converged.metadata.annotations ?? {};
    expect(annotations).toEqual(applied.metadata.annotations);
    const withFields = JSON.parse(
      (await e2e.kubectl(['get', 'emrsa', 'analytics', '-o', 'json', '--show-managed-fields'])).stdout,
    ) as { metadata: { managedFields: Array<{ manager: string; subresource?: string; operation: string }> } };
    const managers = withFields.metadata.managedFields;
    expect(
      managers
        .filter((m) => m.manager === 'emr-serverless-operator' && !m.subresource)
        .map((m) => m.operation),
    ).toEqual([
      // The finalizer is the operator's only write outside /status (a JSON patch = Update).
      'Update',
    ]);
    const app = await e2e.application(converged.status!.applicationId!);
    expect(app.tags).toMatchObject({ team: 'data', 'cost-center': '1234' });

    // Let anything still in flight settle (events, a last status write), then measure.
    await sleep(1_000);
    const settled = await e2e.get('analytics');
    const eventsBefore = await e2e.events('analytics');
    const mark = await e2e.mark();
    const logMark = e2e.operator.lines.length;

    // A second apply of the same file, a diff and kubectl wait, then three resync periods: all
    // no-ops. It did look: a listing or a read per resync (give or take jitter), and as many
    // reconciles.
    await expectQuietWindow({
      during: async () => {
        const second = await e2e.kubectl(['apply', '-f', file]);
        expect(second.stdout.trim()).toBe(
          'emrserverlessapplication.emrserverless.operator.dev/analytics unchanged',
        );
        const diff = await e2e.kubectl(['diff', '-f', file], { check: false });
        expect(diff.exitCode, diff.stdout + diff.stderr).toBe(0);
        await e2e.kubectlWaitReady('analytics', 10);
        await sleep(3 * RESYNC_MS + 500);
      },
      reads: [e2e.awsReads({ atLeast: 2 }), e2e.reconciles({ atLeast: 2 })],
      writes: () => e2e.writesSince(mark),
    });
    const after = await e2e.get('analytics');
    expect(after.metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
    expect(after.metadata.generation).toBe(settled.metadata.generation);
    expect(after.status).toEqual(settled.status);

    const calls = await e2e.callsSince(mark);
    const operations = new Set(calls.map((c) => c.operation));
    const looks: readonly string[] = APPLICATION_READS;
    expect([...operations].filter((op) => !looks.includes(op) && op !== 'DescribeKey')).toEqual([]);
    // DescribeKey answers are cached.
    expect(calls.filter((c) => c.operation === 'DescribeKey').length).toBeLessThanOrEqual(1);

    // Zero Kubernetes writes: no status write, no finalizer patch, no new event.
    expect(e2e.operator.since(logMark, 'status written')).toEqual([]);
    expect(e2e.operator.since(logMark, 'acting')).toEqual([]);
    const eventsAfter = await e2e.events('analytics');
    expect(eventsAfter.map((e) => [e.reason, e.count])).toEqual(eventsBefore.map((e) => [e.reason, e.count]));
  });
});
