// A template value that did not render (a null) never changes what AWS holds. On every way a
// manifest reaches the API server — kubectl's client-side apply (Argo CD's default sync), server-
// side apply, and a client that sends the null itself (as Helm does) — a null encryptionKeyArn,
// encryptionContext or context value is refused at admission by the policy shipped in crds/, on
// create and on update from a key and from `{}`, and the local AWS service sees no write.
// `{}` written on purpose and removing the field keep working on every path.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { E2e, RESYNC_MS, reportFailures, waitFor } from '../support/e2e.js';
import { helm, keyFromValuesTemplate } from '../support/helm.js';
import {
  APPLY_PATHS,
  type ApplyPath,
  CLIENT_SENDS_NULL,
  CLIENT_SIDE_APPLY,
  NULL_CASES,
  nullProbe,
  withDisk,
} from '../support/null-paths.js';
import { expectQuietWindow } from '../support/quiet.js';

const POLICY =
  "ValidatingAdmissionPolicy 'emrserverlessapplications.emrserverless.operator.dev-refuse-nulls'";

let e2e: E2e;
let key: string;

beforeAll(async () => {
  e2e = await E2e.start('e2e-nulls');
  key = await e2e.createKey();
  // The policy takes effect a moment after it is created: wait until it refuses a probe.
  await waitFor('the null admission policy to be in force', async () => {
    const r = await nullProbe(e2e);
    return r.exitCode !== 0 && r.stderr.includes(POLICY);
  });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Short names per path, so each path's resources are its own. */
const slug = (path: ApplyPath) =>
  path === CLIENT_SIDE_APPLY ? 'csa' : path === CLIENT_SENDS_NULL ? 'raw' : 'ssa';
const FROM_KEY = { team: 'data' };

describe.each(APPLY_PATHS)('$name', (path) => {
  const fromKey = `${slug(path)}-from-key`;
  const fromEmpty = `${slug(path)}-from-empty`;
  let mark: number;

  beforeAll(async () => {
    for (const [name, disk] of [
      [fromKey, { encryptionKeyArn: key, encryptionContext: FROM_KEY }],
      [fromEmpty, {}],
    ] as const) {
      const r = await path.send(e2e, name, withDisk(name, disk));
      expect(r.exitCode, r.stderr).toBe(0);
    }
    await Promise.all([fromKey, fromEmpty].map((n) => e2e.waitForReady(n, 'True', 'Reconciled')));
    mark = await e2e.mark();
  });

  const expected = (c: (typeof NULL_CASES)[number]) => (path === CLIENT_SIDE_APPLY ? c.applied : c.stored);

  it.each(NULL_CASES)('a null $field is refused on create', async (c) => {
    const name = `${slug(path)}-new`;
    const r = await path.send(e2e, name, withDisk(name, c.disk(key)));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(POLICY);
    expect(r.stderr).toContain(expected(c));
    expect(r.stderr).toContain('diskEncryptionConfiguration: {}');
    expect(await e2e.exists(name)).toBe(false);
  });

  it.each(NULL_CASES)('a null $field is refused on update, from a key and from {}', async (c) => {
    for (const name of [fromKey, fromEmpty]) {
      const before = await e2e.get(name);
      const r = await path.send(e2e, name, withDisk(name, c.disk(key)));
      expect(r.exitCode, name).not.toBe(0);
      expect(r.stderr).toContain(POLICY);
      expect(r.stderr).toContain(expected(c));
      const after = await e2e.get(name);
      expect(after.spec).toEqual(before.spec);
      expect(after.metadata.generation).toBe(before.metadata.generation);
    }
  });

  it('nothing reached AWS: no write, the key is where it was', async () => {
    const id = (await e2e.get(fromKey)).status!.applicationId!;
    // A resync looked at it meanwhile (a listing or a read) and wrote nothing.
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(mark),
    });
    expect((await e2e.application(id)).diskEncryptionConfiguration).toEqual({
      encryptionKeyArn: key,
      encryptionContext: FROM_KEY,
    });
    await e2e.waitForReady(fromKey, 'True', 'Reconciled');
    await e2e.waitForReady(fromEmpty, 'True', 'Reconciled');
  });

  it('{} on purpose still returns to the AWS-owned key, and removing the field leaves AWS as it is', async () => {
    const id = (await e2e.get(fromKey)).status!.applicationId!;
    let start = await e2e.mark();
    const r = await path.send(e2e, fromKey, withDisk(fromKey, {}));
    expect(r.exitCode, r.stderr).toBe(0);
    await e2e.waitForEvent(fromKey, 'KeyUnset');
    await e2e.waitForResource(fromKey, 'the AWS-owned key', (x) => x.status?.encryption === 'AwsOwned' && x);
    expect(await e2e.writesSince(start, id)).toEqual(['UpdateApplication']);
    expect(await e2e.application(id)).not.toHaveProperty('diskEncryptionConfiguration.encryptionKeyArn');

    start = await e2e.mark();
    const removed = await path.send(e2e, fromKey, withDisk(fromKey));
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect((await e2e.get(fromKey)).spec).not.toHaveProperty('diskEncryptionConfiguration');
    const warning = await e2e.waitForEvent(fromKey, 'DiskEncryptionUnmanaged');
    expect(warning.type).toBe('Warning');
    await e2e.waitForResource(fromKey, 'Unmanaged', (x) => x.status?.encryption === 'Unmanaged' && x);
    await expectQuietWindow({
      during: RESYNC_MS + 500,
      reads: e2e.awsReads({ applicationId: id }),
      writes: () => e2e.writesSince(start, id),
    });
  });
});

describe('the other spec fields', () => {
  // A tag value (a removed tag is untagged), a property of a structure (AWS may reset a property
  // left out), the deletion policy (the default deletes): one of each kind of field.
  const others: Array<[string, Record<string, unknown>, string, string]> = [
    ['a tag value', { tags: { team: null } }, '("team":null)', 'spec.tags[*] is null'],
    [
      'a property of a structure',
      { autoStopConfiguration: { enabled: true, idleTimeoutMinutes: null } },
      '("idleTimeoutMinutes":null)',
      'spec.autoStopConfiguration.idleTimeoutMinutes is null',
    ],
    // An enum: the CRD's own schema refuses a stored null.
    [
      'deletionPolicy',
      { deletionPolicy: null },
      '("deletionPolicy":null)',
      'spec.deletionPolicy: Unsupported value: null',
    ],
  ];

  it.each(APPLY_PATHS)('a null in any of them is refused: $name', async (path) => {
    const mark = await e2e.mark();
    for (const [what, extra, applied, stored] of others) {
      const name = `${slug(path)}-other`;
      const r = await path.send(e2e, name, { ...withDisk(name), ...extra });
      expect(r.exitCode, what).not.toBe(0);
      expect(r.stderr).toContain(path === CLIENT_SIDE_APPLY ? applied : stored);
      if (path !== CLIENT_SIDE_APPLY) expect(r.stderr).not.toContain('diskEncryptionConfiguration: {}');
      expect(await e2e.exists(name)).toBe(false);
    }
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});

describe('what is not a null in spec, applied with kubectl (client-side)', () => {
  // The policy reads the applied manifest as JSON text: a string value that begins like a null
  // member is a string, and a status applied with the manifest (one exported with its status)
  // is not spec. Both are admitted, and the operator reconciles them.
  const apply = (name: string, spec: Record<string, unknown>, status?: Record<string, unknown>) =>
    e2e.kubectl(['apply', '-f', '-'], {
      input: stringify({
        apiVersion: 'emrserverless.operator.dev/v1alpha1',
        kind: 'EmrServerlessApplication',
        metadata: { name },
        spec,
        ...(status && { status }),
      }).replace(/: null$/gm, ':'),
      check: false,
    });

  it('a string value that begins with :null, (or :null}) is accepted', async () => {
    const name = 'csa-null-text';
    const runtimeConfiguration = [
      { classification: 'spark-defaults', properties: { 'spark.app.a': ':null,', 'spark.app.b': ':null}' } },
    ];
    const r = await apply(name, { ...withDisk(name), runtimeConfiguration });
    expect(r.exitCode, r.stderr).toBe(0);
    await e2e.waitForReady(name, 'True', 'Reconciled');
  });

  it('a null under status is accepted; a null in spec beside it is still refused', async () => {
    const status = {
      applicationId: null,
      conditions: [{ type: 'Ready', status: 'True', reason: null }],
      diskEncryption: { encryptionKeyArn: null },
    };
    const name = 'csa-null-status';
    const r = await apply(name, withDisk(name), status);
    expect(r.exitCode, r.stderr).toBe(0);
    await e2e.waitForReady(name, 'True', 'Reconciled');

    const mark = await e2e.mark();
    const refused = await apply(`${name}-spec`, withDisk(`${name}-spec`, { encryptionKeyArn: null }), status);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(POLICY);
    expect(refused.stderr).toContain('("encryptionKeyArn":null)');
    expect(await e2e.exists(`${name}-spec`)).toBe(false);
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});

describe('a null deep in runtimeConfiguration (kept as written; the policy does not look there)', () => {
  // Client-side apply is refused at admission (the policy reads the whole applied manifest); the
  // other paths store it, and the operator's own check stalls it before any AWS call.
  it.each(APPLY_PATHS)('$name: refused or Stalled NullValue, never sent to AWS', async (path) => {
    const name = `${slug(path)}-runtime`;
    const runtimeConfiguration = [
      {
        classification: 'spark-defaults',
        configurations: [{ classification: 'nested', properties: { 'spark.x': null } }],
      },
    ];
    const mark = await e2e.mark();
    const r = await path.send(e2e, name, { ...withDisk(name), runtimeConfiguration });
    if (path === CLIENT_SIDE_APPLY) {
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('("spark.x":null)');
      expect(await e2e.exists(name)).toBe(false);
    } else {
      expect(r.exitCode, r.stderr).toBe(0);
      const stalled = await e2e.waitForStalled(name, 'NullValue');
      const ready = stalled.status?.conditions?.find((c) => c.type === 'Ready');
      expect(ready?.message).toContain(
        'spec.runtimeConfiguration[0].configurations[0].properties["spark.x"] is null',
      );
      expect(stalled.status?.applicationId).toBeUndefined();
    }
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});

describe('helm install (the real helm): a value that did not render', () => {
  it('is refused at admission; nothing is created and AWS sees no write', async () => {
    // A team's chart whose key comes from a value the install does not set: the template
    // renders `encryptionKeyArn:` with nothing after it, and Helm sends that null.
    const chart = mkdtempSync(join(tmpdir(), 'team-chart-'));
    mkdirSync(join(chart, 'templates'));
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: team-analytics\nversion: 0.1.0\n');
    writeFileSync(join(chart, 'templates', 'application.yaml'), keyFromValuesTemplate('helm-rendered'));
    const mark = await e2e.mark();
    const r = await helm(['install', 'team-analytics', chart, '--namespace', e2e.namespace], {
      check: false,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(POLICY);
    expect(r.stderr).toContain('spec.diskEncryptionConfiguration.encryptionKeyArn is null');
    expect(await e2e.exists('helm-rendered')).toBe(false);
    expect(await e2e.writesSince(mark)).toEqual([]);
  });
});
