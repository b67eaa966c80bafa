import { describe, expect, it } from 'vitest';
import {
  FINALIZER,
  OWNER_CLUSTER_TAG,
  OWNER_NAME_TAG,
  OWNER_NAMESPACE_TAG,
  OWNER_UID_TAG,
} from '../../src/api/constants.js';
import type { EmrServerlessApplication, PendingCreate, Spec, Status } from '../../src/api/schema.js';
import { keyPolicyStatements } from '../../src/aws/policies.js';
import type { AwsApplication, KeyFacts, KeyPolicyFacts } from '../../src/aws/port.js';
import {
  applicationIdOf,
  type Observed,
  type Plan,
  type PlanOptions,
  plan,
  planFailure,
  regionOf,
  unrecordedSearchOf,
} from '../../src/reconcile/application/planner.js';
import { intentsAfterFailure } from '../../src/reconcile/application/write-ahead.js';
import { jsonEqual } from '../../src/reconcile/compare.js';

const KEY_A = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444';
const KEY_B = 'arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-1111-2222-3333-444444444444';
const UID = '5f0c1a2b-0000-4000-8000-000000000001';
const NOW = new Date('2026-11-23T12:00:00Z');
const options: PlanOptions = { defaultRegion: 'eu-west-1', verifyKeys: true, resyncPeriodMs: 600_000 };
/** Adoption allowed in the test resource's namespace. */
const adopting: PlanOptions = { ...options, ownership: { clusterId: '', adoptionNamespaces: ['data'] } };

const baseSpec: Spec = { name: 'analytics', type: 'SPARK', releaseLabel: 'emr-7.5.0' };

function resource(
  spec: Partial<Spec> & Record<string, unknown>,
  more: { status?: Status; finalizer?: boolean; deleting?: boolean; lastApplied?: object } = {},
) {
  return {
    apiVersion: 'emrserverless.operator.dev/v1alpha1',
    kind: 'EmrServerlessApplication',
    metadata: {
      name: 'analytics',
      namespace: 'data',
      uid: UID,
      generation: 3,
      finalizers: more.finalizer === false ? [] : [FINALIZER],
      ...(more.deleting ? { deletionTimestamp: NOW.toISOString() } : {}),
      ...(more.lastApplied
        ? {
            annotations: {
              'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(more.lastApplied),
            },
          }
        : {}),
    },
    spec,
    ...(more.status ? { status: more.status } : {}),
  } satisfies EmrServerlessApplication;
}

/** The ownership tags of an application claimed by the test resource (no cluster tag configured). */
const OWNED = { [OWNER_UID_TAG]: UID, [OWNER_NAMESPACE_TAG]: 'data', [OWNER_NAME_TAG]: 'analytics' };

function app(fields: Partial<AwsApplication> = {}): AwsApplication {
  return {
    applicationId: '00fapp1',
    arn: 'arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00fapp1',
    name: 'analytics',
    type: 'SPARK',
    releaseLabel: 'emr-7.5.0',
    state: 'STOPPED',
    tags: OWNED,
    ...fields,
  };
}

const enabledKey = (arn = KEY_A): KeyFacts => ({
  kind: 'found',
  arn,
  keyState: 'Enabled',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
});
const keyIn = (keyState: string, keySpec = 'SYMMETRIC_DEFAULT', keyUsage = 'ENCRYPT_DECRYPT'): KeyFacts => ({
  kind: 'found',
  arn: KEY_A,
  keyState,
  keySpec,
  keyUsage,
});
const keyWithContext = { encryptionKeyArn: KEY_A, encryptionContext: { project: 'a' } };
/** A key policy's text (GetKeyPolicy's answer). */
const policyOf = (...Statement: object[]): KeyPolicyFacts => ({
  kind: 'found',
  policy: JSON.stringify({ Version: '2012-10-17', Statement }),
});
/** The default key policy of a key made through the API: the key's account, through IAM. */
const ROOT_ONLY = {
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::111122223333:root' },
  Action: 'kms:*',
  Resource: '*',
};
/** What `key-policy --application-arn <the app> --encryption-context project=a` prints. */
const SERVICE_STATEMENTS = keyPolicyStatements({
  applicationArn: 'arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00fapp1',
  encryptionContext: { project: 'a' },
});
/** The status a created app has once it was reconciled. */
const known: Status = { applicationId: '00fapp1', arn: app().arn, region: 'eu-west-1' };

const run = (r: EmrServerlessApplication, observed: Observed, opts = options) =>
  plan({ resource: r, observed, options: opts, now: NOW });
const kinds = (p: Plan) => p.actions.map((a) => a.kind);
const ready = (p: Plan) => p.status.conditions?.find((c) => c.type === 'Ready');
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);
const reasons = (p: Plan) => [...p.events, ...p.actions.flatMap((a) => a.events ?? [])].map((e) => e.reason);
const update = (p: Plan) =>
  p.actions.find((a) => a.kind === 'UpdateApplication') as
    | Extract<Plan['actions'][number], { kind: 'UpdateApplication' }>
    | undefined;

interface Case {
  name: string;
  resource: EmrServerlessApplication;
  observed: Observed;
  opts?: typeof options;
  actions: string[];
  /** Ready's reason, and the phase: R(eady), P(rogressing), S(talled). */
  reason: string;
  phase: 'R' | 'P' | 'S';
  events?: string[];
  sent?: Record<string, unknown>;
  check?: (p: Plan) => void;
}

const cases: Case[] = [
  // --- create and adopt ---
  {
    name: 'create without a key: finalizer first, then one CreateApplication without the field',
    resource: resource(baseSpec, { finalizer: false }),
    observed: { app: undefined },
    actions: ['AddFinalizer', 'CreateApplication'],
    reason: 'Creating',
    phase: 'P',
    events: ['Created'],
    check: (p) => {
      const create = p.actions[1] as Extract<Plan['actions'][number], { kind: 'CreateApplication' }>;
      expect(create.input).not.toHaveProperty('diskEncryptionConfiguration');
      expect(create.input.clientToken).toBe(UID);
      expect(create.input.tags[OWNER_UID_TAG]).toBe(UID);
    },
  },
  {
    name: 'create with a key sends the config in CreateApplication',
    resource: resource(
      {
        ...baseSpec,
        tags: { team: 'data' },
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { project: 'a' } },
      },
      { finalizer: false },
    ),
    observed: { app: undefined, key: enabledKey() },
    actions: ['AddFinalizer', 'CreateApplication'],
    reason: 'Creating',
    phase: 'P',
    check: (p) => {
      const create = p.actions[1] as Extract<Plan['actions'][number], { kind: 'CreateApplication' }>;
      expect(create.input.diskEncryptionConfiguration).toEqual({
        encryptionKeyArn: KEY_A,
        encryptionContext: { project: 'a' },
      });
      expect(create.input.tags).toEqual({ team: 'data', ...OWNED });
    },
  },
  {
    name: 'create with a disabled key sends nothing',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { finalizer: false },
    ),
    observed: { app: undefined, key: keyIn('Disabled') },
    actions: [],
    reason: 'KeyDisabled',
    phase: 'S',
    events: ['KeyDisabled'],
  },
  {
    name: 'an app created before a crash is found by its tag and taken over',
    resource: resource(baseSpec),
    observed: { app: app({ state: 'CREATED' }) },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    events: ['Adopted'],
    check: (p) => expect(p.status.applicationId).toBe('00fapp1'),
  },
  // --- ownership: adoption, claims, binding ---
  {
    name: 'adopt where adoption is not allowed: Stalled, nothing written, not bound',
    resource: resource({ applicationId: '00fapp1' }, { finalizer: false }),
    observed: { app: app({ tags: {} }) },
    actions: [],
    reason: 'AdoptionNotAllowed',
    phase: 'S',
    check: (p) => {
      expect(p.status.applicationId).toBeUndefined();
      expect(ready(p)?.message).toContain('--adopt-namespaces=data');
    },
  },
  {
    name: 'adopt an unclaimed app: finalizer, then the claim; not bound until a read confirms it',
    resource: resource({ applicationId: '00fapp1' }, { finalizer: false }),
    observed: { app: app({ tags: { team: 'x' } }) },
    opts: adopting,
    actions: ['AddFinalizer', 'ClaimApplication'],
    reason: 'Claiming',
    phase: 'P',
    check: (p) => {
      expect(p.actions[1]).toMatchObject({ applicationId: '00fapp1', tags: OWNED });
      expect(p.status.applicationId).toBeUndefined();
    },
  },
  {
    name: 'adopt a terminated unclaimed app: Stalled, nothing written, not bound (the id stays fixable)',
    resource: resource({ applicationId: '00fapp1' }),
    observed: { app: app({ tags: {}, state: 'TERMINATED' }) },
    opts: adopting,
    actions: [],
    reason: 'ApplicationTerminated',
    phase: 'S',
    check: (p) => expect(p.status.applicationId).toBeUndefined(),
  },
  {
    name: 'adopt an app the claim read back as ours: bound, origin Adopted',
    resource: resource({ applicationId: '00fapp1' }),
    observed: { app: app() },
    opts: adopting,
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    events: ['Adopted'],
    check: (p) => expect(p.status).toMatchObject({ applicationId: '00fapp1', origin: 'Adopted' }),
  },
  {
    name: 'adopt an app another resource owns: Stalled naming the owner, nothing written',
    resource: resource({ applicationId: '00fapp1', deletionPolicy: 'Delete' }),
    observed: {
      app: app({
        tags: { [OWNER_UID_TAG]: 'other-uid', [OWNER_NAMESPACE_TAG]: 'team-a', [OWNER_NAME_TAG]: 'orders' },
      }),
    },
    opts: adopting,
    actions: [],
    reason: 'OwnedByAnotherResource',
    phase: 'S',
    check: (p) => {
      expect(ready(p)?.message).toContain('team-a/orders (uid other-uid)');
      expect(p.status.applicationId).toBeUndefined();
    },
  },
  {
    name: 'a bound app whose tags now name another owner: Stalled, nothing written',
    resource: resource(baseSpec, { status: known }),
    observed: { app: app({ tags: { [OWNER_UID_TAG]: 'other-uid', [OWNER_CLUSTER_TAG]: 'c2' } }) },
    actions: [],
    reason: 'OwnedByAnotherResource',
    phase: 'S',
    check: (p) => expect(ready(p)?.message).toContain('uid other-uid in cluster c2'),
  },
  {
    name: 'an app claimed by an older version (uid tag only) gets the missing ownership tags',
    resource: resource(baseSpec, { status: known }),
    observed: { app: app({ tags: { [OWNER_UID_TAG]: UID, team: 'x' } }) },
    opts: { ...options, ownership: { clusterId: 'c1', adoptionNamespaces: [] } },
    actions: ['TagApplication'],
    reason: 'Reconciled',
    phase: 'P',
    events: ['OwnershipTagged'],
    check: (p) =>
      expect(p.actions[0]).toMatchObject({
        tags: { [OWNER_NAMESPACE_TAG]: 'data', [OWNER_NAME_TAG]: 'analytics', [OWNER_CLUSTER_TAG]: 'c1' },
      }),
  },
  {
    name: 'a bound adopted app without tags (adopted by an older version) is claimed, adoption flag or not',
    resource: resource({ applicationId: '00fapp1' }, { status: known }),
    observed: { app: app({ tags: {} }) },
    actions: ['ClaimApplication'],
    reason: 'Claiming',
    phase: 'P',
  },
  {
    name: 'bound, then spec.applicationId added (a CRD without the rules): ImmutableFieldConflict',
    resource: resource({ ...baseSpec, applicationId: '00fother' }, { status: known }),
    observed: { app: app() },
    actions: [],
    reason: 'ImmutableFieldConflict',
    phase: 'S',
  },
  {
    name: 'bound, then spec.region changed: ImmutableFieldConflict, and status keeps the bound region',
    resource: resource({ ...baseSpec, region: 'us-east-1' }, { status: known }),
    observed: { app: app() },
    actions: [],
    reason: 'ImmutableFieldConflict',
    phase: 'S',
    check: (p) => expect(p.status.region).toBe('eu-west-1'),
  },
  {
    name: 'bound in one account, the namespace now maps to another: AccountMappingChanged, nothing written',
    resource: resource(baseSpec, { status: known }),
    observed: { app: null, account: '444444444444' },
    actions: [],
    reason: 'AccountMappingChanged',
    phase: 'S',
    check: (p) => {
      expect(cond(p, 'Stalled')?.message).toContain('is bound in AWS account 123456789012');
      expect(cond(p, 'Stalled')?.message).toContain('now acts in account 444444444444');
      expect(p.status.account).toBe('123456789012');
    },
  },
  {
    name: 'bound in one account, the role removed and the operator in another: not found is not re-created',
    resource: resource(baseSpec, { status: { ...known, account: '111111111111' } }),
    observed: { app: null, account: '123456789012' },
    actions: [],
    reason: 'AccountMappingChanged',
    phase: 'S',
    check: (p) => {
      expect(cond(p, 'Stalled')?.message).toContain('is bound in AWS account 111111111111');
      expect(p.status.account).toBe('111111111111');
      expect(p.status.applicationId).toBe('00fapp1');
    },
  },
  {
    name: 'bound, and the identity acts in the same account: not found stays ApplicationNotFound',
    resource: resource(baseSpec, { status: { ...known, account: '123456789012' } }),
    observed: { app: null, account: '123456789012' },
    actions: [],
    reason: 'ApplicationNotFound',
    phase: 'S',
  },
  {
    name: 'the account the namespace role acts in is recorded with the binding',
    resource: resource(baseSpec, { status: known }),
    observed: { app: app(), account: '123456789012' },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    check: (p) => expect(p.status.account).toBe('123456789012'),
  },
  {
    name: 'bound by adoption, then spec.applicationId removed: ImmutableFieldConflict',
    resource: resource(baseSpec, { status: { ...known, origin: 'Adopted' } }),
    observed: { app: app() },
    actions: [],
    reason: 'ImmutableFieldConflict',
    phase: 'S',
  },
  {
    name: 'spec.tags under a reserved prefix: InvalidSpec, nothing written',
    resource: resource({ ...baseSpec, tags: { [OWNER_UID_TAG]: 'x', 'AWS:cost': 'y' } }, { status: known }),
    observed: { app: app() },
    actions: [],
    reason: 'InvalidSpec',
    phase: 'S',
  },
  {
    name: 'adopt an id that does not exist',
    resource: resource({ applicationId: '00fmissing' }),
    observed: { app: null },
    actions: [],
    reason: 'ApplicationNotFound',
    phase: 'S',
  },
  {
    name: 'an app the operator created that vanished is not re-created',
    resource: resource(baseSpec, { status: known }),
    observed: { app: null },
    actions: [],
    reason: 'ApplicationNotFound',
    phase: 'S',
  },
  {
    name: 'TERMINATED out of band: Stalled, no re-create',
    resource: resource(baseSpec, { status: known }),
    observed: { app: app({ state: 'TERMINATED' }) },
    actions: [],
    reason: 'ApplicationTerminated',
    phase: 'S',
    events: ['ApplicationTerminated'],
  },
  {
    name: 'an adopted app with another name is a conflict',
    resource: resource({ applicationId: '00fapp1', name: 'other' }, { status: known }),
    observed: { app: app() },
    actions: [],
    reason: 'ImmutableFieldConflict',
    phase: 'S',
  },
  {
    name: 'invalid spec (context without key) is Stalled and sends nothing',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } },
      { status: known },
    ),
    observed: { app: app() },
    actions: [],
    reason: 'InvalidSpec',
    phase: 'S',
  },
  // --- nulls: a template value that did not render never changes AWS ---
  {
    name: 'a stored null key (a client that sends the null) is Stalled NullValue: no create, no finalizer',
    // As a client that sends the null stores it (the CRD keeps nulls); not a valid Spec.
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: null } } as unknown as Spec,
      {
        finalizer: false,
      },
    ),
    observed: { app: undefined },
    actions: [],
    reason: 'NullValue',
    phase: 'S',
    events: ['NullValue'],
    check: (p) => {
      const message = ready(p)!.message;
      expect(message).toContain('spec.diskEncryptionConfiguration.encryptionKeyArn is null');
      expect(message).toContain('diskEncryptionConfiguration: {}');
    },
  },
  {
    name: 'a key removed by kubectl apply (null in the last-applied configuration) is Stalled, not {}',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: {} },
      {
        status: known,
        lastApplied: { spec: { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: null } } },
      },
    ),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }) },
    actions: [],
    reason: 'NullValue',
    phase: 'S',
    check: (p) => {
      expect(ready(p)!.message).toContain(
        'spec.diskEncryptionConfiguration.encryptionKeyArn was null in the last applied configuration',
      );
    },
  },
  {
    name: 'a context value nulled in the last-applied configuration is Stalled, and the context is not sent',
    resource: resource(
      {
        ...baseSpec,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { a: 'b' } },
      },
      {
        status: known,
        lastApplied: {
          spec: {
            ...baseSpec,
            diskEncryptionConfiguration: {
              encryptionKeyArn: KEY_A,
              encryptionContext: { a: 'b', team: null },
            },
          },
        },
      },
    ),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }), key: enabledKey() },
    actions: [],
    reason: 'NullValue',
    phase: 'S',
    check: (p) => {
      expect(ready(p)!.message).toContain('spec.diskEncryptionConfiguration.encryptionContext.team was null');
    },
  },
  {
    name: 'a stale null in the last-applied configuration (the live spec holds the field) is ignored',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      {
        status: known,
        lastApplied: { spec: { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: null } } },
      },
    ),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }), key: enabledKey() },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
  },
  {
    name: 'a null in another field is Stalled too, without the AWS-owned key hint',
    resource: resource(
      { ...baseSpec, autoStopConfiguration: { enabled: true } },
      {
        status: known,
        lastApplied: {
          spec: { ...baseSpec, autoStopConfiguration: { enabled: true, idleTimeoutMinutes: null } },
        },
      },
    ),
    observed: { app: app() },
    actions: [],
    reason: 'NullValue',
    phase: 'S',
    check: (p) => {
      expect(ready(p)!.message).toContain('spec.autoStopConfiguration.idleTimeoutMinutes was null');
      expect(ready(p)!.message).not.toContain('AWS-owned');
    },
  },
  // --- the three states of diskEncryptionConfiguration ---
  {
    name: 'set a key on an app with the AWS-owned key',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: { app: app(), key: enabledKey() },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyChanged'],
    // The whole config: an explicit empty context, whatever AWS would merge.
    sent: { diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: {} } },
  },
  {
    name: 'change the key sends the whole config',
    resource: resource(
      {
        ...baseSpec,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_B, encryptionContext: { p: 'x' } },
      },
      { status: known },
    ),
    observed: {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'x' } } }),
      key: enabledKey(KEY_B),
    },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyChanged'],
    sent: { diskEncryptionConfiguration: { encryptionKeyArn: KEY_B, encryptionContext: { p: 'x' } } },
  },
  {
    name: 'change only the context',
    resource: resource(
      {
        ...baseSpec,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'new' } },
      },
      { status: known },
    ),
    observed: {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'old' } } }),
      key: enabledKey(),
    },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    sent: { diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'new' } } },
  },
  {
    name: 'unset with {} returns to the AWS-owned key',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: {} }, { status: known }),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }) },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyUnset'],
    sent: { diskEncryptionConfiguration: {} },
  },
  ...(
    [
      ['AWS field absent', undefined],
      ['AWS {}', {}],
      ['AWS config without key ARN', { encryptionContext: { stray: 'x' } }],
    ] as const
  ).map(
    ([what, answered]): Case => ({
      name: `{} when AWS already has the AWS-owned key (${what}): nothing`,
      resource: resource({ ...baseSpec, diskEncryptionConfiguration: {} }, { status: known }),
      observed: { app: app(answered ? { diskEncryptionConfiguration: answered } : {}) },
      actions: [],
      reason: 'Reconciled',
      phase: 'R',
      check: (p) => expect(p.status.encryption).toBe('AwsOwned'),
    }),
  ),
  {
    name: 'a missing context equals an empty one',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: {} } }),
      key: enabledKey(),
    },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    check: (p) => {
      expect(p.status.encryption).toBe('CustomerManaged');
      expect(p.status.diskEncryption).toEqual({
        mode: 'CustomerManaged',
        encryptionKeyArn: KEY_A,
        managed: true,
        key: { verified: true, state: 'Enabled' },
      });
    },
  },
  {
    name: 'field removed after being managed: AWS untouched, a warning',
    resource: resource(baseSpec, {
      status: {
        ...known,
        diskEncryption: { mode: 'CustomerManaged', encryptionKeyArn: KEY_A, managed: true },
      },
    }),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }) },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    events: ['DiskEncryptionUnmanaged'],
    check: (p) => {
      expect(p.events[0]?.type).toBe('Warning');
      expect(p.status.encryption).toBe('Unmanaged');
      expect(p.status.diskEncryption).toMatchObject({
        mode: 'CustomerManaged',
        encryptionKeyArn: KEY_A,
        managed: false,
      });
    },
  },
  {
    name: 'an absent field is never sent, even when other fields change',
    resource: resource({ ...baseSpec, autoStopConfiguration: { idleTimeoutMinutes: 30 } }, { status: known }),
    observed: { app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }) },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    sent: { autoStopConfiguration: { idleTimeoutMinutes: 30 } },
  },
  {
    name: 'properties the spec leaves out are not managed',
    resource: resource({ ...baseSpec, autoStopConfiguration: { enabled: true } }, { status: known }),
    observed: { app: app({ autoStopConfiguration: { enabled: true, idleTimeoutMinutes: 15 } }) },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
  },
  {
    name: 'a removed worker type in initialCapacity is a change',
    resource: resource({ ...baseSpec, initialCapacity: { DRIVER: { workerCount: 1 } } }, { status: known }),
    observed: { app: app({ initialCapacity: { DRIVER: { workerCount: 1 }, EXECUTOR: { workerCount: 2 } } }) },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    sent: { initialCapacity: { DRIVER: { workerCount: 1 } } },
  },
  {
    name: 'tags go through TagResource / UntagResource; the ownership tags are kept',
    resource: resource({ ...baseSpec, tags: { team: 'data', cost: 'b' } }, { status: known }),
    observed: { app: app({ tags: { ...OWNED, team: 'data', cost: 'a', old: 'x' } }) },
    actions: ['TagApplication', 'UntagApplication'],
    reason: 'Reconciled',
    phase: 'P',
    check: (p) => {
      expect(p.actions[0]).toMatchObject({ tags: { cost: 'b' } });
      expect(p.actions[1]).toMatchObject({ tagKeys: ['old'] });
    },
  },
  // --- states ---
  {
    name: 'STARTED, disk encryption change, WaitForStop: wait, announce once',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey() },
    actions: [],
    reason: 'WaitingForStop',
    phase: 'P',
    events: ['WaitingForStop'],
  },
  {
    name: 'STARTED, StopWhenIdle: asks for the job runs first',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: known },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey() },
    actions: [],
    reason: 'Observing',
    phase: 'P',
    check: (p) => expect(p.needs).toBe('activeWork'),
  },
  {
    name: 'STARTED, StopWhenIdle, job runs active: wait, never cancel',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: known },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey(), activeWork: { jobRuns: 2, sessions: 0 } },
    actions: [],
    reason: 'WaitingForJobRuns',
    phase: 'P',
    events: ['WaitingForJobRuns'],
  },
  {
    name: 'STARTED, StopWhenIdle, an interactive session open: wait, never terminate it',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: known },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey(), activeWork: { jobRuns: 0, sessions: 1 } },
    actions: [],
    reason: 'WaitingForSessions',
    phase: 'P',
    events: ['WaitingForSessions'],
  },
  {
    name: 'STARTED, StopWhenIdle, idle: plans the intent to restart with the stop (written ahead of it)',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: known },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey(), activeWork: { jobRuns: 0, sessions: 0 } },
    actions: ['StopApplication'],
    reason: 'Stopping',
    phase: 'P',
    check: (p) => {
      expect(p.status.restartAfterUpdate).toBe(true);
      expect(p.requeueAfterMs).toBe(0);
    },
  },
  {
    name: 'stale intent: switched to WaitForStop before the stop, the intent is dropped',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'WaitForStop',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey() },
    actions: [],
    reason: 'WaitingForStop',
    phase: 'P',
    check: (p) => expect(p.status.restartAfterUpdate).toBeUndefined(),
  },
  {
    name: 'STARTED, StopWhenIdle, idle, intent recorded: stop',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: { app: app({ state: 'STARTED' }), key: enabledKey(), activeWork: { jobRuns: 0, sessions: 0 } },
    actions: ['StopApplication'],
    reason: 'Stopping',
    phase: 'P',
    check: (p) => expect(p.status.restartAfterUpdate).toBe(true),
  },
  {
    name: 'intent survives a crash: STOPPED with the change pending is updated',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: { app: app({ state: 'STOPPED' }), key: enabledKey() },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    check: (p) => expect(p.status.restartAfterUpdate).toBe(true),
  },
  {
    name: 'intent survives a crash: STOPPED and updated is started again',
    resource: resource(
      {
        ...baseSpec,
        updateStrategy: 'StopWhenIdle',
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: {
      app: app({ state: 'STOPPED', diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
      key: enabledKey(),
    },
    actions: ['StartApplication'],
    reason: 'Restarting',
    phase: 'P',
    events: ['Restarted'],
    // Kept until the application is seen STARTING: a crash around the call still restarts it.
    check: (p) => expect(p.status.restartAfterUpdate).toBe(true),
  },
  {
    name: 'STARTING after the restart: the intent is cleared, not Ready until it settles',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: {
      app: app({ state: 'STARTING', diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
      key: enabledKey(),
    },
    actions: [],
    reason: 'WaitingForState',
    phase: 'P',
    check: (p) => {
      expect(p.status.restartAfterUpdate).toBeUndefined();
      expect(p.requeueAfterMs).toBeLessThanOrEqual(10_000);
    },
  },
  {
    name: 'started again: the intent is cleared',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: { ...known, restartAfterUpdate: true } },
    ),
    observed: {
      app: app({ state: 'STARTED', diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
      key: enabledKey(),
    },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    check: (p) => expect(p.status.restartAfterUpdate).toBeUndefined(),
  },
  {
    name: 'STARTED with only changes the service accepts while STARTED: applied at once',
    resource: resource(
      {
        ...baseSpec,
        maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' },
        schedulerConfiguration: { maxConcurrentRuns: 5 },
      },
      { status: known },
    ),
    observed: {
      app: app({
        state: 'STARTED',
        maximumCapacity: { cpu: '4 vCPU', memory: '16 GB' },
        schedulerConfiguration: { maxConcurrentRuns: 2, queueTimeoutMinutes: 360 },
      }),
    },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    sent: {
      maximumCapacity: { cpu: '8 vCPU', memory: '32 GB' },
      schedulerConfiguration: { maxConcurrentRuns: 5 },
    },
  },
  {
    name: 'STARTED, mixed changes: the allowed part now, the rest after a stop',
    resource: resource(
      {
        ...baseSpec,
        imageConfiguration: { imageUri: 'repo/img:2' },
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A },
      },
      { status: known },
    ),
    observed: {
      app: app({ state: 'STARTED', imageConfiguration: { imageUri: 'repo/img:1' } }),
      key: enabledKey(),
    },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    sent: { imageConfiguration: { imageUri: 'repo/img:2' } },
  },
  {
    name: 'STARTED, a queue timeout change is not accepted while STARTED',
    resource: resource(
      { ...baseSpec, schedulerConfiguration: { queueTimeoutMinutes: 60 } },
      { status: known },
    ),
    observed: {
      app: app({
        state: 'STARTED',
        schedulerConfiguration: { maxConcurrentRuns: 2, queueTimeoutMinutes: 360 },
      }),
    },
    actions: [],
    reason: 'WaitingForStop',
    phase: 'P',
  },
  ...(['CREATING', 'STARTING', 'STOPPING'] as const).map(
    (state): Case => ({
      name: `${state} with a change pending: waited out`,
      resource: resource(
        { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
        { status: known },
      ),
      observed: { app: app({ state }), key: enabledKey() },
      actions: [],
      reason: state === 'CREATING' ? 'Creating' : 'WaitingForState',
      phase: 'P',
      check: (p) => expect(p.requeueAfterMs).toBeGreaterThan(0),
    }),
  ),
  ...(['STARTING', 'STOPPING'] as const).map(
    (state): Case => ({
      name: `${state} with nothing to change: not Ready at a state about to change, looked at again within seconds`,
      resource: resource(baseSpec, { status: known }),
      observed: { app: app({ state }) },
      actions: [],
      reason: 'WaitingForState',
      phase: 'P',
      check: (p) => expect(p.requeueAfterMs).toBeLessThanOrEqual(10_000),
    }),
  ),
  {
    name: 'subnetIds and securityGroupIds compare as sets: reordered is in sync',
    resource: resource(
      { ...baseSpec, networkConfiguration: { subnetIds: ['s-2', 's-1'], securityGroupIds: ['g-1', 'g-2'] } },
      { status: known },
    ),
    observed: {
      app: app({ networkConfiguration: { subnetIds: ['s-1', 's-2'], securityGroupIds: ['g-2', 'g-1'] } }),
    },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
  },
  {
    name: 'subnetIds compare as sets: a different set is a change',
    resource: resource(
      { ...baseSpec, networkConfiguration: { subnetIds: ['s-1', 's-3'] } },
      { status: known },
    ),
    observed: { app: app({ networkConfiguration: { subnetIds: ['s-1', 's-2'] } }) },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
  },
  // --- keys ---
  ...(
    [
      ['Disabled', keyIn('Disabled'), 'KeyDisabled'],
      ['PendingDeletion', keyIn('PendingDeletion'), 'KeyPendingDeletion'],
      ['asymmetric', keyIn('Enabled', 'RSA_2048', 'SIGN_VERIFY'), 'KeyNotSymmetric'],
      ['wrong usage', keyIn('Enabled', 'SYMMETRIC_DEFAULT', 'GENERATE_VERIFY_MAC'), 'KeyUsageInvalid'],
      ['not found', { kind: 'notFound', message: 'no such key' }, 'KeyNotFound'],
    ] as const
  ).map(
    ([what, key, reason]): Case => ({
      name: `key ${what}: nothing sent, Stalled ${reason}`,
      resource: resource(
        { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
        { status: known },
      ),
      observed: { app: app(), key },
      actions: [],
      reason,
      phase: 'S',
      events: [reason],
      check: (p) => expect(p.status.diskEncryption?.key).toMatchObject({ verified: false, reason }),
    }),
  ),
  {
    name: 'key access denied: proceeds unverified with a warning',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: { app: app(), key: { kind: 'accessDenied', message: 'denied' } },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyUnverified', 'KeyChanged'],
    check: (p) => expect(p.status.diskEncryption?.key).toEqual({ verified: false, reason: 'AccessDenied' }),
  },
  {
    name: 'key disabled after it was applied: Ready false',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
      key: keyIn('Disabled'),
    },
    actions: [],
    reason: 'KeyDisabled',
    phase: 'S',
    check: (p) =>
      expect(p.status.diskEncryption).toMatchObject({
        mode: 'CustomerManaged',
        key: { verified: false, state: 'Disabled' },
      }),
  },
  // --- key policies (key-policy-check.ts; the evaluator's own table is key-policy-check.test.ts) ---
  {
    name: 'key policy without the service statement: nothing sent, Stalled KeyPolicyDenied naming the statement',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: { app: app(), key: enabledKey(), keyPolicy: policyOf(ROOT_ONLY) },
    actions: [],
    reason: 'KeyPolicyDenied',
    phase: 'S',
    events: ['KeyPolicyDenied'],
    check: (p) => {
      expect(cond(p, 'Stalled')?.message).toContain(JSON.stringify(SERVICE_STATEMENTS));
      expect(cond(p, 'Stalled')?.message).toContain('kms:GenerateDataKey and kms:Decrypt');
      expect(p.status.diskEncryption?.key).toMatchObject({
        verified: false,
        reason: 'KeyPolicyDenied',
        state: 'Enabled',
        policy: { verdict: 'Denies' },
      });
    },
  },
  {
    name: 'key policy with the statement key-policy prints: sent',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: { app: app(), key: enabledKey(), keyPolicy: policyOf(ROOT_ONLY, ...SERVICE_STATEMENTS) },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyChanged'],
    check: (p) =>
      expect(p.status.diskEncryption?.key).toEqual({
        verified: true,
        state: 'Enabled',
        policy: { verdict: 'Allows' },
      }),
  },
  {
    name: 'key policy for another encryption context: nothing sent',
    resource: resource(
      {
        ...baseSpec,
        diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { project: 'b' } },
      },
      { status: known },
    ),
    observed: { app: app(), key: enabledKey(), keyPolicy: policyOf(ROOT_ONLY, ...SERVICE_STATEMENTS) },
    actions: [],
    reason: 'KeyPolicyDenied',
    phase: 'S',
  },
  {
    name: 'a Deny in the key policy overrides the statement: nothing sent, the Deny named',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: {
      app: app(),
      key: enabledKey(),
      keyPolicy: policyOf(...SERVICE_STATEMENTS, {
        Sid: 'NoEmrServerless',
        Effect: 'Deny',
        Principal: { Service: 'emr-serverless.amazonaws.com' },
        Action: 'kms:*',
        Resource: '*',
      }),
    },
    actions: [],
    reason: 'KeyPolicyDenied',
    phase: 'S',
    check: (p) => expect(cond(p, 'Stalled')?.message).toContain('Statement NoEmrServerless'),
  },
  {
    name: 'a key policy the evaluator cannot decide: sent, with a Warning and the reason in status',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: {
      app: app(),
      key: enabledKey(),
      keyPolicy: policyOf({
        ...SERVICE_STATEMENTS[0],
        Condition: { Bool: { 'aws:SecureTransport': 'true' } },
      }),
    },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyPolicyUnverified', 'KeyChanged'],
    check: (p) => {
      expect(p.status.diskEncryption?.key).toMatchObject({ verified: true, policy: { verdict: 'Unknown' } });
      expect(p.status.diskEncryption?.key?.policy?.message).toContain('aws:SecureTransport');
    },
  },
  {
    name: 'the same undecided policy again: no second Warning',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: keyWithContext },
      {
        status: {
          ...known,
          diskEncryption: {
            mode: 'CustomerManaged',
            encryptionKeyArn: KEY_A,
            encryptionContext: { project: 'a' },
            managed: true,
            key: { verified: true, state: 'Enabled', policy: { verdict: 'Unknown', message: 'earlier' } },
          },
        },
      },
    ),
    observed: {
      app: app({ diskEncryptionConfiguration: keyWithContext }),
      key: enabledKey(),
      keyPolicy: policyOf({
        ...SERVICE_STATEMENTS[0],
        Condition: { Bool: { 'aws:SecureTransport': 'true' } },
      }),
    },
    actions: [],
    reason: 'Reconciled',
    phase: 'R',
    events: [],
  },
  {
    name: 'GetKeyPolicy denied: sent, with a Warning saying which permission is missing',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: { app: app(), key: enabledKey(), keyPolicy: { kind: 'accessDenied', message: 'denied' } },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    events: ['KeyPolicyUnverified', 'KeyChanged'],
    check: (p) => {
      expect(p.status.diskEncryption?.key?.policy?.verdict).toBe('NotReadable');
      expect(p.events[0]?.message).toContain('kms:GetKeyPolicy');
    },
  },
  {
    name: 'an application already on a key whose policy denies: reported, never changed',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { status: known }),
    observed: {
      app: app({ diskEncryptionConfiguration: keyWithContext }),
      key: enabledKey(),
      keyPolicy: policyOf(ROOT_ONLY),
    },
    actions: [],
    reason: 'KeyPolicyDenied',
    phase: 'S',
    check: (p) =>
      expect(p.status.diskEncryption).toMatchObject({ mode: 'CustomerManaged', encryptionKeyArn: KEY_A }),
  },
  {
    name: 'create: a statement scoped to the application is undecided before it exists, so the create proceeds',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { finalizer: false }),
    observed: { app: undefined, key: enabledKey(), keyPolicy: policyOf(ROOT_ONLY, ...SERVICE_STATEMENTS) },
    actions: ['AddFinalizer', 'CreateApplication'],
    reason: 'Creating',
    phase: 'P',
    events: ['KeyPolicyUnverified', 'Created'],
  },
  {
    name: 'create: a key policy without any statement for the service refuses the create',
    resource: resource({ ...baseSpec, diskEncryptionConfiguration: keyWithContext }, { finalizer: false }),
    observed: { app: undefined, key: enabledKey(), keyPolicy: policyOf(ROOT_ONLY) },
    actions: [],
    reason: 'KeyPolicyDenied',
    phase: 'S',
  },
  {
    name: '--verify-keys=false: the key is sent unchecked',
    resource: resource(
      { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } },
      { status: known },
    ),
    observed: { app: app() },
    opts: { ...options, verifyKeys: false },
    actions: ['UpdateApplication'],
    reason: 'Updating',
    phase: 'P',
    check: (p) =>
      expect(p.status.diskEncryption?.key).toEqual({ verified: false, reason: 'VerificationDisabled' }),
  },
  // --- deletion ---
  {
    name: 'deletion with a deletionPolicy that did not render waits for one: no stop, no delete',
    resource: resource(baseSpec, {
      status: known,
      deleting: true,
      lastApplied: { spec: { ...baseSpec, deletionPolicy: null } },
    }),
    observed: { app: app() },
    actions: [],
    reason: 'NullValue',
    phase: 'S',
    check: (p) => expect(ready(p)!.message).toContain('spec.deletionPolicy was null'),
  },
  {
    name: 'deletion ignores nulls in fields it does not read',
    resource: resource(baseSpec, {
      status: known,
      deleting: true,
      lastApplied: { spec: { ...baseSpec, autoStopConfiguration: { idleTimeoutMinutes: null } } },
    }),
    observed: { app: app() },
    actions: ['DeleteApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete (created app, default Delete policy): DeleteApplication',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: app({ state: 'CREATED' }) },
    actions: ['DeleteApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete: TERMINATED releases the finalizer',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: app({ state: 'TERMINATED' }) },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['Deleted'],
  },
  {
    name: 'delete while the namespace acts in another account: the finalizer stays, nothing is deleted',
    resource: resource(baseSpec, { status: { ...known, account: '111111111111' }, deleting: true }),
    observed: { app: null, account: '123456789012' },
    actions: [],
    reason: 'AccountMappingChanged',
    phase: 'S',
    check: (p) => expect(cond(p, 'Stalled')?.message).toContain('the finalizer stays'),
  },
  {
    name: 'delete (Retain) while the namespace acts in another account: the finalizer stays too',
    resource: resource(
      { applicationId: '00fapp1' },
      { status: { ...known, account: '111111111111', origin: 'Adopted' }, deleting: true },
    ),
    observed: { app: null, account: '444444444444' },
    actions: [],
    reason: 'AccountMappingChanged',
    phase: 'S',
  },
  {
    name: 'delete: not found releases the finalizer',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: null },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete an adopted app: Retain by default',
    resource: resource({ applicationId: '00fapp1' }, { status: known, deleting: true }),
    observed: { app: app() },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['Retained'],
  },
  {
    name: 'delete a resource that never bound (another owner): the application is not touched',
    resource: resource({ applicationId: '00fapp1', deletionPolicy: 'Delete' }, { deleting: true }),
    observed: { app: app({ tags: { [OWNER_UID_TAG]: 'other-uid' } }) },
    opts: adopting,
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['Released'],
  },
  {
    name: 'delete a resource refused adoption: the unclaimed application is not touched',
    resource: resource({ applicationId: '00fapp1', deletionPolicy: 'Delete' }, { deleting: true }),
    observed: { app: app({ tags: {} }) },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['Released'],
  },
  {
    name: 'delete a created app after spec.applicationId was added: origin decides, Delete',
    resource: resource(
      { ...baseSpec, applicationId: '00fother' },
      { status: { ...known, origin: 'Created' }, deleting: true },
    ),
    observed: { app: app() },
    actions: ['DeleteApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete an adopted app with Delete where adoption is no longer allowed: retained, with a warning',
    resource: resource(
      { applicationId: '00fapp1', deletionPolicy: 'Delete' },
      { status: { ...known, origin: 'Adopted' }, deleting: true },
    ),
    observed: { app: app() },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['AdoptionNotAllowed', 'Retained'],
  },
  {
    name: 'delete an adopted app with Delete where adoption is allowed',
    resource: resource(
      { applicationId: '00fapp1', deletionPolicy: 'Delete' },
      { status: { ...known, origin: 'Adopted' }, deleting: true },
    ),
    observed: { app: app() },
    opts: adopting,
    actions: ['DeleteApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete with deletionPolicy Retain on a created app',
    resource: resource({ ...baseSpec, deletionPolicy: 'Retain' }, { status: known, deleting: true }),
    observed: { app: app() },
    actions: ['RemoveFinalizer'],
    reason: 'Deleting',
    phase: 'P',
    events: ['Retained'],
  },
  {
    name: 'delete a STARTED app without job runs: stop first',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: app({ state: 'STARTED' }), activeWork: { jobRuns: 0, sessions: 0 } },
    actions: ['StopApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
  {
    name: 'delete a STARTED app with running job runs: wait, never cancel',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: app({ state: 'STARTED' }), activeWork: { jobRuns: 1, sessions: 0 } },
    actions: [],
    reason: 'WaitingForJobRuns',
    phase: 'P',
  },
  {
    name: 'delete a STARTED app with an open session: wait, never terminate it',
    resource: resource(baseSpec, { status: known, deleting: true }),
    observed: { app: app({ state: 'STARTED' }), activeWork: { jobRuns: 0, sessions: 2 } },
    actions: [],
    reason: 'WaitingForSessions',
    phase: 'P',
  },
  {
    name: 'delete with an invalid spec still works',
    resource: resource(
      { name: 'x', diskEncryptionConfiguration: { encryptionContext: { a: 'b' } } },
      { status: known, deleting: true },
    ),
    observed: { app: app({ state: 'STOPPED' }) },
    actions: ['DeleteApplication'],
    reason: 'Deleting',
    phase: 'P',
  },
];

describe('planner', () => {
  it.each(cases)('$name', (c) => {
    const p = run(c.resource, c.observed, c.opts);
    expect(kinds(p)).toEqual(c.actions);
    expect(ready(p)?.reason).toBe(c.reason);
    const phase = ready(p)?.status === 'True' ? 'R' : cond(p, 'Stalled') ? 'S' : 'P';
    // AddFinalizer-only plans report Ready; the phase of those is checked as planned.
    if (c.actions.length === 0 || c.phase !== 'P') expect(phase).toBe(c.phase);
    if (c.events) expect(reasons(p)).toEqual(c.events);
    if (c.sent) expect(update(p)?.changes).toEqual(c.sent);
    c.check?.(p);
  });

  it('writes nothing when in sync: the second plan equals the status it started from', () => {
    const spec = {
      ...baseSpec,
      tags: { team: 'data' },
      diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'a' } },
    };
    const aws = app({
      state: 'STARTED',
      tags: { ...OWNED, team: 'data' },
      diskEncryptionConfiguration: { encryptionKeyArn: KEY_A, encryptionContext: { p: 'a' } },
    });
    const first = run(resource(spec, { status: known }), { app: aws, key: enabledKey() });
    const later = plan({
      resource: resource(spec, { status: first.status }),
      observed: { app: aws, key: enabledKey() },
      options,
      now: new Date(NOW.getTime() + 3_600_000),
    });
    expect(later.actions).toEqual([]);
    expect(later.events).toEqual([]);
    expect(jsonEqual(later.status, first.status)).toBe(true);
    expect(later.requeueAfterMs).toBe(options.resyncPeriodMs);
  });

  it('moves lastTransitionTime only when a condition flips', () => {
    const spec = { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } };
    const waiting = run(resource(spec, { status: known }), {
      app: app({ state: 'STARTED' }),
      key: enabledKey(),
    });
    const later = new Date(NOW.getTime() + 60_000);
    const stillWaiting = plan({
      resource: resource(spec, { status: waiting.status }),
      observed: { app: app({ state: 'STARTED' }), key: enabledKey() },
      options,
      now: later,
    });
    expect(stillWaiting.status.conditions).toEqual(waiting.status.conditions);
    expect(stillWaiting.events).toEqual([]);
    // Polls back off: a quarter of the time waited so far.
    expect(stillWaiting.requeueAfterMs).toBe(15_000);
    const done = plan({
      resource: resource(spec, { status: waiting.status }),
      observed: {
        app: app({ state: 'STOPPED', diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
        key: enabledKey(),
      },
      options,
      now: later,
    });
    expect(ready(done)).toMatchObject({
      status: 'True',
      lastTransitionTime: '2026-11-23T12:01:00Z',
      observedGeneration: 3,
    });
  });

  it('the removal warning is said once', () => {
    const status: Status = {
      ...known,
      diskEncryption: { mode: 'CustomerManaged', encryptionKeyArn: KEY_A, managed: true },
    };
    const first = run(resource(baseSpec, { status }), {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
    });
    const second = run(resource(baseSpec, { status: first.status }), {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } }),
    });
    expect(reasons(first)).toEqual(['DiskEncryptionUnmanaged']);
    expect(reasons(second)).toEqual([]);
  });

  it('a resource being deleted without the finalizer is left alone', () => {
    const p = run(resource(baseSpec, { status: known, deleting: true, finalizer: false }), { app: app() });
    expect(p.actions).toEqual([]);
    expect(p.status).toEqual(known);
  });
});

// A deletion that searched (ListApplications by name and tag, no id ever recorded: a lost
// CreateApplication answer) and found nothing: released only after a second empty search at least
// the listing lag later. The first one's time is kept in status (a restart never shortens the wait).
describe('deletion after a search that found nothing', () => {
  const LAG = 10_000;
  const at = (msBefore: number) => new Date(NOW.getTime() - msBefore).toISOString();
  const unbound = (deletionSearch?: string, spec: Partial<Spec> = baseSpec) =>
    resource(spec, { deleting: true, ...(deletionSearch && { status: { deletionSearch } }) });
  const conditionMessage = (p: Plan) => cond(p, 'Reconciling')?.message ?? '';

  it.each([
    // name, status.deletionSearch, observed, options, actions, deletionSearch after, requeue
    ['first empty search: kept, the time recorded', undefined, null, options, [], NOW.toISOString(), LAG],
    ['searched again too early: the first time kept', at(4_000), null, options, [], at(4_000), 6_000],
    ['searched again a lag later: released', at(LAG), null, options, ['RemoveFinalizer'], undefined, 0],
    ['long after: released', at(3_600_000), null, options, ['RemoveFinalizer'], undefined, 0],
    [
      'a first time in the future (another clock): starts over',
      at(-60_000),
      null,
      options,
      [],
      NOW.toISOString(),
      LAG,
    ],
    ['an unreadable first time: starts over', 'yesterday', null, options, [], NOW.toISOString(), LAG],
    [
      'a lower --listing-lag, waited out',
      at(2_000),
      null,
      { ...options, listingLagMs: 2_000 },
      ['RemoveFinalizer'],
      undefined,
      0,
    ],
    [
      'a lower --listing-lag, first search',
      undefined,
      null,
      { ...options, listingLagMs: 2_000 },
      [],
      NOW.toISOString(),
      2_000,
    ],
    [
      '--listing-lag 0: one search is enough',
      undefined,
      null,
      { ...options, listingLagMs: 0 },
      ['RemoveFinalizer'],
      undefined,
      0,
    ],
    [
      'found once the listing shows it: deleted, the search time dropped',
      at(LAG),
      app({ state: 'CREATED' }),
      options,
      ['DeleteApplication'],
      undefined,
      0,
    ],
    [
      'found while waiting: deleted',
      at(2_000),
      app({ state: 'CREATED' }),
      options,
      ['DeleteApplication'],
      undefined,
      0,
    ],
  ] as const)('%s', (_what, first, found, opts, actions, after, requeue) => {
    const p = run(unbound(first), { app: found }, opts);
    expect(kinds(p)).toEqual(actions);
    expect(p.status.deletionSearch).toBe(after);
    expect(p.requeueAfterMs).toBe(requeue);
    expect(cond(p, 'Reconciling')?.reason).toBe('Deleting');
    if (actions.length === 0) {
      expect(reasons(p)).toEqual([]);
      expect(conditionMessage(p)).toContain('may not be listed yet: the finalizer stays');
      expect(conditionMessage(p)).toContain(`tag ${OWNER_UID_TAG}=${UID}`);
    }
  });

  it('says what was searched when it releases', () => {
    const p = run(unbound(at(LAG)), { app: null });
    expect(reasons(p)).toEqual(['Deleted']);
    expect(conditionMessage(p)).toContain('found none, twice, at least 10 s apart');
  });

  it.each([
    ['Retain', 'Retained'],
    ['Delete', 'Deleting'],
  ] as const)('deletionPolicy %s: waits the same; released (or deleted) only once found', (policy, then) => {
    const spec = { ...baseSpec, deletionPolicy: policy };
    const waiting = run(unbound(undefined, spec), { app: null });
    expect(kinds(waiting)).toEqual([]);
    const found = run(unbound(waiting.status.deletionSearch, spec), { app: app({ state: 'CREATED' }) });
    expect(found.status.deletionSearch).toBeUndefined();
    expect([...found.actions.flatMap((a) => a.events ?? [])].map((e) => e.reason)).toEqual([then]);
  });

  it('a recorded id is read, not searched: not found releases at once', () => {
    const p = run(resource(baseSpec, { status: known, deleting: true }), { app: null });
    expect(kinds(p)).toEqual(['RemoveFinalizer']);
  });

  it('nothing to search for (no name, so nothing was created): released at once', () => {
    const p = run(resource({ type: 'SPARK' }, { deleting: true }), { app: undefined });
    expect(kinds(p)).toEqual(['RemoveFinalizer']);
  });

  it('a plan that is not a deletion carries no search time', () => {
    const p = run(resource(baseSpec, { status: { ...known, deletionSearch: at(1_000) } }), { app: app() });
    expect(p.status.deletionSearch).toBeUndefined();
  });
});

// A create written ahead: status.pendingCreate (name, region, client token) is in status before
// CreateApplication is sent. From then on the search uses the recorded values, spec may not move
// them, and a create whose search finds nothing is sent again (same token) only once the absence
// is confirmed a listing lag later.
describe('a create written ahead (status.pendingCreate)', () => {
  const LAG = 10_000;
  const at = (msBefore: number) => new Date(NOW.getTime() - msBefore).toISOString();
  const recorded = (more: Partial<PendingCreate> = {}): PendingCreate => ({
    name: 'analytics',
    region: 'eu-west-1',
    clientToken: UID,
    ...more,
  });
  const pending = (spec: Partial<Spec> = baseSpec, p: PendingCreate = recorded(), more = {}) =>
    resource(spec, { status: { pendingCreate: p, region: p.region }, ...more });
  const create = (p: Plan) =>
    p.actions.find((a) => a.kind === 'CreateApplication') as
      | Extract<Plan['actions'][number], { kind: 'CreateApplication' }>
      | undefined;
  const message = (p: Plan) =>
    cond(p, 'Stalled')?.message ?? cond(p, 'Reconciling')?.message ?? ready(p)?.message ?? '';

  it('the first create records name, region and token in the planned status (written ahead of the call)', () => {
    const p = run(resource({ ...baseSpec, region: 'us-west-2' }, { finalizer: false }), { app: undefined });
    expect(kinds(p)).toEqual(['AddFinalizer', 'CreateApplication']);
    expect(p.status.pendingCreate).toEqual({ name: 'analytics', region: 'us-west-2', clientToken: UID });
    expect(p.status.region).toBe('us-west-2');
    expect(create(p)?.input.clientToken).toBe(UID);
  });

  it.each([
    // name, spec, pendingCreate, observed, options, actions, Ready reason, phase, message, pendingCreate after, requeue
    [
      'found where it was sent: bound, the record dropped',
      baseSpec,
      recorded(),
      app({ state: 'CREATED' }),
      options,
      [],
      'Reconciled',
      'R',
      'matches spec',
      undefined,
      options.resyncPeriodMs,
    ],
    [
      'found while the listing-lag wait runs: bound, the record dropped',
      baseSpec,
      recorded({ notFoundSince: at(3_000) }),
      app({ state: 'CREATED' }),
      options,
      [],
      'Reconciled',
      'R',
      'matches spec',
      undefined,
      options.resyncPeriodMs,
    ],
    [
      'the first empty search: no create, its time recorded',
      baseSpec,
      recorded(),
      null,
      options,
      [],
      'Creating',
      'P',
      'may not be listed yet',
      recorded({ notFoundSince: NOW.toISOString() }),
      LAG,
    ],
    [
      'searched again too early: no create, the first time kept',
      baseSpec,
      recorded({ notFoundSince: at(4_000) }),
      null,
      options,
      [],
      'Creating',
      'P',
      'next in 6 s',
      recorded({ notFoundSince: at(4_000) }),
      6_000,
    ],
    [
      'a first time in the future (another clock): starts over',
      baseSpec,
      recorded({ notFoundSince: at(-60_000) }),
      null,
      options,
      [],
      'Creating',
      'P',
      'may not be listed yet',
      recorded({ notFoundSince: NOW.toISOString() }),
      LAG,
    ],
    [
      'absent a listing lag later: sent again with the same token, the wait dropped',
      baseSpec,
      recorded({ notFoundSince: at(LAG) }),
      null,
      options,
      ['CreateApplication'],
      'Creating',
      'P',
      'again',
      recorded(),
      0,
    ],
    [
      '--listing-lag 0: one empty search is enough',
      baseSpec,
      recorded(),
      null,
      { ...options, listingLagMs: 0 },
      ['CreateApplication'],
      'Creating',
      'P',
      'again',
      recorded(),
      0,
    ],
    [
      'recorded in another region than the default: the create goes there',
      baseSpec,
      recorded({ region: 'us-west-2', notFoundSince: at(LAG) }),
      null,
      options,
      ['CreateApplication'],
      'Creating',
      'P',
      'in us-west-2 again',
      recorded({ region: 'us-west-2' }),
      0,
    ],
    [
      'spec.region changed (admission bypassed): Stalled, nothing sent, the record kept',
      { ...baseSpec, region: 'us-west-2' },
      recorded(),
      null,
      options,
      [],
      'ImmutableFieldConflict',
      'S',
      'spec.region is us-west-2, but application analytics is being created for this resource in eu-west-1',
      recorded(),
      options.resyncPeriodMs,
    ],
    [
      'spec.region changed, the application found: Stalled, not bound under a spec that moved',
      { ...baseSpec, region: 'us-west-2' },
      recorded(),
      app({ state: 'CREATED' }),
      options,
      [],
      'ImmutableFieldConflict',
      'S',
      'Put it back',
      recorded(),
      options.resyncPeriodMs,
    ],
    [
      'spec.name changed: Stalled',
      { ...baseSpec, name: 'renamed' },
      recorded(),
      null,
      options,
      [],
      'ImmutableFieldConflict',
      'S',
      'spec.name is renamed, but application analytics is being created',
      recorded(),
      options.resyncPeriodMs,
    ],
    [
      'spec.applicationId added: Stalled, no adoption',
      { ...baseSpec, applicationId: '00fother' },
      recorded(),
      null,
      adopting,
      [],
      'ImmutableFieldConflict',
      'S',
      'spec.applicationId was added',
      recorded(),
      options.resyncPeriodMs,
    ],
    [
      'spec.region set to the recorded region: no conflict',
      { ...baseSpec, region: 'eu-west-1' },
      recorded(),
      app({ state: 'CREATED' }),
      options,
      [],
      'Reconciled',
      'R',
      'matches spec',
      undefined,
      options.resyncPeriodMs,
    ],
  ] as const)('%s', (_what, spec, before, found, opts, actions, reason, phase, text, after, requeue) => {
    const p = run(pending(spec, before), { app: found }, opts);
    expect(kinds(p)).toEqual(actions);
    expect(ready(p)?.reason).toBe(reason);
    const seen = ready(p)?.status === 'True' ? 'R' : cond(p, 'Stalled') ? 'S' : 'P';
    expect(seen).toBe(phase);
    expect(message(p)).toContain(text);
    expect(p.status.pendingCreate).toEqual(after);
    expect(p.requeueAfterMs).toBe(requeue);
    if (found) expect(p.status.applicationId).toBe(phase === 'S' ? undefined : found.applicationId);
    const sent = create(p);
    if (sent) {
      expect(sent.input.clientToken).toBe(before.clientToken);
      expect(sent.input.name).toBe(before.name);
      expect(p.status.region).toBe(before.region);
    }
  });

  it('the recorded values choose the search, the region and the origin, not spec', () => {
    const r = pending(
      { ...baseSpec, name: 'renamed', applicationId: '00fother' },
      recorded({ region: 'us-west-2' }),
    );
    expect(unrecordedSearchOf(r)).toEqual({ name: 'analytics', ownerUid: UID });
    expect(regionOf(r, 'eu-west-1')).toBe('us-west-2');
    expect(applicationIdOf(r)).toBeUndefined();
    // Without a record, spec's name is searched for (a create sent by an earlier version, or
    // one AWS refused), in the scope's shared listing: no create of this process is in doubt.
    expect(unrecordedSearchOf(resource(baseSpec))).toEqual({
      name: 'analytics',
      ownerUid: UID,
      listedAfter: 0,
    });
    // A deletion confirming an empty search takes a listing at least the lag after the first.
    const deleting = resource(baseSpec, { deleting: true, status: { deletionSearch: NOW.toISOString() } });
    expect(unrecordedSearchOf(deleting, 10_000)).toEqual({
      name: 'analytics',
      ownerUid: UID,
      listedAfter: NOW.getTime() + 10_000,
    });
    // A binding wins over a record left behind.
    const bound = resource(baseSpec, {
      status: { ...known, pendingCreate: recorded({ region: 'us-west-2' }) },
    });
    expect(unrecordedSearchOf(bound)).toBeUndefined();
    expect(regionOf(bound, 'eu-west-1')).toBe('eu-west-1');
  });

  it.each([
    // name, deletionPolicy, pendingCreate, observed, actions, deletionSearch after
    [
      'found: deleted (Delete, the default for a created one)',
      undefined,
      app({ state: 'CREATED' }),
      ['DeleteApplication'],
    ],
    ['found, Retain: released', 'Retain', app({ state: 'CREATED' }), ['RemoveFinalizer']],
    ['not found yet: the finalizer stays', undefined, null, []],
  ] as const)('deleted while a create is pending, %s', (_what, policy, found, actions) => {
    const spec = { ...baseSpec, region: 'us-west-2', ...(policy && { deletionPolicy: policy }) };
    const p = run(pending(spec, recorded(), { deleting: true }), { app: found });
    expect(kinds(p)).toEqual(actions);
    if (!found) {
      expect(p.status.deletionSearch).toBe(NOW.toISOString());
      expect(message(p)).toContain(
        `ListApplications in eu-west-1 by name analytics and tag ${OWNER_UID_TAG}=${UID}`,
      );
      expect(p.status.pendingCreate).toEqual(recorded());
    } else {
      expect(p.status.applicationId).toBe(found.applicationId);
      expect(p.status.pendingCreate).toBeUndefined();
    }
  });

  it('the next step after an answered create (id and record both there) drops the record', () => {
    const p = run(resource(baseSpec, { status: { ...known, pendingCreate: recorded() } }), {
      app: app({ state: 'CREATING' }),
    });
    expect(p.status.pendingCreate).toBeUndefined();
    expect(p.status.applicationId).toBe('00fapp1');
  });

  it.each([
    ['refused outright: withdrawn, the create did not happen', true, undefined],
    ['a 5xx or a lost connection: kept, the create may have happened', false, recorded()],
  ] as const)('a failed CreateApplication, %s', (_what, refused, after) => {
    const s = intentsAfterFailure({ pendingCreate: recorded(), region: 'eu-west-1' }, {}, refused);
    expect(s.pendingCreate).toEqual(after);
  });
});

describe('planFailure', () => {
  const input = { resource: resource(baseSpec, { status: known }), options, now: NOW };
  it.each([
    ['throttled', 'AwsThrottled', true, undefined],
    ['transient', 'AwsUnavailable', true, undefined],
    ['stateRace', 'ApplicationStateChanged', true, undefined],
    // Refused input backs off like any repeated failure: an edit that is not a spec change (a
    // label, an annotation) cannot turn it into a CreateApplication per edit.
    ['invalid', 'AwsRejected', true, 'Stalled'],
    ['accessDenied', 'AccessDenied', false, 'Stalled'],
    ['quota', 'QuotaExceeded', false, 'Stalled'],
  ] as const)('%s -> %s', (kind, reason, backoff, stalled) => {
    const f = planFailure(input, undefined, { kind, operation: 'UpdateApplication', message: 'boom' });
    expect(f.backoff).toBe(backoff);
    expect(f.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason });
    expect(f.status.conditions?.some((c) => c.type === 'Stalled')).toBe(stalled === 'Stalled');
    expect(f.status.applicationId).toBe('00fapp1');
  });
});

describe('NotConverging', () => {
  const spec = { ...baseSpec, diskEncryptionConfiguration: { encryptionKeyArn: KEY_B } };
  // AWS answers the update but keeps key A.
  const stuck = app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_A } });
  const observed = { app: stuck, key: enabledKey(KEY_B) };
  const at = (ms: number) => new Date(NOW.getTime() + ms);

  /** Plans `times` rounds in a row, each seeing AWS unchanged, feeding each status to the next. */
  function rounds(times: number, first: Status = known, start = 0, generation = 3) {
    let status = first;
    const plans: Plan[] = [];
    for (let i = 0; i < times; i++) {
      const r = resource(spec, { status });
      r.metadata.generation = generation;
      const p = plan({ resource: r, observed, options, now: at(start + i * 1_000) });
      plans.push(p);
      status = p.status;
    }
    return plans;
  }

  it('sends the same update 3 times, then stalls naming the field, the value sent and the value seen', () => {
    const plans = rounds(4);
    expect(plans.slice(0, 3).map((p) => kinds(p))).toEqual([
      ['UpdateApplication'],
      ['UpdateApplication'],
      ['UpdateApplication'],
    ]);
    expect(plans.slice(0, 3).map((p) => p.status.updateAttempts?.count)).toEqual([1, 2, 3]);
    const stalled = plans[3]!;
    expect(kinds(stalled)).toEqual([]);
    expect(cond(stalled, 'Stalled')).toMatchObject({ status: 'True', reason: 'NotConverging' });
    const message = ready(stalled)!.message;
    expect(message).toContain('diskEncryptionConfiguration');
    expect(message).toContain(`sent {"encryptionContext":{},"encryptionKeyArn":"${KEY_B}"}`);
    expect(message).toContain(`AWS has {"encryptionKeyArn":"${KEY_A}"}`);
    expect(reasons(stalled)).toEqual(['NotConverging']);
    // Looked at again when the resync period since the last attempt is over, not before.
    expect(stalled.requeueAfterMs).toBe(options.resyncPeriodMs - 1_000);
    // The message names that time, not a countdown: looking again before then writes nothing.
    const again = rounds(1, stalled.status, 4_000)[0]!;
    expect(again.status).toEqual(stalled.status);
  });

  it('after the resync period it is sent once more; a new generation starts the count again', () => {
    const plans = rounds(4);
    const afterResync = rounds(2, plans[3]!.status, 2_000 + options.resyncPeriodMs);
    expect(kinds(afterResync[0]!)).toEqual(['UpdateApplication']);
    expect(afterResync[0]!.status.updateAttempts?.count).toBe(4);
    // The retry stays Stalled (no flip to Updating and back) and says nothing new.
    expect(cond(afterResync[0]!, 'Stalled')?.reason).toBe('NotConverging');
    expect(ready(afterResync[0]!)?.message).toContain('Sent once more at this resync.');
    expect(afterResync[0]!.events).toEqual([]);
    expect(kinds(afterResync[1]!)).toEqual([]);
    expect(ready(afterResync[1]!)?.reason).toBe('NotConverging');
    expect(afterResync[1]!.events).toEqual([]);

    const newSpec = rounds(1, plans[3]!.status, 5_000, 4)[0]!;
    expect(kinds(newSpec)).toEqual(['UpdateApplication']);
    expect(newSpec.status.updateAttempts?.count).toBe(1);
  });

  it('an application the operator stopped for an update that does not land is started again, not stopped again', () => {
    const stalled = rounds(4)[3]!;
    const stopped = plan({
      resource: resource(
        { ...spec, updateStrategy: 'StopWhenIdle' },
        { status: { ...stalled.status, restartAfterUpdate: true } },
      ),
      observed,
      options,
      now: at(5_000),
    });
    expect(kinds(stopped)).toEqual(['StartApplication']);
    expect(cond(stopped, 'Stalled')?.reason).toBe('NotConverging');
    const started = plan({
      resource: resource({ ...spec, updateStrategy: 'StopWhenIdle' }, { status: stalled.status }),
      observed: { ...observed, app: { ...stuck, state: 'STARTED' }, activeWork: { jobRuns: 0, sessions: 0 } },
      options,
      now: at(6_000),
    });
    expect(kinds(started)).toEqual([]);
    expect(cond(started, 'Stalled')?.reason).toBe('NotConverging');
  });

  it('a converged update clears the record', () => {
    const sent = rounds(1)[0]!;
    const done = run(resource(spec, { status: sent.status }), {
      app: app({ diskEncryptionConfiguration: { encryptionKeyArn: KEY_B, encryptionContext: {} } }),
      key: enabledKey(KEY_B),
    });
    expect(kinds(done)).toEqual([]);
    expect(done.status.updateAttempts).toBeUndefined();
    expect(ready(done)?.status).toBe('True');
  });
});

describe('intents after a failed step', () => {
  const attempts = {
    digest: 'd',
    fields: ['releaseLabel'],
    count: 2,
    generation: 3,
    lastAttemptTime: NOW.toISOString(),
  };
  const planned: Status = { ...known, restartAfterUpdate: true, updateAttempts: attempts };
  it('a refused call withdraws both: it did not happen', () => {
    const s = intentsAfterFailure(
      planned,
      { restartAfterUpdate: undefined, updateAttempts: undefined },
      true,
    );
    expect(s.restartAfterUpdate).toBeUndefined();
    expect(s.updateAttempts).toBeUndefined();
  });
  it('a 5xx or a lost connection keeps the restart intent (the stop may have happened), not the count', () => {
    const s = intentsAfterFailure(
      planned,
      { restartAfterUpdate: undefined, updateAttempts: undefined },
      false,
    );
    expect(s.restartAfterUpdate).toBe(true);
    expect(s.updateAttempts).toBeUndefined();
  });
});
