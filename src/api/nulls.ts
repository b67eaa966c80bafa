// Nulls in a declaration: a template value that did not render. A null is never taken for `{}`,
// an empty map or a removed field, so before anything is planned the operator looks for one in
// the two places it can still be seen:
// - the stored object: a client that sends the null itself (a POST or PUT, as Helm or a script
//   does) keeps it where the CRD declares the field nullable;
// - kubectl's last-applied configuration: `kubectl apply` (and Argo CD's default sync) drops the
//   null from the object it creates, or turns it into "delete this field" on an update, but the
//   annotation keeps it. The annotation can be stale (kubectl edit, a later non-apply write), so
//   a null there counts only where the live object lacks the field, where it could have removed
//   or emptied something.
// Generic over a kind: the caller names the top-level fields (e.g. `spec`) that are declarations.

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export interface NullField {
  /** Where the null is, e.g. `spec.diskEncryptionConfiguration.encryptionKeyArn`. */
  path: string;
  /** `stored`: in the object itself; `lastApplied`: in kubectl's last-applied configuration. */
  source: 'stored' | 'lastApplied';
}

interface Declared {
  metadata: { annotations?: Record<string, string> };
}

/** The nulls under `roots` of `resource`, stored ones first; none when there is none. */
export function nullFields(resource: Declared, roots: readonly string[]): NullField[] {
  const live = resource as unknown as Record<string, unknown>;
  const found: NullField[] = [];
  for (const root of roots) {
    for (const path of nullPaths(live[root], [root])) found.push({ path: show(path), source: 'stored' });
  }
  const applied = lastApplied(resource);
  if (applied) {
    for (const root of roots) {
      for (const path of nullPaths(applied[root], [root])) {
        if (!present(live, path)) found.push({ path: show(path), source: 'lastApplied' });
      }
    }
  }
  return found;
}

/** Said wherever a null is refused, at admission and by the operator. */
export const NULL_IS_NOT_EMPTY =
  'A null is not taken for an empty value or a removed field: give the field a value or delete the line.';
/** Added when the null is in a disk encryption configuration. */
export const AWS_OWNED_KEY_HINT = 'To use the AWS-owned key, write diskEncryptionConfiguration: {}.';

/** NULL_IS_NOT_EMPTY, and the AWS-owned key hint when one of `paths` is about disk encryption. */
export function nullHint(paths: readonly string[]): string {
  return paths.some((p) => p.includes('diskEncryptionConfiguration'))
    ? `${NULL_IS_NOT_EMPTY} ${AWS_OWNED_KEY_HINT}`
    : NULL_IS_NOT_EMPTY;
}

/** What a NullValue condition says: which fields, where they were seen, what to do, and `also`. */
export function nullValueMessage(nulls: readonly NullField[], also = ''): string {
  const named = (source: NullField['source']) => nulls.filter((n) => n.source === source).map((n) => n.path);
  const stored = named('stored');
  const applied = named('lastApplied');
  const parts = [
    ...(stored.length ? [`${stored.join(', ')} ${stored.length > 1 ? 'are' : 'is'} null`] : []),
    ...(applied.length
      ? [
          `${applied.join(', ')} ${applied.length > 1 ? 'were' : 'was'} null in the last applied configuration (kubectl apply removed ${applied.length > 1 ? 'them' : 'it'} from the object)`,
        ]
      : []),
  ];
  return (
    `${parts.join('; ')}: a template value that did not render? Nothing was sent to AWS. ` +
    nullHint(nulls.map((n) => n.path)) +
    (also ? ` ${also}` : '')
  );
}

/**
 * Whether kubectl's last-applied configuration holds a null under `roots`: the one thing
 * `nullFields` reads it for (a null elsewhere, e.g. in an applied status, is nobody's concern).
 * Without one it can tell nothing, and a cache may drop it.
 */
export function lastAppliedHoldsNull(resource: Declared, roots: readonly string[]): boolean {
  const applied = lastApplied(resource);
  return applied !== undefined && roots.some((root) => nullPaths(applied[root], [root]).length > 0);
}

function lastApplied(resource: Declared): Record<string, unknown> | undefined {
  const text = resource.metadata.annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    // Not written by kubectl: nothing can be learnt from it.
    return undefined;
  }
}

type Path = Array<string | number>;

function nullPaths(value: unknown, at: Path): Path[] {
  if (value === null) return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => nullPaths(v, [...at, i]));
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => nullPaths(v, [...at, k]));
  return [];
}

/** Whether the live object holds `path` (a null there is reported as stored already). */
function present(live: unknown, path: Path): boolean {
  let node = live;
  for (const step of path) {
    if (typeof step === 'number' ? !Array.isArray(node) : !isObject(node)) return false;
    const container = node as Record<string | number, unknown>;
    if (!Object.hasOwn(container, step)) return false;
    node = container[step];
  }
  return true;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function show(path: Path): string {
  return path
    .map((step, i) =>
      typeof step === 'number'
        ? `[${step}]`
        : PLAIN_KEY.test(step)
          ? `${i ? '.' : ''}${step}`
          : `[${JSON.stringify(step)}]`,
    )
    .join('');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
