// Whether a declared KMS key may be sent to AWS, from what DescribeKey said. Shared by every
// kind that carries a disk encryption key.
import type { KeyHealth } from '../api/schema.js';
import type { KeyPolicyVerdict } from '../aws/key-policy-check.js';
import type { KeyFacts, KeyPolicyFacts } from '../aws/port.js';
import type { RecordedEvent } from './ports.js';
import type { KEY_BLOCKING_REASONS, KeyHealthReason } from './reasons.js';

type KeyBlockingReason = (typeof KEY_BLOCKING_REASONS)[number];

export interface KeyCheck {
  health?: KeyHealth & { reason?: KeyHealthReason };
  blocking?: { reason: KeyBlockingReason; message: string };
  warning?: Omit<RecordedEvent, 'type'>;
}

/** The key policy as read, and how to judge it for this resource (pure: key-policy-check.ts). */
export interface KeyPolicyInput {
  facts: KeyPolicyFacts;
  verdict: (policy: string) => KeyPolicyVerdict;
}

/**
 * Whether the key policy is worth reading: DescribeKey found the key and nothing about it blocks
 * already (a disabled or asymmetric key is refused without it, one call fewer).
 */
export function keyPolicyToRead(arn: string, facts: KeyFacts | undefined): boolean {
  return facts?.kind === 'found' && keyCheck(arn, facts, true).blocking === undefined;
}

/** Whether a warning about the key is news: its reason or its policy verdict moved. */
export function keyHealthChanged(previous: KeyHealth | undefined, next: KeyHealth | undefined): boolean {
  return previous?.reason !== next?.reason || previous?.policy?.verdict !== next?.policy?.verdict;
}

/**
 * Whether the declared key may be sent: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, and, when
 * its key policy was read, a policy that lets EMR Serverless use it. `field` is where the key is
 * declared, for the message saying what to fix.
 */
export function keyCheck(
  arn: string | undefined,
  facts: KeyFacts | undefined,
  verifyKeys: boolean,
  field = 'spec.diskEncryptionConfiguration.encryptionKeyArn',
  policy?: KeyPolicyInput,
): KeyCheck {
  if (!arn) return {};
  if (!verifyKeys) return { health: { verified: false, reason: 'VerificationDisabled' } };
  if (!facts) return { health: { verified: false, reason: 'NotChecked' } };
  const fix = `Fix the key or point ${field} at another key; nothing is sent to AWS until then.`;
  const blocked = (reason: KeyBlockingReason, message: string, state?: string): KeyCheck => ({
    health: { verified: false, reason, ...(state ? { state } : {}) },
    blocking: { reason, message: `${message} ${fix}` },
  });
  switch (facts.kind) {
    case 'notFound':
      return blocked('KeyNotFound', `KMS key ${arn} does not exist or is not visible to the operator.`);
    case 'accessDenied':
      return {
        health: { verified: false, reason: 'AccessDenied' },
        warning: {
          reason: 'KeyUnverified',
          action: 'DescribeKey',
          message: `DescribeKey on ${arn} was denied (common for keys in other accounts), so the key is used unverified. Grant kms:DescribeKey to the operator's role in the key policy to verify it.`,
        },
      };
    case 'found':
      if (facts.keySpec !== 'SYMMETRIC_DEFAULT') {
        return blocked(
          'KeyNotSymmetric',
          `KMS key ${arn} is ${facts.keySpec}; disk encryption needs a symmetric key (SYMMETRIC_DEFAULT).`,
          facts.keyState,
        );
      }
      if (facts.keyUsage !== 'ENCRYPT_DECRYPT') {
        return blocked(
          'KeyUsageInvalid',
          `KMS key ${arn} is for ${facts.keyUsage}; disk encryption needs ENCRYPT_DECRYPT.`,
          facts.keyState,
        );
      }
      if (facts.keyState === 'PendingDeletion' || facts.keyState === 'PendingReplicaDeletion') {
        return blocked(
          'KeyPendingDeletion',
          `KMS key ${arn} is pending deletion: cancel the deletion and enable it, or workers cannot start.`,
          facts.keyState,
        );
      }
      if (facts.keyState !== 'Enabled') {
        return blocked(
          'KeyDisabled',
          `KMS key ${arn} is ${facts.keyState}, not Enabled: workers cannot start with it.`,
          facts.keyState,
        );
      }
      return policy ? policyCheck(arn, policy, fix) : { health: { verified: true, state: 'Enabled' } };
  }
}

/** An Enabled, symmetric key: what its key policy says. Denies blocks; the rest proceeds. */
function policyCheck(arn: string, input: KeyPolicyInput, fix: string): KeyCheck {
  const enabled = { verified: true, state: 'Enabled' } as const;
  const unverified = (verdict: 'Unknown' | 'NotReadable', message: string): KeyCheck => ({
    health: { ...enabled, policy: { verdict, message } },
    warning: {
      reason: 'KeyPolicyUnverified',
      action: 'GetKeyPolicy',
      message: `${message} The key is used without this check.`,
    },
  });
  const { facts } = input;
  if (facts.kind === 'accessDenied') {
    return unverified(
      'NotReadable',
      `GetKeyPolicy on ${arn} was denied, so the operator cannot tell whether EMR Serverless may use the key. Grant the operator's role kms:GetKeyPolicy (in the key policy for a key in another account: key-policy --operator-role-arn prints it).`,
    );
  }
  if (facts.kind !== 'found') {
    return unverified('NotReadable', `GetKeyPolicy on ${arn} failed (${facts.message}).`);
  }
  const verdict = input.verdict(facts.policy);
  switch (verdict.verdict) {
    case 'allows':
      return { health: { ...enabled, policy: { verdict: 'Allows' } } };
    case 'unknown':
      return unverified('Unknown', verdict.reason);
    case 'denies':
      return {
        health: {
          verified: false,
          reason: 'KeyPolicyDenied',
          state: 'Enabled',
          policy: { verdict: 'Denies', message: verdict.message },
        },
        blocking: { reason: 'KeyPolicyDenied', message: `${verdict.message} ${fix}` },
      };
  }
}
