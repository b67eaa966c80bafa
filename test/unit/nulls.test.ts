import { describe, expect, it } from 'vitest';
import {
  LAST_APPLIED_ANNOTATION,
  lastAppliedHoldsNull,
  nullFields,
  nullValueMessage,
} from '../../src/api/nulls.js';

const object = (spec: unknown, lastApplied?: unknown) => {
  const annotations: Record<string, string> = {};
  if (lastApplied !== undefined)
    annotations[LAST_APPLIED_ANNOTATION] =
      typeof lastApplied === 'string' ? lastApplied : JSON.stringify(lastApplied);
  return { metadata: { annotations }, spec };
};

describe('nullFields', () => {
  it('finds stored nulls at any depth, in maps and lists, and names them', () => {
    const found = nullFields(
      object({
        a: null,
        b: { c: null, 'd.e': null },
        list: ['x', null],
        fine: { n: 0, s: '', f: false, m: {} },
      }),
      ['spec'],
    );
    expect(found).toEqual([
      { path: 'spec.a', source: 'stored' },
      { path: 'spec.b.c', source: 'stored' },
      { path: 'spec.b["d.e"]', source: 'stored' },
      { path: 'spec.list[1]', source: 'stored' },
    ]);
  });

  it('counts a last-applied null only where the live object lacks the field', () => {
    const found = nullFields(
      object(
        { removed: {}, kept: 'edited since', ctx: { a: 'b' } },
        { spec: { removed: { key: null }, kept: null, ctx: { a: 'b', gone: null }, top: null } },
      ),
      ['spec'],
    );
    expect(found).toEqual([
      { path: 'spec.removed.key', source: 'lastApplied' },
      { path: 'spec.ctx.gone', source: 'lastApplied' },
      { path: 'spec.top', source: 'lastApplied' },
    ]);
  });

  it('reports a null that is both stored and in the last-applied configuration once', () => {
    expect(nullFields(object({ a: null }, { spec: { a: null } }), ['spec'])).toEqual([
      { path: 'spec.a', source: 'stored' },
    ]);
  });

  it('looks only under the given roots, and ignores an annotation that is not JSON', () => {
    expect(
      nullFields(object({ a: 1 }, { metadata: { labels: { x: null } }, spec: { a: 1 } }), ['spec']),
    ).toEqual([]);
    expect(nullFields(object({}, '{not json'), ['spec'])).toEqual([]);
    expect(nullFields(object({}, 'null'), ['spec'])).toEqual([]);
  });

  it('agrees with the admission policy: text inside a string is no null, a null in an applied status is nobody’s', () => {
    const applied = (spec: unknown, status?: unknown) =>
      object({}, { apiVersion: 'v1', kind: 'K', metadata: { name: 'a' }, spec, status });
    for (const spec of [
      { sparkSubmitParameters: ':null,' },
      { tags: { team: ':null}' } },
      { subnetIds: ['a', ':null,'] },
    ]) {
      expect(nullFields(applied(spec), ['spec'])).toEqual([]);
      expect(lastAppliedHoldsNull(applied(spec), ['spec'])).toBe(false);
    }
    const withStatus = applied({ name: 'a' }, { applicationId: null });
    expect(nullFields(withStatus, ['spec'])).toEqual([]);
    expect(lastAppliedHoldsNull(withStatus, ['spec'])).toBe(false);
    const both = applied({ tags: { team: null } }, { applicationId: null });
    expect(nullFields(both, ['spec'])).toEqual([{ path: 'spec.tags.team', source: 'lastApplied' }]);
    expect(lastAppliedHoldsNull(both, ['spec'])).toBe(true);
  });
});

describe('nullValueMessage', () => {
  it('names every field, says where it was seen and what to do, and adds `also`', () => {
    const message = nullValueMessage(
      [
        { path: 'spec.x', source: 'stored' },
        { path: 'spec.y', source: 'lastApplied' },
        { path: 'spec.z', source: 'lastApplied' },
      ],
      'Also this.',
    );
    expect(message).toBe(
      'spec.x is null; spec.y, spec.z were null in the last applied configuration (kubectl apply removed them from the object): ' +
        'a template value that did not render? Nothing was sent to AWS. ' +
        'A null is not taken for an empty value or a removed field: give the field a value or delete the line. Also this.',
    );
  });

  it('says how to ask for the AWS-owned key when the null is in a disk encryption configuration', () => {
    const message = nullValueMessage([
      { path: 'spec.diskEncryptionConfiguration.encryptionKeyArn', source: 'stored' },
    ]);
    expect(message).toContain('To use the AWS-owned key, write diskEncryptionConfiguration: {}.');
  });
});
