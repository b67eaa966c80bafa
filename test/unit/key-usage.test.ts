// key-usage's reading of CloudTrail records: only events whose encryption context names the
// application count, per key, with the first and last use; --since takes days or Go durations.
import { describe, expect, it } from 'vitest';
import { type KeyEvent, keyEventOf, keyUsageOf, parseSince } from '../../src/cli/key-usage.js';

const KEY_A = 'arn:aws:kms:eu-west-1:123456789012:key/a';
const KEY_B = 'arn:aws:kms:eu-west-1:123456789012:key/b';
const event = (name: string, at: string, keyArn: string, applicationId?: string): KeyEvent => ({
  name,
  time: new Date(at),
  keyArn,
  encryptionContext: applicationId ? { applicationId, team: 'data' } : {},
});

describe('keyUsageOf', () => {
  it('counts per key the calls made for this application only, newest key first', () => {
    const usage = keyUsageOf(
      [
        event('GenerateDataKey', '2026-12-01T10:00:00Z', KEY_A, 'app1'),
        event('Decrypt', '2026-12-01T10:00:01Z', KEY_A, 'app1'),
        event('GenerateDataKey', '2026-12-03T09:00:00Z', KEY_B, 'app1'),
        event('GenerateDataKey', '2026-12-04T09:00:00Z', KEY_B, 'app2'),
        event('Decrypt', '2026-12-04T09:00:00Z', KEY_B),
      ],
      'app1',
    );
    expect(usage).toEqual([
      {
        keyArn: KEY_B,
        firstUsed: '2026-12-03T09:00:00.000Z',
        lastUsed: '2026-12-03T09:00:00.000Z',
        generateDataKey: 1,
        decrypt: 0,
      },
      {
        keyArn: KEY_A,
        firstUsed: '2026-12-01T10:00:00.000Z',
        lastUsed: '2026-12-01T10:00:01.000Z',
        generateDataKey: 1,
        decrypt: 1,
      },
    ]);
  });
});

describe('keyEventOf', () => {
  it('reads the key and context of a CloudTrail record, and skips one it cannot read', () => {
    const record = JSON.stringify({
      eventTime: '2026-12-01T10:00:00Z',
      requestParameters: { keyId: 'alias/x', encryptionContext: { applicationId: 'app1' } },
      resources: [{ ARN: KEY_A, type: 'AWS::KMS::Key' }],
    });
    expect(keyEventOf('Decrypt', record)).toEqual({
      name: 'Decrypt',
      time: new Date('2026-12-01T10:00:00Z'),
      keyArn: KEY_A,
      encryptionContext: { applicationId: 'app1' },
    });
    expect(keyEventOf('Decrypt', '{not json')).toBeUndefined();
    expect(keyEventOf('Decrypt', JSON.stringify({ eventTime: '2026-12-01T10:00:00Z' }))).toBeUndefined();
  });
});

describe('parseSince', () => {
  it.each([
    ['7d', 7 * 86_400_000],
    ['36h', 36 * 3_600_000],
    ['90m', 90 * 60_000],
  ])('%s', (text, ms) => expect(parseSince(text)).toBe(ms));
  it.each(['0d', '91d', 'soon', '-1h'])('refuses %s', (text) => expect(() => parseSince(text)).toThrow());
});
