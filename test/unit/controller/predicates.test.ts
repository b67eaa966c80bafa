import { describe, expect, it } from 'vitest';
import {
  type UpdateTrigger,
  updateNeedsReconcile,
  updateTrigger,
} from '../../../src/controller/predicates.js';

interface Obj {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: unknown;
  status: unknown;
}

const base: Obj = {
  metadata: {
    name: 'a',
    namespace: 'ns',
    uid: 'u',
    generation: 3,
    resourceVersion: '10',
    finalizers: ['emrserverless.operator.dev/finalizer'],
    labels: { team: 'data' },
    annotations: { note: 'x' },
  },
  spec: { name: 'a' },
  status: { state: 'CREATED', observedGeneration: 3 },
};

const withMeta = (patch: Partial<Obj['metadata']> & Record<string, unknown>): Obj => ({
  ...base,
  metadata: { ...base.metadata, resourceVersion: '11', ...patch },
});

describe('updateNeedsReconcile (GenerationChangedPredicate and friends)', () => {
  it('ignores status-only updates (resourceVersion moves, generation does not)', () => {
    const next = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: '11' },
      status: { state: 'STARTED', observedGeneration: 3 },
    };
    expect(updateNeedsReconcile(base, next)).toBe(false);
  });

  it('ignores a resync that delivers the same object', () => {
    expect(updateNeedsReconcile(base, base)).toBe(false);
  });

  it('reacts to a spec change (generation)', () => {
    expect(updateNeedsReconcile(base, withMeta({ generation: 4 }))).toBe(true);
  });

  it('reacts to deletion', () => {
    expect(updateNeedsReconcile(base, withMeta({ deletionTimestamp: '2026-01-01T00:00:00Z' }))).toBe(true);
  });

  it('reacts to finalizer changes, including order and removal', () => {
    expect(updateNeedsReconcile(base, withMeta({ finalizers: [] }))).toBe(true);
    expect(updateNeedsReconcile(base, withMeta({ finalizers: undefined }))).toBe(true);
    expect(
      updateNeedsReconcile(base, withMeta({ finalizers: ['other', 'emrserverless.operator.dev/finalizer'] })),
    ).toBe(true);
  });

  it("ignores the operator's own finalizer being appended (its own mid-reconcile write), nothing else", () => {
    const own = 'emrserverless.operator.dev/finalizer';
    const before = withMeta({ finalizers: undefined });
    expect(updateNeedsReconcile(before, withMeta({ finalizers: [own] }))).toBe(false);
    expect(
      updateNeedsReconcile(withMeta({ finalizers: ['other'] }), withMeta({ finalizers: ['other', own] })),
    ).toBe(false);
    // Someone else's finalizer, ours removed, or ours added together with another change still count.
    expect(updateNeedsReconcile(before, withMeta({ finalizers: ['other'] }))).toBe(true);
    expect(updateNeedsReconcile(withMeta({ finalizers: [own] }), before)).toBe(true);
    expect(updateNeedsReconcile(before, withMeta({ finalizers: [own, 'other'] }))).toBe(true);
    expect(updateNeedsReconcile(before, withMeta({ finalizers: [own], generation: 4 }))).toBe(true);
  });

  it('reacts to label and annotation changes', () => {
    expect(updateNeedsReconcile(base, withMeta({ labels: { team: 'ml' } }))).toBe(true);
    expect(updateNeedsReconcile(base, withMeta({ labels: { team: 'data', extra: '' } }))).toBe(true);
    expect(updateNeedsReconcile(base, withMeta({ annotations: {} }))).toBe(true);
    expect(updateNeedsReconcile(base, withMeta({ annotations: { note: 'y' } }))).toBe(true);
  });

  it('treats absent and empty maps and lists alike', () => {
    const a = { metadata: { ...base.metadata, labels: undefined, annotations: {}, finalizers: undefined } };
    const b = { metadata: { ...base.metadata, labels: {}, annotations: undefined, finalizers: [] } };
    expect(updateNeedsReconcile(a, b)).toBe(false);
  });
});

describe('updateTrigger: how an update is queued', () => {
  it.each<[string, Partial<Obj['metadata']>, UpdateTrigger]>([
    ['a status write', { resourceVersion: '11' }, 'none'],
    ['a new generation', { generation: 4 }, 'spec'],
    ['a deletion', { deletionTimestamp: '2026-12-07T00:00:00Z' }, 'now'],
    ['another finalizer', { finalizers: ['emrserverless.operator.dev/finalizer', 'other'] }, 'now'],
    ['a label edit', { labels: { team: 'data', poke: '1' } }, 'afterBackoff'],
    ['an annotation edit', { annotations: { note: 'y' } }, 'afterBackoff'],
    ['a label and a spec change', { generation: 4, labels: {} }, 'spec'],
  ])('%s -> %s', (_what, patch, trigger) => {
    expect(updateTrigger(base, withMeta(patch))).toBe(trigger);
  });
});
