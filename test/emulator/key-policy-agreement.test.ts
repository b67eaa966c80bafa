// The two key-policy evaluators agree: the operator's check (src/aws/key-policy-check.ts) and the
// local service's IAM judge (src/emulator/iam.ts), written apart on purpose, run over the same
// table of policies (test/fixtures/key-policies/cases.ts). Where the operator decides (allow or
// deny), the local service must decide the same; where the operator answers `unknown`, the local
// service, standing for AWS, decides, and the row only records that it can.
import { describe, expect, it } from 'vitest';
import { evaluate, parsePolicy, type RequestPrincipal } from '../../src/emulator/iam.js';
import { KEY_POLICY_CASES as CASES, type KeyPolicyCase } from '../fixtures/key-policies/cases.js';

/**
 * The local service's answer for a row: the key policy alone (the table is about key policies).
 * A policy it refuses to hold (KMS refuses it at PutKeyPolicy: no statement, a statement without
 * a principal...) grants nothing: deny, which is what the operator answers for an empty policy.
 */
function serviceAnswer(row: KeyPolicyCase): 'allow' | 'deny' {
  let policy: ReturnType<typeof parsePolicy>;
  try {
    policy = parsePolicy(row.policy, 'resource');
  } catch {
    return 'deny';
  }
  const p = row.request.principal;
  const who: RequestPrincipal =
    'Service' in p
      ? { arn: p.Service, service: p.Service }
      : { arn: p.AWS, account: p.account, ...(/:role\//.test(p.AWS) && { roleArn: p.AWS }) };
  const context = Object.fromEntries(
    Object.entries(row.request.context).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const decision = evaluate(
    [policy],
    { action: row.request.action, resource: row.request.resource, context },
    who,
  );
  return decision.decision === 'Allow' ? 'allow' : 'deny';
}

describe('the operator key-policy check and the local service agree', () => {
  const decided = CASES.filter((c) => c.expected !== 'unknown');

  it.each(decided.map((c) => [c.name, c] as const))('%s', (_name, row) => {
    expect(serviceAnswer(row)).toBe(row.expected);
  });

  it('the local service decides every row the operator leaves unknown', () => {
    const unknown = CASES.filter((c) => c.expected === 'unknown');
    expect(unknown.length).toBeGreaterThan(0);
    for (const row of unknown) expect(['allow', 'deny']).toContain(serviceAnswer(row));
  });
});
