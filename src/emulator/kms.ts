// KMS (awsJson1_1, `x-amz-target: TrentService.<Operation>`): the key management the operator
// needs to verify a disk encryption key, and what tests need to make one in any state.
//
// A key is named by key id, key ARN, alias name or alias ARN. A bare key id or alias name is
// looked up in the caller's account and region only (like real KMS); a key of another account or
// region must be named by ARN.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { CallContext } from './emr.js';
import { kmsError, ServiceError } from './errors.js';
import {
  type AccessRequest,
  defaultKeyPolicy,
  type IamService,
  type PolicyDocument,
  parsePolicy,
  type RequestContext,
  type RequestPrincipal,
} from './iam.js';
import { isBuiltIn, requestPrincipal } from './sts.js';
import { parseInput } from './validation.js';

export const KEY_SPECS = [
  'SYMMETRIC_DEFAULT',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'ECC_NIST_EDWARDS25519',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'SM2',
  'ML_DSA_44',
  'ML_DSA_65',
  'ML_DSA_87',
  'ML_KEM_512',
  'ML_KEM_768',
  'ML_KEM_1024',
] as const;
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = [
  'ENCRYPT_DECRYPT',
  'SIGN_VERIFY',
  'GENERATE_VERIFY_MAC',
  'KEY_AGREEMENT',
  'ENCAPSULATE_DECAPSULATE',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export const KEY_STATES = [
  'Creating',
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'PendingImport',
  'PendingReplicaDeletion',
  'Unavailable',
  'Updating',
] as const;
export type KeyState = (typeof KEY_STATES)[number];

/** The key usages each key spec supports (KMS developer guide, "Key spec reference"). */
function usagesOf(spec: KeySpec): readonly KeyUsage[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['ENCRYPT_DECRYPT'];
  if (spec.startsWith('RSA_')) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'];
  if (spec.startsWith('ECC_NIST_P')) return ['SIGN_VERIFY', 'KEY_AGREEMENT'];
  if (spec.startsWith('ECC_')) return ['SIGN_VERIFY'];
  if (spec.startsWith('HMAC_')) return ['GENERATE_VERIFY_MAC'];
  if (spec === 'SM2') return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'KEY_AGREEMENT'];
  if (spec.startsWith('ML_DSA_')) return ['SIGN_VERIFY'];
  return ['ENCAPSULATE_DECAPSULATE'];
}

function algorithms(spec: KeySpec, usage: KeyUsage): Record<string, string[]> {
  if (usage === 'ENCRYPT_DECRYPT') {
    if (spec === 'SYMMETRIC_DEFAULT') return { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] };
    if (spec === 'SM2') return { EncryptionAlgorithms: ['SM2PKE'] };
    return { EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] };
  }
  if (usage === 'SIGN_VERIFY') {
    if (spec.startsWith('RSA_')) {
      const sizes = ['256', '384', '512'];
      return {
        SigningAlgorithms: [
          ...sizes.map((s) => `RSASSA_PSS_SHA_${s}`),
          ...sizes.map((s) => `RSASSA_PKCS1_V1_5_SHA_${s}`),
        ],
      };
    }
    const byCurve: Record<string, string[]> = {
      ECC_NIST_P256: ['ECDSA_SHA_256'],
      ECC_NIST_P384: ['ECDSA_SHA_384'],
      ECC_NIST_P521: ['ECDSA_SHA_512'],
      ECC_SECG_P256K1: ['ECDSA_SHA_256'],
      ECC_NIST_EDWARDS25519: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
      SM2: ['SM2DSA'],
    };
    return { SigningAlgorithms: byCurve[spec] ?? ['ML_DSA_SHAKE_256'] };
  }
  if (usage === 'GENERATE_VERIFY_MAC') return { MacAlgorithms: [`HMAC_SHA_${spec.slice('HMAC_'.length)}`] };
  if (usage === 'KEY_AGREEMENT') return { KeyAgreementAlgorithms: ['ECDH'] };
  return {};
}

interface KeyRecord {
  keyId: string;
  arn: string;
  account: string;
  region: string;
  creationDate: number;
  description: string;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  keyState: KeyState;
  origin: string;
  multiRegion: boolean;
  deletionDate?: number | undefined;
  pendingWindowInDays?: number | undefined;
  /** Set through the control API: every KMS call on the key answers AccessDeniedException. */
  denied: boolean;
  /** The key policy (`default`), as last put: the text GetKeyPolicy answers, and its parse. */
  policyText: string;
  policy: PolicyDocument;
  /** The key material: data keys are really encrypted (AES-256-GCM, the encryption context bound as AAD). */
  material: Buffer;
}

interface AliasRecord {
  aliasArn: string;
  aliasName: string;
  targetArn: string;
}

export interface CreateKeyOptions {
  keySpec?: string;
  keyUsage?: string;
  keyState?: string;
  account?: string;
  region?: string;
  multiRegion?: boolean;
  description?: string;
  origin?: string;
  /** The key policy (a JSON object or its text); default: AWS's default key policy. */
  policy?: unknown;
}

/** A use of a key by another service on a caller's behalf, or by a service principal itself. */
export interface KeyUse {
  who: RequestPrincipal;
  /** The built-in caller (AdministratorAccess). */
  builtIn: boolean;
  region: string;
  actions: readonly string[];
  context?: RequestContext;
}

type Json = Record<string, unknown>;

const createKeyRequest = z.object({
  Description: z.string().max(8192).optional(),
  KeyUsage: z.enum(KEY_USAGES).optional(),
  KeySpec: z.enum(KEY_SPECS).optional(),
  CustomerMasterKeySpec: z.enum(KEY_SPECS).optional(),
  Origin: z.enum(['AWS_KMS', 'EXTERNAL']).optional(),
  MultiRegion: z.boolean().optional(),
  Policy: z.string().min(1).max(131072).optional(),
  BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
  Tags: z.array(z.object({ TagKey: z.string().min(1).max(128), TagValue: z.string().max(256) })).optional(),
});
const keyIdRequest = z.object({ KeyId: z.string().min(1).max(2048) });
const POLICY_NAME = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\w]+$/);
const getKeyPolicyRequest = keyIdRequest.extend({ PolicyName: POLICY_NAME.optional() });
const putKeyPolicyRequest = keyIdRequest.extend({
  PolicyName: POLICY_NAME.optional(),
  Policy: z.string().min(1).max(131072),
  BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
});
const encryptionContext = z.record(z.string(), z.string()).optional();
const generateDataKeyRequest = keyIdRequest.extend({
  EncryptionContext: encryptionContext,
  NumberOfBytes: z.int().min(1).max(1024).optional(),
  KeySpec: z.enum(['AES_256', 'AES_128']).optional(),
  GrantTokens: z.array(z.string()).max(10).optional(),
  DryRun: z.boolean().optional(),
});
const decryptRequest = z.object({
  CiphertextBlob: z.string().min(1),
  EncryptionContext: encryptionContext,
  KeyId: z.string().min(1).max(2048).optional(),
  EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
  GrantTokens: z.array(z.string()).max(10).optional(),
  DryRun: z.boolean().optional(),
});
const scheduleRequest = z.object({
  KeyId: z.string().min(1).max(2048),
  PendingWindowInDays: z.int().min(7).max(30).optional(),
});
const createAliasRequest = z.object({
  AliasName: z
    .string()
    .min(1)
    .max(256)
    .regex(/^alias\/[a-zA-Z0-9/_-]+$/),
  TargetKeyId: z.string().min(1).max(2048),
});

const seconds = (ms: number): number => ms / 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function stateWords(state: KeyState): string {
  return state.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

export class KmsService {
  private keys = new Map<string, KeyRecord>();
  private aliases = new Map<string, AliasRecord>();

  constructor(private readonly opts: { accountId: string; defaultRegion: string; iam?: IamService }) {}

  reset(): void {
    this.keys.clear();
    this.aliases.clear();
  }

  static readonly OPERATIONS = [
    'CreateKey',
    'DescribeKey',
    'EnableKey',
    'DisableKey',
    'ScheduleKeyDeletion',
    'CancelKeyDeletion',
    'CreateAlias',
    'GetKeyPolicy',
    'PutKeyPolicy',
    'GenerateDataKey',
    'Decrypt',
  ] as const;

  handle(ctx: CallContext, operation: string, body: unknown): Json {
    switch (operation) {
      case 'CreateKey':
        return this.createKeyApi(ctx, body);
      case 'DescribeKey': {
        const key = this.resolve(ctx, parseInput(keyIdRequest, body).KeyId, operation);
        return { KeyMetadata: this.metadata(key) };
      }
      case 'EnableKey': {
        const key = this.resolve(ctx, parseInput(keyIdRequest, body).KeyId, operation);
        this.requireState(key, ['Enabled', 'Disabled']);
        key.keyState = 'Enabled';
        return {};
      }
      case 'DisableKey': {
        const key = this.resolve(ctx, parseInput(keyIdRequest, body).KeyId, operation);
        this.requireState(key, ['Enabled', 'Disabled']);
        key.keyState = 'Disabled';
        return {};
      }
      case 'ScheduleKeyDeletion': {
        const input = parseInput(scheduleRequest, body);
        const key = this.resolve(ctx, input.KeyId, operation);
        this.requireState(key, ['Enabled', 'Disabled', 'PendingImport', 'Unavailable']);
        const days = input.PendingWindowInDays ?? 30;
        this.markPendingDeletion(key, days);
        return {
          KeyId: key.arn,
          DeletionDate: seconds(key.deletionDate!),
          KeyState: key.keyState,
          PendingWindowInDays: days,
        };
      }
      case 'CancelKeyDeletion': {
        const key = this.resolve(ctx, parseInput(keyIdRequest, body).KeyId, operation);
        if (key.keyState !== 'PendingDeletion') {
          throw kmsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
        }
        // Real KMS leaves a key whose deletion was cancelled Disabled.
        key.keyState = 'Disabled';
        key.deletionDate = undefined;
        key.pendingWindowInDays = undefined;
        return { KeyId: key.arn };
      }
      case 'CreateAlias':
        return this.createAlias(ctx, body);
      case 'GetKeyPolicy': {
        const input = parseInput(getKeyPolicyRequest, body);
        const key = this.resolve(ctx, input.KeyId, operation);
        this.requireDefaultPolicyName(input.PolicyName);
        return { Policy: key.policyText, PolicyName: 'default' };
      }
      case 'PutKeyPolicy': {
        const input = parseInput(putKeyPolicyRequest, body);
        const key = this.resolve(ctx, input.KeyId, operation);
        this.requireDefaultPolicyName(input.PolicyName);
        const policy = parseKeyPolicy(input.Policy);
        // KMS refuses a policy that would lock the caller out of changing it again.
        if (this.opts.iam?.enforcing && !input.BypassPolicyLockoutSafetyCheck) {
          try {
            this.authorizeKey(ctx, { ...key, policy }, 'kms:PutKeyPolicy');
          } catch {
            throw kmsError(
              'MalformedPolicyDocumentException',
              'The new key policy will not allow you to update the key policy in the future.',
            );
          }
        }
        key.policy = policy;
        key.policyText = input.Policy;
        return {};
      }
      case 'GenerateDataKey': {
        const input = parseInput(generateDataKeyRequest, body);
        const key = this.resolve(ctx, input.KeyId, operation, contextKeys(input.EncryptionContext));
        this.requireUsable(key);
        const plaintext = randomBytes(input.NumberOfBytes ?? (input.KeySpec === 'AES_128' ? 16 : 32));
        return {
          KeyId: key.arn,
          Plaintext: plaintext.toString('base64'),
          CiphertextBlob: seal(key, plaintext, input.EncryptionContext).toString('base64'),
        };
      }
      case 'Decrypt': {
        const input = parseInput(decryptRequest, body);
        const blob = Buffer.from(input.CiphertextBlob, 'base64');
        const named = keyArnOf(blob);
        if (!named || (input.KeyId !== undefined && !this.sameKey(ctx, input.KeyId, named))) {
          throw kmsError(
            'InvalidCiphertextException',
            'The ciphertext is invalid or was not made by this key.',
          );
        }
        const key = this.resolve(ctx, named, operation, contextKeys(input.EncryptionContext));
        this.requireUsable(key);
        const plaintext = open(key, blob, input.EncryptionContext);
        if (!plaintext) {
          throw kmsError(
            'InvalidCiphertextException',
            'The ciphertext or its encryption context does not match.',
          );
        }
        return {
          KeyId: key.arn,
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      default:
        throw new ServiceError(
          400,
          'UnknownOperationException',
          `Unknown operation TrentService.${operation}`,
        );
    }
  }

  // ------------------------------------------------------------------ control API

  createKey(opts: CreateKeyOptions): Json {
    const spec = (opts.keySpec ?? 'SYMMETRIC_DEFAULT') as KeySpec;
    if (!KEY_SPECS.includes(spec)) throw kmsError('ValidationException', `unknown keySpec ${opts.keySpec}`);
    const usage = (opts.keyUsage ?? usagesOf(spec)[0]) as KeyUsage;
    if (!KEY_USAGES.includes(usage))
      throw kmsError('ValidationException', `unknown keyUsage ${opts.keyUsage}`);
    const state = (opts.keyState ?? 'Enabled') as KeyState;
    if (!KEY_STATES.includes(state))
      throw kmsError('ValidationException', `unknown keyState ${opts.keyState}`);
    const account = opts.account ?? this.opts.accountId;
    if (!/^[0-9]{12}$/.test(account)) throw kmsError('ValidationException', 'account must be 12 digits');
    const key = this.newKey(
      { account, region: opts.region ?? this.opts.defaultRegion },
      spec,
      usage,
      opts.description ?? '',
      opts.origin ?? 'AWS_KMS',
      opts.multiRegion ?? false,
    );
    if (opts.policy !== undefined) this.setPolicy(key, opts.policy);
    this.setState(key, state);
    return this.metadata(key);
  }

  /** A key's state by ARN (undefined: no such key), for a service using it. */
  keyStateOf(keyArn: string): KeyState | undefined {
    return this.keys.get(keyArn)?.keyState;
  }

  /** The control API's PutKeyPolicy: no caller, no lockout check. */
  putPolicyForControl(ref: string, policy: unknown): Json {
    const key = this.findForControl(ref);
    this.setPolicy(key, policy);
    return { KeyId: key.arn, Policy: key.policyText };
  }

  private setPolicy(key: KeyRecord, policy: unknown): void {
    const text = typeof policy === 'string' ? policy : JSON.stringify(policy);
    key.policy = parseKeyPolicy(text);
    key.policyText = text;
  }

  /**
   * Authorizes a use of a key made by another service: on a caller's behalf (`kms:ViaService`
   * and the caller's own policies count), or by a service principal (the key policy alone).
   * Throws AccessDeniedException naming the first action refused; an unknown key is NotFound.
   */
  authorizeUse(keyArn: string, use: KeyUse): void {
    const key = this.keys.get(keyArn);
    if (!key) throw kmsError('NotFoundException', `Key '${keyArn}' does not exist`);
    for (const action of use.actions) {
      // DescribeKey carries no encryption context; the data key calls do.
      const context = Object.fromEntries(
        Object.entries(use.context ?? {}).filter(
          ([k]) => action !== 'kms:DescribeKey' || !k.toLowerCase().startsWith('kms:encryptioncontext'),
        ),
      );
      this.opts.iam?.authorizeKey(
        use.who,
        {
          action,
          resource: key.arn,
          context: { 'kms:CallerAccount': use.who.account ?? key.account, ...context },
        },
        key.policy,
        key.account,
        use.region,
        use.builtIn,
      );
    }
  }

  /** Finds a key by id or ARN in any account and region (the control API is not scoped). */
  findForControl(ref: string): KeyRecord {
    const key = this.keys.get(ref) ?? [...this.keys.values()].find((k) => k.keyId === ref);
    if (key) return key;
    const alias = [...this.aliases.values()].find((a) => a.aliasArn === ref || a.aliasName === ref);
    const target = alias ? this.keys.get(alias.targetArn) : undefined;
    if (target) return target;
    throw kmsError('NotFoundException', `Key '${ref}' does not exist`);
  }

  setKeyState(ref: string, state: unknown): Json {
    const key = this.findForControl(ref);
    if (!KEY_STATES.includes(state as KeyState)) {
      throw kmsError('ValidationException', `keyState must be one of ${KEY_STATES.join(', ')}`);
    }
    this.setState(key, state as KeyState);
    return this.metadata(key);
  }

  deny(ref: string, denied: boolean): Json {
    const key = this.findForControl(ref);
    key.denied = denied;
    return this.metadata(key);
  }

  // ------------------------------------------------------------------ internals

  private createKeyApi(ctx: CallContext, body: unknown): Json {
    const input = parseInput(createKeyRequest, body);
    const spec = input.KeySpec ?? input.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
    const usage = input.KeyUsage ?? 'ENCRYPT_DECRYPT';
    if (!usagesOf(spec).includes(usage)) {
      throw kmsError(
        'ValidationException',
        `KeyUsage ${usage} is not compatible with KeySpec ${spec}. Valid key usages for ${spec}: ${usagesOf(spec).join(', ')}`,
      );
    }
    const caller = ctx.principal ?? { account: ctx.account };
    this.opts.iam?.authorize(
      requestPrincipal(caller),
      [{ action: 'kms:CreateKey', resource: '*' }],
      ctx.region,
      isBuiltIn(caller),
    );
    const policy = input.Policy === undefined ? undefined : parseKeyPolicy(input.Policy);
    const key = this.newKey(
      ctx,
      spec,
      usage,
      input.Description ?? '',
      input.Origin ?? 'AWS_KMS',
      input.MultiRegion ?? false,
    );
    if (policy && input.Policy) {
      key.policy = policy;
      key.policyText = input.Policy;
    }
    this.setState(key, input.Origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled');
    return { KeyMetadata: this.metadata(key) };
  }

  private createAlias(ctx: CallContext, body: unknown): Json {
    const input = parseInput(createAliasRequest, body);
    if (input.AliasName.startsWith('alias/aws/')) {
      throw kmsError('InvalidAliasNameException', 'Alias must not begin with alias/aws/');
    }
    if (input.TargetKeyId.startsWith('alias/') || /:alias\//.test(input.TargetKeyId)) {
      throw kmsError('ValidationException', 'TargetKeyId must be a key id or a key ARN, not an alias');
    }
    const key = this.resolve(ctx, input.TargetKeyId, 'CreateAlias');
    if (key.account !== ctx.account || key.region !== ctx.region) {
      throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
    }
    if (key.keyState === 'PendingDeletion') {
      throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    }
    const aliasArn = `arn:aws:kms:${ctx.region}:${ctx.account}:${input.AliasName}`;
    if (this.aliases.has(aliasArn)) {
      throw kmsError('AlreadyExistsException', `An alias with the name ${aliasArn} already exists`);
    }
    this.aliases.set(aliasArn, { aliasArn, aliasName: input.AliasName, targetArn: key.arn });
    return {};
  }

  private newKey(
    where: CallContext,
    spec: KeySpec,
    usage: KeyUsage,
    description: string,
    origin: string,
    multiRegion: boolean,
  ): KeyRecord {
    const keyId = multiRegion ? `mrk-${randomBytes(16).toString('hex')}` : randomUUID();
    const key: KeyRecord = {
      keyId,
      arn: `arn:aws:kms:${where.region}:${where.account}:key/${keyId}`,
      account: where.account,
      region: where.region,
      creationDate: Date.now(),
      description,
      keySpec: spec,
      keyUsage: usage,
      keyState: 'Enabled',
      origin,
      multiRegion,
      denied: false,
      policyText: JSON.stringify(defaultKeyPolicy(where.account)),
      policy: defaultKeyPolicy(where.account),
      material: randomBytes(32),
    };
    this.keys.set(key.arn, key);
    return key;
  }

  private setState(key: KeyRecord, state: KeyState): void {
    if (state === 'PendingDeletion') {
      if (key.keyState !== 'PendingDeletion') this.markPendingDeletion(key, 30);
      return;
    }
    key.keyState = state;
    key.deletionDate = undefined;
    key.pendingWindowInDays = undefined;
  }

  private markPendingDeletion(key: KeyRecord, days: number): void {
    key.keyState = 'PendingDeletion';
    key.pendingWindowInDays = days;
    key.deletionDate = Date.now() + days * DAY_MS;
  }

  private requireState(key: KeyRecord, allowed: KeyState[]): void {
    if (!allowed.includes(key.keyState)) {
      throw kmsError('KMSInvalidStateException', `${key.arn} is ${stateWords(key.keyState)}.`);
    }
  }

  private requireDefaultPolicyName(name: string | undefined): void {
    if (name !== undefined && name !== 'default')
      throw kmsError('NotFoundException', `No such policy: ${name}`);
  }

  /** Cryptographic operations need an enabled key (KMS: KMSInvalidStateException, or Disabled). */
  private requireUsable(key: KeyRecord): void {
    if (key.keyState === 'Disabled') throw kmsError('DisabledException', `${key.arn} is disabled.`);
    this.requireState(key, ['Enabled']);
  }

  private sameKey(ctx: CallContext, ref: string, arn: string): boolean {
    try {
      return this.lookup(ctx, ref).arn === arn;
    } catch {
      return false;
    }
  }

  /** The key policy and the caller's IAM policies, as KMS judges them (while IAM is enforced). */
  private authorizeKey(
    ctx: CallContext,
    key: Pick<KeyRecord, 'arn' | 'account' | 'policy'>,
    action: string,
    context: RequestContext = {},
  ): void {
    const iam = this.opts.iam;
    if (!iam?.enforcing) return;
    const caller = ctx.principal ?? { account: ctx.account };
    const request: AccessRequest = {
      action,
      resource: key.arn,
      context: { 'kms:CallerAccount': caller.account, ...context },
    };
    iam.authorizeKey(
      requestPrincipal(caller),
      request,
      key.policy,
      key.account,
      ctx.region,
      isBuiltIn(caller),
    );
  }

  /**
   * Resolves a KeyId the way KMS does, then applies a denial set through the control API and,
   * while IAM is enforced, the key policy and the caller's policies.
   */
  private resolve(ctx: CallContext, ref: string, operation: string, context?: RequestContext): KeyRecord {
    const key = this.lookup(ctx, ref);
    if (key.denied) {
      throw kmsError(
        'AccessDeniedException',
        `User: arn:aws:iam::${ctx.account}:user/emulator is not authorized to perform: kms:${operation} ` +
          `on resource: ${key.arn} because no resource-based policy allows the kms:${operation} action`,
      );
    }
    this.authorizeKey(ctx, key, `kms:${operation}`, context);
    return key;
  }

  private lookup(ctx: CallContext, ref: string): KeyRecord {
    let key: KeyRecord | undefined;
    if (ref.startsWith('arn:')) {
      const m = /^arn:aws[a-zA-Z0-9-]*:kms:[^:]*:[0-9]{12}:(key|alias)\/.+$/.exec(ref);
      if (!m) throw kmsError('NotFoundException', `Invalid arn ${ref}`);
      if (m[1] === 'alias') {
        const alias = this.aliases.get(ref);
        if (!alias) throw kmsError('NotFoundException', `Alias ${ref} is not found.`);
        key = this.keys.get(alias.targetArn);
      } else {
        key = this.keys.get(ref);
      }
    } else if (ref.startsWith('alias/')) {
      const aliasArn = `arn:aws:kms:${ctx.region}:${ctx.account}:${ref}`;
      const alias = this.aliases.get(aliasArn);
      if (!alias) throw kmsError('NotFoundException', `Alias ${aliasArn} is not found.`);
      key = this.keys.get(alias.targetArn);
    } else {
      key = this.keys.get(`arn:aws:kms:${ctx.region}:${ctx.account}:key/${ref}`);
    }
    if (!key) {
      const arn = ref.startsWith('arn:') ? ref : `arn:aws:kms:${ctx.region}:${ctx.account}:key/${ref}`;
      throw kmsError('NotFoundException', `Key '${arn}' does not exist`);
    }
    return key;
  }

  metadata(key: KeyRecord): Json {
    return {
      AWSAccountId: key.account,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: seconds(key.creationDate),
      Enabled: key.keyState === 'Enabled',
      Description: key.description,
      KeyUsage: key.keyUsage,
      KeyState: key.keyState,
      ...(key.deletionDate !== undefined ? { DeletionDate: seconds(key.deletionDate) } : {}),
      ...(key.pendingWindowInDays !== undefined
        ? { PendingDeletionWindowInDays: key.pendingWindowInDays }
        : {}),
      Origin: key.origin,
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      ...algorithms(key.keySpec, key.keyUsage),
      MultiRegion: key.multiRegion,
      ...(key.multiRegion
        ? {
            MultiRegionConfiguration: {
              MultiRegionKeyType: 'PRIMARY',
              PrimaryKey: { Arn: key.arn, Region: key.region },
              ReplicaKeys: [],
            },
          }
        : {}),
    };
  }
}

function parseKeyPolicy(text: string): PolicyDocument {
  return parsePolicy(text, 'resource', 'MalformedPolicyDocumentException');
}

/** The encryption context as condition keys: `kms:EncryptionContext:K` and `kms:EncryptionContextKeys`. */
export function contextKeys(context: Record<string, string> | undefined): RequestContext {
  if (!context || Object.keys(context).length === 0) return {};
  return {
    ...Object.fromEntries(Object.entries(context).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
    'kms:EncryptionContextKeys': Object.keys(context),
  };
}

/** The context as additional authenticated data: the same pairs in any order give the same bytes. */
const aad = (context: Record<string, string> | undefined): Buffer =>
  Buffer.from(JSON.stringify(Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

/** Ciphertext blob: key ARN length (2 bytes), key ARN, IV (12), tag (16), ciphertext. */
function seal(key: KeyRecord, plaintext: Buffer, context: Record<string, string> | undefined): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.material, iv);
  cipher.setAAD(aad(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const arn = Buffer.from(key.arn);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(arn.length);
  return Buffer.concat([len, arn, iv, cipher.getAuthTag(), body]);
}

function keyArnOf(blob: Buffer): string | undefined {
  if (blob.length < 2) return undefined;
  const n = blob.readUInt16BE(0);
  return blob.length >= 2 + n + 28 ? blob.subarray(2, 2 + n).toString() : undefined;
}

function open(key: KeyRecord, blob: Buffer, context: Record<string, string> | undefined): Buffer | undefined {
  const n = blob.readUInt16BE(0);
  const iv = blob.subarray(2 + n, 14 + n);
  const tag = blob.subarray(14 + n, 30 + n);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.material, iv);
    decipher.setAAD(aad(context));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(blob.subarray(30 + n)), decipher.final()]);
  } catch {
    return undefined;
  }
}
