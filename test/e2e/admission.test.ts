// Admission end to end: every bad input is refused by `kubectl apply` itself, with a message that
// says what is wrong, and nothing of it ever reaches AWS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, reportFailures } from '../support/e2e.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-admission');
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

const disk = (diskEncryptionConfiguration: unknown) => baseSpec('bad', { diskEncryptionConfiguration });
const ninePairs = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));

const refusedOnCreate: Array<[string, Record<string, unknown>, string | RegExp]> = [
  [
    'an alias ARN',
    disk({ encryptionKeyArn: 'arn:aws:kms:eu-west-1:111122223333:alias/analytics' }),
    'encryptionKeyArn must be a KMS key ARN',
  ],
  [
    'a bare key id',
    disk({ encryptionKeyArn: '1234abcd-12ab-34cd-56ef-1234567890ab' }),
    'encryptionKeyArn must be a KMS key ARN',
  ],
  [
    'a context without a key',
    disk({ encryptionContext: { project: 'analytics' } }),
    'encryptionContext requires encryptionKeyArn',
  ],
  [
    '9 context pairs',
    disk({ encryptionKeyArn: KEY, encryptionContext: ninePairs }),
    /must have at most 8 items/,
  ],
  [
    'an empty context value',
    disk({ encryptionKeyArn: KEY, encryptionContext: { project: '' } }),
    /should be at least 1 chars long/,
  ],
  [
    'a 129-character context key',
    disk({ encryptionKeyArn: KEY, encryptionContext: { ['k'.repeat(129)]: 'v' } }),
    'encryptionContext keys must be 1 to 128 characters long',
  ],
  ['no name', { type: 'SPARK', releaseLabel: 'emr-7.5.0' }, 'spec.name is required to create an application'],
  ['no type', { name: 'bad', releaseLabel: 'emr-7.5.0' }, 'spec.type is required to create an application'],
  [
    'no releaseLabel',
    { name: 'bad', type: 'SPARK' },
    'spec.releaseLabel is required to create an application',
  ],
  ['an unknown type', baseSpec('bad', { type: 'FLINK' }), /spec.type: Unsupported value: "FLINK"/],
  [
    'an unknown updateStrategy',
    baseSpec('bad', { updateStrategy: 'Whenever' }),
    /spec.updateStrategy: Unsupported value: "Whenever"/,
  ],
  [
    'an unknown deletionPolicy',
    baseSpec('bad', { deletionPolicy: 'Orphan' }),
    /spec.deletionPolicy: Unsupported value: "Orphan"/,
  ],
  ['a region that is not one', baseSpec('bad', { region: 'Europe' }), 'region must be an AWS region name'],
  [
    'an applicationId with capitals',
    { applicationId: '00FABC' },
    'applicationId must be 1 to 64 lowercase letters and digits',
  ],
];

describe('refused by kubectl apply, and nothing reaches AWS', () => {
  it.each(refusedOnCreate)('%s', async (_label, spec, message) => {
    const stderr = await e2e.applyRejected(manifest('bad', spec));
    expect(stderr).toContain('The EmrServerlessApplication "bad" is invalid');
    if (typeof message === 'string') expect(stderr).toContain(message);
    else expect(stderr).toMatch(message);
    expect(await e2e.exists('bad')).toBe(false);
  });

  it('the local AWS service heard nothing of any of them', async () => {
    expect(await e2e.calls()).toEqual([]);
  });
});

describe('immutable once set', () => {
  it('name, type and region cannot change; applicationId cannot change or be removed', async () => {
    const spec = baseSpec('fixed', { region: 'eu-west-1' });
    await e2e.apply(manifest('fixed', spec));
    await e2e.waitForReady('fixed', 'True', 'Reconciled');
    const adoptedId = await e2e.createApplicationOutOfBand('to-adopt');
    const otherId = await e2e.createApplicationOutOfBand('other');
    await e2e.apply(manifest('adopter', { applicationId: adoptedId }));
    await e2e.waitForReady('adopter', 'True', 'Reconciled');

    const mark = await e2e.mark();
    const before = await e2e.get('fixed');
    const changes: Array<[string, string, Record<string, unknown>, string]> = [
      ['fixed', 'name', { ...spec, name: 'renamed' }, 'spec.name is immutable once set'],
      ['fixed', 'type', { ...spec, type: 'HIVE' }, 'spec.type is immutable once set'],
      ['fixed', 'region', { ...spec, region: 'us-east-1' }, 'spec.region is immutable once set'],
      ['adopter', 'applicationId', { applicationId: otherId }, 'spec.applicationId is immutable once set'],
      ['adopter', 'applicationId removed', baseSpec('to-adopt'), 'spec.applicationId is immutable once set'],
    ];
    for (const [name, label, changed, message] of changes) {
      const stderr = await e2e.applyRejected(manifest(name, changed));
      expect(stderr, label).toContain(message);
    }
    const after = await e2e.get('fixed');
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec).toEqual(before.spec);
    expect((await e2e.get('adopter')).spec).toEqual({ applicationId: adoptedId });
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});
