// The policy rules as the operator evaluates them (admission evaluates the same table as CEL:
// test/e2e/policies.test.ts runs both over one table of cases on the real API server).
import { describe, expect, it } from 'vitest';
import { APPLICATION_PLURAL, JOB_RUN_PLURAL } from '../../src/api/constants.js';
import {
  inheritedKeyViolations,
  matchesPattern,
  policyViolations,
  selectorMatches,
  selectsNamespace,
} from '../../src/api/policy-rules.js';
import { PolicySpec } from '../../src/api/policy-schema.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const policy = (name: string, spec: Record<string, unknown>) => ({
  name,
  spec: PolicySpec.parse({ namespaces: ['team-a'], ...spec }),
});

describe('patterns', () => {
  it.each([
    ['arn:aws:kms:*:111122223333:key/*', KEY, true],
    ['arn:aws:kms:*:111122223333:key/*', KEY.replace('111122223333', '444455556666'), false],
    [KEY, KEY, true],
    [KEY, `${KEY}0`, false],
    [KEY, `x${KEY}`, false],
    ['s3://logs.team-a/*', 's3://logsXteam-a/x', false],
    ['s3://logs.team-a/*', 's3://logs.team-a/x', true],
    ['https://x/write?a=*', 'https://x/write?a=1', true],
    ['https://x/write?a=*', 'https://x/writ?a=1', false],
    ['role/(a|b)', 'role/a', false],
    ['role/(a|b)', 'role/(a|b)', true],
    ['a+b', 'aab', false],
    ['*', '', true],
    ['a\\b', 'a\\b', true],
  ])('%s ~ %s: %s', (pattern, value, expected) => {
    expect(matchesPattern(value, pattern)).toBe(expected);
  });
});

describe('namespace selection', () => {
  it.each([
    [{}, {}, true],
    [{ matchLabels: { tier: 'gold' } }, { tier: 'gold' }, true],
    [{ matchLabels: { tier: 'gold' } }, { tier: 'silver' }, false],
    [{ matchLabels: { tier: 'gold' } }, {}, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }, { tier: 'gold' }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }, {}, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, { tier: 'gold' }, false],
    [{ matchExpressions: [{ key: 'pci', operator: 'Exists' }] }, { pci: '' }, true],
    [{ matchExpressions: [{ key: 'pci', operator: 'DoesNotExist' }] }, { pci: '' }, false],
  ] as const)('%j on %j: %s', (selector, labels, expected) => {
    expect(selectorMatches(selector as never, labels)).toBe(expected);
  });

  it('by name or by selector; a policy must say which', () => {
    const byName = PolicySpec.parse({ namespaces: ['a'] });
    expect(selectsNamespace(byName, { name: 'a' })).toBe(true);
    expect(selectsNamespace(byName, { name: 'b' })).toBe(false);
    const both = PolicySpec.parse({ namespaces: ['a'], namespaceSelector: { matchLabels: { t: 'x' } } });
    expect(selectsNamespace(both, { name: 'b', labels: { t: 'x' } })).toBe(true);
    expect(PolicySpec.safeParse({ encryption: { requireCustomerManagedKey: true } }).success).toBe(false);
  });
});

describe('violations', () => {
  const cmk = policy('cmk', { encryption: { requireCustomerManagedKey: true } });
  const keys = policy('keys', { encryption: { allowedKeyArns: ['arn:aws:kms:*:111122223333:key/*'] } });
  const roles = policy('roles', {
    jobRuns: { allowedExecutionRoleArns: ['arn:aws:iam::111122223333:role/team-a-*'] },
  });
  const noOverride = policy('no-override', { encryption: { jobRunKeyOverride: 'Forbidden' } });

  it('a customer-managed key required: {} and an absent field refused, a key allowed', () => {
    expect(policyViolations(APPLICATION_PLURAL, { diskEncryptionConfiguration: {} }, [cmk])).toEqual([
      {
        policy: 'cmk',
        field: 'spec.diskEncryptionConfiguration.encryptionKeyArn',
        message:
          'EmrServerlessPolicy cmk requires a customer-managed key: set spec.diskEncryptionConfiguration.encryptionKeyArn ({} and an absent field are refused)',
      },
    ]);
    expect(policyViolations(APPLICATION_PLURAL, {}, [cmk])).toHaveLength(1);
    expect(
      policyViolations(APPLICATION_PLURAL, { diskEncryptionConfiguration: { encryptionKeyArn: KEY } }, [cmk]),
    ).toEqual([]);
  });

  it('every policy applies, each violation names its policy', () => {
    const other = KEY.replace('111122223333', '444455556666');
    const found = policyViolations(
      APPLICATION_PLURAL,
      { diskEncryptionConfiguration: { encryptionKeyArn: other } },
      [cmk, keys],
    );
    expect(found.map((v) => v.policy)).toEqual(['keys']);
    expect(found[0]!.message).toBe(
      `EmrServerlessPolicy keys refuses spec.diskEncryptionConfiguration.encryptionKeyArn ${other}: not among its allowed KMS keys (arn:aws:kms:*:111122223333:key/*)`,
    );
    expect(policyViolations(APPLICATION_PLURAL, {}, [cmk, keys]).map((v) => v.policy)).toEqual(['cmk']);
  });

  it("job runs: another team's role, a forbidden override, a job-level {} where a key is required", () => {
    const spec = { executionRoleArn: 'arn:aws:iam::111122223333:role/team-b-data' };
    expect(policyViolations(JOB_RUN_PLURAL, spec, [roles]).map((v) => v.field)).toEqual([
      'spec.executionRoleArn',
    ]);
    const withKey = { configurationOverrides: { diskEncryptionConfiguration: { encryptionKeyArn: KEY } } };
    expect(policyViolations(JOB_RUN_PLURAL, withKey, [noOverride]).map((v) => v.field)).toEqual([
      'spec.configurationOverrides.diskEncryptionConfiguration',
    ]);
    const awsOwned = { configurationOverrides: { diskEncryptionConfiguration: {} } };
    expect(policyViolations(JOB_RUN_PLURAL, awsOwned, [cmk])).toHaveLength(1);
    expect(policyViolations(JOB_RUN_PLURAL, {}, [cmk, noOverride])).toEqual([]);
  });

  it('the rules of one kind never judge the other', () => {
    expect(
      policyViolations(JOB_RUN_PLURAL, {}, [policy('net', { network: { allowedSubnetIds: [] } })]),
    ).toEqual([]);
    expect(policyViolations(APPLICATION_PLURAL, { executionRoleArn: 'x' }, [roles])).toEqual([]);
  });

  it("a job run's inherited application key is judged like the application's", () => {
    expect(inheritedKeyViolations(undefined, [cmk])[0]!.message).toMatch(
      /^the application's key \(the AWS-owned key\) is refused: EmrServerlessPolicy cmk requires/,
    );
    expect(inheritedKeyViolations(KEY, [cmk, keys])).toEqual([]);
    expect(inheritedKeyViolations(KEY.replace('111122223333', '444455556666'), [keys])).toHaveLength(1);
  });
});
