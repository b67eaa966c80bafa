// The policy_violations gauge counts resources, not reconciles: set per resource, cleared when
// the resource is allowed again or gone.
import { describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../../src/controller/metrics.js';

async function violations(metrics: OperatorMetrics): Promise<Record<string, number>> {
  const metric = await metrics.registry.getSingleMetric('emr_serverless_operator_policy_violations')!.get();
  return Object.fromEntries(metric.values.map((v) => [`${v.labels.policy} ${v.labels.kind}`, v.value]));
}

describe('emr_serverless_operator_policy_violations', () => {
  it('counts each refused resource once per refusing policy, by kind', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.setPolicyViolations('EmrServerlessApplication', 'data/a', ['cmk', 'finance']);
    metrics.setPolicyViolations('EmrServerlessApplication', 'data/a', ['cmk', 'finance']);
    metrics.setPolicyViolations('EmrServerlessApplication', 'data/b', ['cmk']);
    metrics.setPolicyViolations('EmrServerlessJobRun', 'data/a', ['roles']);
    expect(await violations(metrics)).toEqual({
      'cmk EmrServerlessApplication': 2,
      'finance EmrServerlessApplication': 1,
      'roles EmrServerlessJobRun': 1,
    });

    // Fixed, then another policy refuses it, then gone.
    metrics.setPolicyViolations('EmrServerlessApplication', 'data/a', []);
    metrics.setPolicyViolations('EmrServerlessApplication', 'data/b', ['finance']);
    metrics.setPolicyViolations('EmrServerlessJobRun', 'data/a', []);
    expect(await violations(metrics)).toEqual({
      'cmk EmrServerlessApplication': 0,
      'finance EmrServerlessApplication': 1,
      'roles EmrServerlessJobRun': 0,
    });
  });
});
