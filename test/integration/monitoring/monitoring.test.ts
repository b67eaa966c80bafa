// The chart's alerts and dashboard, checked with the real tools and a real operator:
// - `promtool check rules` and `promtool test rules` (every alert has a test, and the tests fail
//   when a rule's threshold changes, so they are not vacuous);
// - every metric and label a rule or a dashboard panel names exists on a running operator's
//   /metrics (or is one Prometheus adds to every target).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { baseSpec, E2e, manifest, reportFailures } from '../../support/e2e.js';
import { CHART } from '../../support/helm.js';

const RULES = join(CHART, 'files', 'prometheus-rules.yaml');
const DASHBOARD = join(CHART, 'files', 'grafana-dashboard.json');
const RULE_TESTS = new URL('./prometheus-rules.test.yaml', import.meta.url).pathname;

/** Labels Prometheus (with prometheus-operator's ServiceMonitor) puts on every scraped series. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint']);
/** Series Prometheus itself makes for each target. */
const TARGET_SERIES = new Set(['up']);

interface RuleFile {
  groups: Array<{
    rules: Array<{
      alert: string;
      expr: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }>;
  }>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(inject('promtool'), args);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The metric names and label names a PromQL expression refers to. */
function namesIn(expr: string): { metrics: Set<string>; labels: Set<string> } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  const tree = parser.parse(expr);
  const cursor = tree.cursor();
  do {
    if (cursor.name === '⚠') throw new Error(`cannot parse PromQL: ${expr}`);
    if (cursor.name === 'Identifier' && cursor.node.parent?.name === 'VectorSelector') {
      metrics.add(expr.slice(cursor.from, cursor.to));
    }
    if (cursor.name === 'LabelName') labels.add(expr.slice(cursor.from, cursor.to));
  } while (cursor.next());
  return { metrics, labels };
}

/** `{{ $labels.x }}` in alert annotations, `{{x}}` in legends. */
const templateLabels = (text: string): string[] =>
  [...text.matchAll(/\{\{\s*(?:\$labels\.)?([a-zA-Z_]\w*)\s*\}\}/g)].map((m) => m[1]!);

describe('the alert rules with promtool', () => {
  it('are valid rules', async () => {
    const { code, output } = await promtool(['check', 'rules', RULES]);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(code).toBe(0);
  });

  it('pass their unit tests, one test or more per alert', async () => {
    const tested = new Set(
      (
        parse(readFileSync(RULE_TESTS, 'utf8')) as {
          tests: Array<{ alert_rule_test: Array<{ alertname: string }> }>;
        }
      ).tests
        .flatMap((t) => t.alert_rule_test)
        .map((t) => t.alertname),
    );
    expect([...tested].sort()).toEqual(rules.map((r) => r.alert).sort());
    const { code, output } = await promtool(['test', 'rules', RULE_TESTS]);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it('fail their unit tests when a threshold changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rules-'));
    const loosened = readFileSync(RULES, 'utf8').replace('> 0.1', '> 0.5').replace('> 0.05', '> 0.5');
    writeFileSync(join(dir, 'prometheus-rules.yaml'), loosened);
    const tests = readFileSync(RULE_TESTS, 'utf8').replace(
      /^ {2}- .*prometheus-rules\.yaml$/m,
      '  - prometheus-rules.yaml',
    );
    writeFileSync(join(dir, 'tests.yaml'), tests);
    const { code, output } = await promtool(['test', 'rules', join(dir, 'tests.yaml')]);
    expect(code).not.toBe(0);
    expect(output).toMatch(/EmrServerlessOperatorReconcileErrors/);
    expect(output).toMatch(/EmrServerlessOperatorAwsThrottled/);
  });
});

describe('rules and dashboard against a running operator', () => {
  let e2e: E2e;
  /** metric family (histograms under their base name) -> its label names. */
  const exposed = new Map<string, Set<string>>();

  beforeAll(async () => {
    e2e = await E2e.start('monitoring', { operatorArgs: ['--leader-elect'] });
    await e2e.operator.waitForLog('acquired leader lease');
    const key = await e2e.createKey();
    // One throttled answer, which the SDK retries: the retry counter then has a series too.
    await e2e.aws.fault({ operation: 'CreateApplication', status: 429, count: 1 });
    await e2e.apply(
      manifest('watched', baseSpec('watched', { diskEncryptionConfiguration: { encryptionKeyArn: key } })),
    );
    await e2e.waitForReady('watched', 'True', 'Reconciled');
    const text = await e2e.operator.metrics();
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
      if (!match) continue;
      const family = match[1]!.replace(/_(bucket|sum|count)$/, '');
      const names = new Set([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)].map((m) => m[1]!));
      for (const name of [match[1]!, family]) {
        const known = exposed.get(name) ?? new Set<string>();
        for (const label of names) known.add(label);
        exposed.set(name, known);
      }
    }
  });

  afterAll(async () => {
    await e2e?.stop();
  });

  reportFailures(() => e2e);

  /** Unknown metrics and labels of one expression (plus the labels its templates name). */
  function unknownNames(expr: string, templated: string[] = []): string[] {
    const { metrics, labels } = namesIn(expr);
    const problems: string[] = [];
    const available = new Set(TARGET_LABELS);
    for (const metric of metrics) {
      if (TARGET_SERIES.has(metric)) continue;
      const known = exposed.get(metric);
      if (!known) problems.push(`metric ${metric}`);
      else for (const label of known) available.add(label);
    }
    if (metrics.has('up')) available.add('up');
    for (const label of [...labels, ...templated]) {
      if (!available.has(label)) problems.push(`label ${label}`);
    }
    return problems;
  }

  it('the scrape has the series the rules and panels are about', () => {
    for (const metric of [
      'controller_runtime_reconcile_total',
      'leader_election_master_status',
      'emr_serverless_operator_managed_keys',
      'emr_serverless_operator_resources',
      'emr_serverless_operator_aws_calls_total',
      'workqueue_depth',
    ]) {
      expect(exposed.has(metric), metric).toBe(true);
    }
  });

  it.each(rules.map((r) => [r.alert, r] as const))(
    'alert %s names only metrics and labels that exist',
    (_name, rule) => {
      const templated = Object.values(rule.annotations ?? {}).flatMap(templateLabels);
      expect(unknownNames(rule.expr, templated)).toEqual([]);
    },
  );

  it('every dashboard panel and variable names only metrics and labels that exist', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string; legendFormat?: string }> }>;
      templating: { list: Array<{ name: string; query?: { query: string } | string }> };
    };
    const problems: string[] = [];
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        // Grafana's variables and interval macros are not PromQL: give them values first.
        const expr = target.expr.replaceAll('$__rate_interval', '5m').replace(/"\$\w+"/g, '".*"');
        for (const p of unknownNames(expr, templateLabels(target.legendFormat ?? '')))
          problems.push(`${panel.title}: ${p}`);
      }
    }
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      const labelValues = query && /^label_values\((.*),\s*(\w+)\)$/.exec(query);
      if (!labelValues) continue;
      const expr = labelValues[1]!.replace(/"\$\w+"/g, '".*"');
      for (const p of unknownNames(expr, [labelValues[2]!])) problems.push(`variable ${variable.name}: ${p}`);
    }
    expect(problems).toEqual([]);
  });

  it('a misspelt metric or label would be caught', () => {
    expect(unknownNames('sum by (controler) (controller_runtime_reconcile_totl)')).toEqual([
      'metric controller_runtime_reconcile_totl',
      'label controler',
    ]);
    expect(
      unknownNames('sum by (region) (rate(emr_serverless_operator_aws_calls_total{outcom="x"}[5m]))'),
    ).toEqual(['label outcom']);
  });
});
