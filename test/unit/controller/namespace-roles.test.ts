// Which namespace changes re-check the namespace's resources: only the three mapping annotations.
import { describe, expect, it } from 'vitest';
import { mappingChanged } from '../../../src/controller/namespace-roles.js';

const ns = (annotations?: Record<string, string>) => ({
  metadata: { name: 'team-a', ...(annotations && { annotations }) },
});
const ROLE = 'emrserverless.operator.dev/role-arn';

describe('mappingChanged', () => {
  it.each([
    ['role added', ns(), ns({ [ROLE]: 'arn:aws:iam::111111111111:role/x' }), true],
    ['role removed', ns({ [ROLE]: 'arn:aws:iam::111111111111:role/x' }), ns(), true],
    [
      'role changed',
      ns({ [ROLE]: 'arn:aws:iam::111111111111:role/x' }),
      ns({ [ROLE]: 'arn:aws:iam::222222222222:role/x' }),
      true,
    ],
    ['external id changed', ns({ 'emrserverless.operator.dev/external-id': 'a1' }), ns(), true],
    ['region changed', ns(), ns({ 'emrserverless.operator.dev/region': 'us-east-1' }), true],
    ['namespace deleted with a role', ns({ [ROLE]: 'arn:aws:iam::111111111111:role/x' }), undefined, true],
    ['another annotation', ns({ owner: 'a' }), ns({ owner: 'b' }), false],
    ['a label or status change', ns({ [ROLE]: 'r' }), ns({ [ROLE]: 'r' }), false],
  ])('%s', (_what, before, after, changed) => {
    expect(mappingChanged(before, after)).toBe(changed);
  });
});
