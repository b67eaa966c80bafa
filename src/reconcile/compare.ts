// How the declared value of a field is compared with what AWS answers.
import type { DiskEncryptionConfiguration } from '../api/schema.js';

/** A disk encryption configuration reduced to its meaning. */
export interface EncryptionIntent {
  /** undefined: the AWS-owned key. */
  keyArn?: string;
  /** Always present; empty for the AWS-owned key. */
  context: Record<string, string>;
}

/**
 * AWS answering no field, `{}`, or a config without a key ARN all mean the AWS-owned key (what
 * GetApplication answers after an unset is not documented); a missing context equals an empty
 * one; key ARNs compare as exact strings.
 */
export function encryptionIntent(config: DiskEncryptionConfiguration | undefined): EncryptionIntent {
  if (!config?.encryptionKeyArn) return { context: {} };
  return { keyArn: config.encryptionKeyArn, context: config.encryptionContext ?? {} };
}

export function sameEncryption(a: EncryptionIntent, b: EncryptionIntent): boolean {
  return a.keyArn === b.keyArn && sameStringMap(a.context, b.context);
}

export function sameStringMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * Fields whose value is a map keyed by user-chosen names: their key sets must match exactly
 * (a removed worker type is a change). Every other object is a structure, where a property
 * the spec leaves out is not managed and AWS may fill it with its default.
 */
const MAP_FIELDS = new Set(['initialCapacity', 'workerTypeSpecifications', 'properties', 'logTypes']);

/** Lists AWS treats as sets: order and repeats carry no meaning. */
const SET_FIELDS = new Set(['subnetIds', 'securityGroupIds']);

/** True when `actual` already holds everything `desired` declares. */
export function covers(desired: unknown, actual: unknown, field = ''): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired) && SET_FIELDS.has(field)) {
    if (!Array.isArray(actual)) return false;
    const want = new Set(desired.map((v) => JSON.stringify(v)));
    const have = new Set(actual.map((v) => JSON.stringify(v)));
    return want.size === have.size && [...want].every((v) => have.has(v));
  }
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      desired.length === actual.length &&
      desired.every((d, i) => covers(d, actual[i]))
    );
  }
  if (isObject(desired)) {
    if (!isObject(actual)) return false;
    if (MAP_FIELDS.has(field) && Object.keys(desired).length !== Object.keys(actual).length) return false;
    return Object.entries(desired).every(([k, v]) => covers(v, actual[k], k));
  }
  return desired === actual;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep equality for JSON values, ignoring property order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}
