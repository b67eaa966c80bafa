import { describe, expect, it } from 'vitest';
import { LIVY_CONTEXT, LIVY_KEY_ARN, livySessionConf, NoLivyConf } from '../../src/cli/livy-conf.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd';

describe('livySessionConf', () => {
  it('the key, and the context as k1:v1,k2:v2 in its order', () => {
    expect(
      livySessionConf('a', {
        mode: 'CustomerManaged',
        encryptionKeyArn: KEY,
        encryptionContext: { project: 'analytics', team: 'data' },
        managed: true,
      }),
    ).toEqual({ [LIVY_KEY_ARN]: KEY, [LIVY_CONTEXT]: 'project:analytics,team:data' });
  });

  it('no context entry without a context', () => {
    expect(livySessionConf('a', { mode: 'CustomerManaged', encryptionKeyArn: KEY, managed: false })).toEqual({
      [LIVY_KEY_ARN]: KEY,
    });
  });

  it.each([
    ['the AWS-owned key', { mode: 'AwsOwned' as const, managed: true }, /AWS-owned key/],
    ['no status yet', undefined, /no disk encryption in its status yet/],
    [
      'a context the format cannot carry',
      {
        mode: 'CustomerManaged' as const,
        encryptionKeyArn: KEY,
        encryptionContext: { 'a:b': 'c,d' },
        managed: true,
      },
      /cannot carry/,
    ],
  ])('refuses %s', (_what, disk, message) => {
    expect(() => livySessionConf('a', disk)).toThrow(NoLivyConf);
    expect(() => livySessionConf('a', disk)).toThrow(message);
  });
});
