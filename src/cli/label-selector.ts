// The syntax of a Kubernetes label selector (the string form of k8s.io/apimachinery's
// labels.Parse), checked when the operator starts: a typo in --watch-label-selector is a usage
// error with exit status 2, not an operator that starts and then fails every list call.
//
//   selector    = requirement ( "," requirement )*
//   requirement = [ "!" ] key
//               | key ( "=" | "==" | "!=" ) value
//               | key ( "in" | "notin" ) "(" value ( "," value )* ")"
//               | key ( ">" | "<" ) integer

const NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(?=.{0,63}$)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
/** A DNS subdomain name (RFC 1123), without its 253-character limit. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (!DNS_SUBDOMAIN.test(prefix) || prefix.length > 253)) {
    return `"${key}": the prefix before "/" must be a DNS subdomain`;
  }
  if (!NAME.test(name)) {
    return `"${key}": a label key is at most 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

function valueProblem(value: string): string | undefined {
  return VALUE.test(value)
    ? undefined
    : `"${value}": a label value is at most 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit`;
}

/** Splits on the commas that separate requirements, not those inside "( … )". */
function requirements(selector: string): string[] | string {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (depth < 0 || depth > 1) return 'unbalanced parentheses';
    if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return 'unbalanced parentheses';
  parts.push(selector.slice(start));
  return parts.map((p) => p.trim());
}

function requirementProblem(requirement: string): string | undefined {
  if (requirement === '') return 'an empty requirement (two commas, or a comma at an end)';
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(requirement);
  if (set) {
    const values = (set[3] as string).split(',').map((v) => v.trim());
    return keyProblem(set[1] as string) ?? values.map(valueProblem).find(Boolean);
  }
  const compare = /^([^=!<>\s]+)\s*(==|!=|=|<|>)\s*(.*)$/.exec(requirement);
  if (compare) {
    const [, key, op, value] = compare as unknown as [string, string, string, string];
    if ((op === '<' || op === '>') && !/^-?\d+$/.test(value)) {
      return `"${requirement}": "${op}" takes an integer`;
    }
    return keyProblem(key) ?? valueProblem(value);
  }
  const exists = /^(!?)\s*([^\s=!<>(),]+)$/.exec(requirement);
  if (exists) return keyProblem(exists[2] as string);
  return `"${requirement}" is not a requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))`;
}

/** Undefined when the selector parses; otherwise what is wrong with it. */
export function labelSelectorProblem(selector: string): string | undefined {
  const parts = requirements(selector.trim());
  if (typeof parts === 'string') return parts;
  for (const part of parts) {
    const problem = requirementProblem(part);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * One spelling per selector, for a parsed (valid) one: requirements sorted and deduplicated,
 * `==` as `=`, set values sorted, no spaces. Two selectors that differ only in spelling
 * (`shard in (b, a)` and `shard in (a,b)`) select the same objects and read the same here.
 */
export function canonicalLabelSelector(selector: string): string {
  const parts = requirements(selector.trim());
  if (typeof parts === 'string') throw new Error(`not a label selector: ${parts}`);
  const canonical = parts.map((requirement) => {
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(requirement);
    if (set) {
      const values = [...new Set((set[3] as string).split(',').map((v) => v.trim()))].sort();
      return `${set[1]} ${set[2]} (${values.join(',')})`;
    }
    const compare = /^([^=!<>\s]+)\s*(==|!=|=|<|>)\s*(.*)$/.exec(requirement);
    if (compare) return `${compare[1]}${compare[2] === '==' ? '=' : compare[2]}${compare[3]}`;
    return requirement.replace(/^!\s*/, '!');
  });
  return [...new Set(canonical)].sort().join(',');
}
