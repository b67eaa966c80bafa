import { describe, expect, it } from 'vitest';
import { LAST_APPLIED_ANNOTATION, nullFields } from '../../../src/api/nulls.js';
import { pruneForCache, SharedStrings } from '../../../src/controller/cache-pruning.js';
import { updateNeedsReconcile } from '../../../src/controller/predicates.js';

interface Obj {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    managedFields?: unknown[];
  };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/k';

function received(annotations?: Record<string, string>): Obj {
  return {
    metadata: {
      name: 'a',
      namespace: 'ns',
      uid: 'u',
      generation: 2,
      resourceVersion: '10',
      finalizers: ['emrserverless.operator.dev/finalizer'],
      ...(annotations && { annotations }),
      managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }],
    },
    spec: { name: 'a', diskEncryptionConfiguration: { encryptionKeyArn: KEY } },
    status: { applicationId: '00f1', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const applied = (spec: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'emrserverless.operator.dev/v1alpha1', metadata: { name: 'a' }, spec });

describe('pruneForCache', () => {
  it('drops managed fields and keeps everything a reader or a write needs', () => {
    const obj = pruneForCache(received({ team: 'data' }));
    expect(obj.metadata).toEqual({
      name: 'a',
      namespace: 'ns',
      uid: 'u',
      generation: 2,
      resourceVersion: '10',
      finalizers: ['emrserverless.operator.dev/finalizer'],
      annotations: { team: 'data' },
    });
    expect(obj.spec).toEqual(received().spec);
    expect(obj.status).toEqual(received().status);
  });

  it("drops kubectl's last-applied configuration when it holds no null, and an emptied map", () => {
    const obj = pruneForCache(
      received({
        [LAST_APPLIED_ANNOTATION]: applied({ diskEncryptionConfiguration: { encryptionKeyArn: KEY } }),
      }),
    );
    expect(obj.metadata.annotations).toBeUndefined();
    const withOther = pruneForCache(received({ [LAST_APPLIED_ANNOTATION]: applied({}), team: 'data' }));
    expect(withOther.metadata.annotations).toEqual({ team: 'data' });
  });

  it('drops a last-applied configuration that is not JSON (the planner ignores it too)', () => {
    const obj = pruneForCache(received({ [LAST_APPLIED_ANNOTATION]: 'not json' }));
    expect(obj.metadata.annotations).toBeUndefined();
  });

  it('keeps a last-applied configuration that holds a null: the planner still finds it', () => {
    const text = applied({ diskEncryptionConfiguration: { encryptionKeyArn: null } });
    const obj = received({ [LAST_APPLIED_ANNOTATION]: text });
    delete (obj.spec.diskEncryptionConfiguration as Record<string, unknown>).encryptionKeyArn;
    const pruned = pruneForCache(obj);
    expect(pruned.metadata.annotations).toEqual({ [LAST_APPLIED_ANNOTATION]: text });
    expect(nullFields(pruned, ['spec'])).toEqual([
      { path: 'spec.diskEncryptionConfiguration.encryptionKeyArn', source: 'lastApplied' },
    ]);
  });

  it('drops a last-applied configuration whose only null is outside spec (an applied status)', () => {
    const text = JSON.stringify({
      metadata: { name: 'a' },
      spec: { name: 'a' },
      status: { applicationId: null },
    });
    const obj = pruneForCache(received({ [LAST_APPLIED_ANNOTATION]: text }));
    expect(obj.metadata.annotations).toBeUndefined();
  });

  it('still reconciles when a null appears in or leaves the last-applied configuration', () => {
    const clean = () =>
      pruneForCache(received({ [LAST_APPLIED_ANNOTATION]: applied({ releaseLabel: 'emr-7.5.0' }) }));
    const withNull = () =>
      pruneForCache(received({ [LAST_APPLIED_ANNOTATION]: applied({ releaseLabel: null }) }));
    expect(updateNeedsReconcile(clean(), withNull())).toBe(true);
    expect(updateNeedsReconcile(withNull(), clean())).toBe(true);
    // Two null-free configurations tell the planner nothing: no reconcile for that alone.
    const other = pruneForCache(
      received({ [LAST_APPLIED_ANNOTATION]: applied({ releaseLabel: 'emr-7.6.0' }) }),
    );
    expect(updateNeedsReconcile(clean(), other)).toBe(false);
  });
});

describe('SharedStrings', () => {
  it('gives every object one copy of its namespace and finalizer names, and changes no value', () => {
    const strings = new SharedStrings();
    const [a, b] = [0, 1].map(
      () =>
        JSON.parse('{"metadata":{"name":"x","namespace":"team-a","finalizers":["f/one","f/two"]}}') as Obj,
    ) as [Obj, Obj];
    expect(strings.shareMetadata(a)).toBe(a);
    strings.shareMetadata(b);
    expect(b.metadata).toEqual({ name: 'x', namespace: 'team-a', finalizers: ['f/one', 'f/two'] });
    const pool = (strings as unknown as { pool: Map<string, string> }).pool;
    expect([...pool.keys()]).toEqual(['team-a', 'f/one', 'f/two']);
  });

  it('stops adding past its bound, and still returns each value', () => {
    const strings = new SharedStrings(2);
    expect(['a', 'b', 'c', 'c'].map((s) => strings.share(s))).toEqual(['a', 'b', 'c', 'c']);
    const pool = (strings as unknown as { pool: Map<string, string> }).pool;
    expect(pool.size).toBe(2);
  });
});
