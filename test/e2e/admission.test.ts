// Admission end to end: every bad input is refused by `kubectl apply` itself, with a message that
// says what is wrong, and nothing of it ever reaches AWS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpec, E2e, manifest, reportFailures } from '../support/e2e.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-admission', { operatorArgs: ['--adopt-namespaces=*'] });
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
    "a tag under the operator's prefix",
    baseSpec('bad', { tags: { 'emrserverless.operator.dev/resource-uid': 'someone-else' } }),
    'tag keys may not start with emrserverless.operator.dev/',
  ],
  [
    'a tag under aws:',
    baseSpec('bad', { tags: { 'aws:cloudformation:stack-name': 'x' } }),
    'or aws: (reserved by AWS)',
  ],
  [
    'a tag under AWS: in capitals',
    baseSpec('bad', { tags: { 'AWS:team': 'x' } }),
    'or aws: (reserved by AWS)',
  ],
  [
    'a tag key with a comma',
    baseSpec('bad', { tags: { 'team,cost': 'x' } }),
    'tag keys may hold only letters, digits, spaces and _ . : / = + - @',
  ],
  [
    '197 tags (AWS allows 200; the operator keeps 4)',
    baseSpec('bad', { tags: Object.fromEntries(Array.from({ length: 197 }, (_, i) => [`t${i}`, 'v'])) }),
    /spec.tags: Too many: 197: must have at most 196 items/,
  ],
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

describe('fixed once bound', () => {
  it('spec.applicationId, region, name and type cannot be added, removed or changed after binding', async () => {
    const spec = baseSpec('fixed', { region: 'eu-west-1' });
    await e2e.apply(manifest('fixed', spec));
    const fixedId = (await e2e.waitForReady('fixed', 'True', 'Reconciled')).status!.applicationId!;
    const adoptedId = await e2e.createApplicationOutOfBand('to-adopt');
    const otherId = await e2e.createApplicationOutOfBand('other');
    await e2e.apply(manifest('adopter', { applicationId: adoptedId }));
    await e2e.waitForReady('adopter', 'True', 'Reconciled');

    const mark = await e2e.mark();
    const before = await e2e.get('fixed');
    const refused = (field: string, id: string) =>
      `spec.${field} cannot be added, removed or changed: this resource is bound to application ${id} for life`;
    const changes: Array<[string, string, Record<string, unknown>, string]> = [
      ['fixed', 'name changed', { ...spec, name: 'renamed' }, refused('name', fixedId)],
      ['fixed', 'type changed', { ...spec, type: 'HIVE' }, refused('type', fixedId)],
      ['fixed', 'region changed', { ...spec, region: 'us-east-1' }, refused('region', fixedId)],
      ['fixed', 'region removed', baseSpec('fixed'), refused('region', fixedId)],
      [
        'fixed',
        'applicationId added',
        { ...spec, applicationId: otherId },
        refused('applicationId', fixedId),
      ],
      ['adopter', 'applicationId changed', { applicationId: otherId }, refused('applicationId', adoptedId)],
      ['adopter', 'applicationId removed', baseSpec('to-adopt'), refused('applicationId', adoptedId)],
      [
        'adopter',
        'region added',
        { applicationId: adoptedId, region: 'eu-west-1' },
        refused('region', adoptedId),
      ],
      ['adopter', 'name added', { applicationId: adoptedId, name: 'to-adopt' }, refused('name', adoptedId)],
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

  it('before binding they stay fixable: a typo in spec.applicationId is corrected in place', async () => {
    const id = await e2e.createApplicationOutOfBand('typo-fixed');
    await e2e.apply(manifest('typo', { applicationId: '00nosuchapp000' }));
    const stalled = await e2e.waitForStalled('typo', 'ApplicationNotFound');
    expect(stalled.status?.applicationId).toBeUndefined();
    await e2e.apply(manifest('typo', { applicationId: id, region: 'eu-west-1' }));
    const bound = await e2e.waitForReady('typo', 'True', 'Reconciled');
    expect(bound.status).toMatchObject({ applicationId: id, region: 'eu-west-1', origin: 'Adopted' });
  });
});
