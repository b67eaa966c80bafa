// Every manifest in examples/ is an EmrServerlessApplication or EmrServerlessJobRun whose spec
// passes the API schema.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, JOB_RUN_KIND, KIND } from '../../src/api/constants.js';
import { JobRunSpec } from '../../src/api/jobrun-schema.js';
import { Spec } from '../../src/api/schema.js';

const SPECS = { [KIND]: Spec, [JOB_RUN_KIND]: JobRunSpec } as const;

const dir = new URL('../../examples/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('examples/', () => {
  it('holds manifests', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files)('%s: every document is a valid EmrServerlessApplication or EmrServerlessJobRun', (file) => {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown>,
    );
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      expect(doc.apiVersion).toBe(API_VERSION);
      expect(Object.keys(SPECS)).toContain(doc.kind);
      expect((doc.metadata as { name?: string }).name).toMatch(/^[a-z0-9-]+$/);
      const parsed = SPECS[doc.kind as keyof typeof SPECS].safeParse(doc.spec);
      expect(parsed.success, parsed.error?.message).toBe(true);
    }
  });
});
