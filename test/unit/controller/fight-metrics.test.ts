// The undone-corrections counter: one per field of each correction another writer undid, by
// kind; no resource names in its labels.
import { describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../../src/controller/metrics.js';

describe('emr_serverless_operator_undone_corrections_total', () => {
  it('counts each undone correction once per field, by kind', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.correctionUndone('EmrServerlessApplication', ['diskEncryptionConfiguration']);
    metrics.correctionUndone('EmrServerlessApplication', ['diskEncryptionConfiguration', 'maximumCapacity']);
    const metric = await metrics.registry
      .getSingleMetric('emr_serverless_operator_undone_corrections_total')!
      .get();
    expect(
      Object.fromEntries(metric.values.map((v) => [`${v.labels.kind} ${v.labels.field}`, v.value])),
    ).toEqual({
      'EmrServerlessApplication diskEncryptionConfiguration': 2,
      'EmrServerlessApplication maximumCapacity': 1,
    });
    expect(Object.keys(metric.values[0]!.labels).sort()).toEqual(['field', 'kind']);
  });
});
