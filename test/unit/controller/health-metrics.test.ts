import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  parseListenAddress,
  readinessReport,
  startHealthServer,
  startMetricsServer,
} from '../../../src/controller/health.js';
import { OperatorMetrics } from '../../../src/controller/metrics.js';

const silent = pino({ level: 'silent' });

describe('parseListenAddress', () => {
  it.each([
    [':8080', { host: undefined, port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['0.0.0.0:9090', { host: '0.0.0.0', port: 9090 }],
    ['[::1]:8081', { host: '::1', port: 8081 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['8080', { host: undefined, port: 8080 }],
    [':0', { host: undefined, port: 0 }],
  ])('%s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it('"0" disables', () => {
    expect(parseListenAddress('0')).toBeUndefined();
  });

  it.each(['host', 'host:', ':http', '1.2.3.4:70000'])('refuses %j', (text) => {
    expect(() => parseListenAddress(text)).toThrow(/invalid/);
  });
});

describe('readiness', () => {
  it('reports each check and fails when one fails', () => {
    expect(readinessReport([{ name: 'informer', check: () => undefined }])).toEqual({
      ok: true,
      body: '[+]informer ok\nreadyz check passed\n',
    });
    const failed = readinessReport([
      { name: 'informer', check: () => 'list/watch failing: HTTP 403: forbidden' },
      { name: 'other', check: () => undefined },
    ]);
    expect(failed.ok).toBe(false);
    expect(failed.body).toContain('[-]informer failed: list/watch failing: HTTP 403: forbidden');
  });

  it('serves /healthz, /readyz and /metrics on port 0', async () => {
    let problem: string | undefined = 'cache not synced yet';
    const health = await startHealthServer(
      '127.0.0.1:0',
      [{ name: 'informer', check: () => problem }],
      silent,
    );
    const metrics = new OperatorMetrics({ processMetrics: false });
    const metricsServer = await startMetricsServer('127.0.0.1:0', () => metrics.render(), silent);
    try {
      expect(health?.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const base = `http://${health?.address}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      let ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain('cache not synced yet');
      problem = undefined;
      ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      const scrape = await fetch(`http://${metricsServer?.address}/metrics`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toContain('emr_serverless_operator_managed_keys');
    } finally {
      await health?.close();
      await metricsServer?.close();
    }
  });

  it('does not serve when disabled', async () => {
    expect(await startHealthServer('0', [], silent)).toBeUndefined();
    expect(
      await startMetricsServer('0', async () => ({ contentType: '', body: '' }), silent),
    ).toBeUndefined();
  });
});

describe('OperatorMetrics', () => {
  const value = async (m: OperatorMetrics, name: string, labels: Record<string, string>) => {
    const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
    const sample = metric?.values.find((v) =>
      Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want),
    );
    return sample?.value;
  };

  it('counts managed keys by health, per resource', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setKeyHealth('ns/a', 'Enabled');
    m.setKeyHealth('ns/b', 'Enabled');
    m.setKeyHealth('ns/c', 'KeyDisabled');
    expect(await value(m, 'emr_serverless_operator_managed_keys', { health: 'Enabled' })).toBe(2);
    expect(await value(m, 'emr_serverless_operator_managed_keys', { health: 'Disabled' })).toBe(1);
    m.setKeyHealth('ns/a', 'PendingDeletion');
    m.setKeyHealth('ns/b', undefined);
    m.setKeyHealth('ns/b', undefined);
    expect(await value(m, 'emr_serverless_operator_managed_keys', { health: 'Enabled' })).toBe(0);
    expect(await value(m, 'emr_serverless_operator_managed_keys', { health: 'PendingDeletion' })).toBe(1);
    expect(await value(m, 'emr_serverless_operator_managed_keys', { health: 'NotFound' })).toBe(0);
  });

  it('counts resources by Ready status and reason and by Stalled, per resource', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    const status = (ready: string, reason: string, stalled = false) => ({
      conditions: [
        { type: 'Ready', status: ready, reason },
        { type: 'Stalled', status: stalled ? 'True' : 'False', reason },
      ],
    });
    const series = 'emr_serverless_operator_resources';
    m.setResourceStatus('ns/a', status('True', 'Reconciled'));
    m.setResourceStatus('ns/b', status('True', 'Reconciled'));
    m.setResourceStatus('ns/b', status('True', 'Reconciled'));
    m.setResourceStatus('ns/c', status('False', 'KeyDisabled', true));
    expect(await value(m, series, { ready: 'True', reason: 'Reconciled', stalled: 'false' })).toBe(2);
    expect(await value(m, series, { ready: 'False', reason: 'KeyDisabled', stalled: 'true' })).toBe(1);
    m.setResourceStatus('ns/c', status('True', 'Reconciled'));
    m.setResourceStatus('ns/a', undefined);
    m.setResourceStatus('ns/a', undefined);
    m.setResourceStatus('ns/d', {});
    expect(await value(m, series, { ready: 'True', reason: 'Reconciled', stalled: 'false' })).toBe(2);
    expect(await value(m, series, { ready: 'False', reason: 'KeyDisabled', stalled: 'true' })).toBe(0);
    expect(await value(m, series, { ready: 'Unknown', reason: '', stalled: 'false' })).toBe(1);
  });

  it('records AWS calls, retries and reconcile outcomes under the controller-runtime names', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.registerController('c');
    m.onCall({
      account: '111111111111',
      region: 'eu-west-1',
      namespace: 'team-a',
      service: 'kms',
      operation: 'DescribeKey',
      outcome: 'success',
      seconds: 0.1,
      attempts: 3,
    });
    m.reconciled('c', 'error', 0.5);
    m.reconciled('c', 'success', 0.1);
    const labels = {
      account: '111111111111',
      region: 'eu-west-1',
      service: 'kms',
      operation: 'DescribeKey',
      outcome: 'success',
    };
    expect(await value(m, 'emr_serverless_operator_aws_calls_total', labels)).toBe(1);
    expect(await value(m, 'emr_serverless_operator_aws_retries_total', labels)).toBe(2);
    // Per namespace, one label only: the namespace's share of the budget, not its operations.
    expect(await value(m, 'emr_serverless_operator_namespace_aws_calls_total', { namespace: 'team-a' })).toBe(
      1,
    );
    expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'c', result: 'error' })).toBe(
      1,
    );
    expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'c', result: 'requeue' })).toBe(
      0,
    );
    expect(await value(m, 'controller_runtime_reconcile_errors_total', { controller: 'c' })).toBe(1);
    const text = (await m.render()).body;
    for (const name of [
      'controller_runtime_reconcile_time_seconds',
      'workqueue_depth',
      'workqueue_adds_total',
      'workqueue_queue_duration_seconds',
      'workqueue_work_duration_seconds',
      'workqueue_retries_total',
      'leader_election_master_status',
      'emr_serverless_operator_aws_call_duration_seconds',
    ]) {
      expect(text).toContain(`# HELP ${name}`);
    }
  });
});
