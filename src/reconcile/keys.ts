// Whether a declared KMS key may be sent to AWS, from what DescribeKey said. Shared by every
// kind that carries a disk encryption key.
import type { KeyHealth } from '../api/schema.js';
import type { KeyFacts } from '../aws/port.js';
import type { RecordedEvent } from './ports.js';
import type { KEY_BLOCKING_REASONS, KeyHealthReason } from './reasons.js';

type KeyBlockingReason = (typeof KEY_BLOCKING_REASONS)[number];

export interface KeyCheck {
  health?: KeyHealth & { reason?: KeyHealthReason };
  blocking?: { reason: KeyBlockingReason; message: string };
  warning?: Omit<RecordedEvent, 'type'>;
}

/**
 * Whether the declared key may be sent: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT. `field` is
 * where the key is declared, for the message saying what to fix.
 */
export function keyCheck(
  arn: string | undefined,
  facts: KeyFacts | undefined,
  verifyKeys: boolean,
  field = 'spec.diskEncryptionConfiguration.encryptionKeyArn',
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
      return { health: { verified: true, state: 'Enabled' } };
  }
}
