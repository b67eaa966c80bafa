// AWS's published EMR Serverless service model (botocore's service-2.json, fetched once into
// .cache by scripts/aws-model.sh at a pinned version) and the checks the model-coverage test runs
// with it: a raw restJson1 call of any operation from its HTTP binding, and a walk of an answer
// against the operation's output shape (required members, unknown members, types, enums, lengths,
// ranges and patterns).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Member {
  shape: string;
  location?: 'uri' | 'querystring' | 'header' | 'headers';
  locationName?: string;
}

export interface Shape {
  type: string;
  required?: string[];
  members?: Record<string, Member>;
  member?: { shape: string };
  key?: { shape: string };
  value?: { shape: string };
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
}

export interface Operation {
  name: string;
  http: { method: string; requestUri: string; responseCode?: number };
  input?: { shape: string };
  output?: { shape: string };
  errors?: { shape: string }[];
}

export interface ServiceModel {
  metadata: { apiVersion: string; protocol: string };
  operations: Record<string, Operation>;
  shapes: Record<string, Shape>;
}

const root = new URL('../..', import.meta.url).pathname;

/** The model, fetched on first use (the only network the unit tests need, once per clone). */
export function loadModel(): ServiceModel {
  const path = execFileSync('bash', [`${root}scripts/aws-model.sh`], { encoding: 'utf8' }).trim();
  return JSON.parse(readFileSync(path, 'utf8')) as ServiceModel;
}

export interface RawAnswer {
  status: number;
  errorType?: string | undefined;
  body: Record<string, unknown>;
}

/**
 * Calls `operation` on `endpoint` as the SDK's restJson1 serializer would: URI labels and query
 * members from the model's HTTP binding, everything else in the JSON body.
 */
export async function rawCall(
  model: ServiceModel,
  endpoint: string,
  operation: string,
  input: Record<string, unknown>,
): Promise<RawAnswer> {
  const op = model.operations[operation];
  if (!op) throw new Error(`no operation ${operation} in the model`);
  const members = op.input ? (model.shapes[op.input.shape]?.members ?? {}) : {};
  let path = op.http.requestUri;
  const query = new URLSearchParams();
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    const m = members[name];
    if (!m) throw new Error(`${operation} has no input member ${name}`);
    const wire = m.locationName ?? name;
    if (m.location === 'uri') {
      path = path.replace(`{${wire}}`, encodeURIComponent(String(value)));
    } else if (m.location === 'querystring') {
      for (const v of Array.isArray(value) ? value : [value]) query.append(wire, String(v));
    } else {
      body[name] = value;
    }
  }
  const search = query.toString();
  const hasBody = Object.keys(body).length > 0;
  const res = await fetch(`${endpoint}${path}${search ? `?${search}` : ''}`, {
    method: op.http.method,
    headers: hasBody ? { 'content-type': 'application/json' } : {},
    ...(hasBody ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  return {
    status: res.status,
    errorType: res.headers.get('x-amzn-errortype')?.split(':')[0] ?? undefined,
    body: parsed,
  };
}

/** Members the model marks required that the local service leaves out when it has nothing to say. */
export type Allowance = (shape: string, member: string) => boolean;

/**
 * Every way `value` (at `path`, of model shape `shapeName`) departs from the model: a problem per
 * line, `path: what`. `seen` collects `Shape.member` for every member present.
 */
export function conformance(
  model: ServiceModel,
  shapeName: string,
  value: unknown,
  path: string,
  seen: Set<string>,
  mayOmit: Allowance = () => false,
): string[] {
  const shape = model.shapes[shapeName];
  if (!shape) return [`${path}: shape ${shapeName} is not in the model`];
  const problems: string[] = [];
  const add = (what: string) => problems.push(`${path}: ${what}`);
  switch (shape.type) {
    case 'structure': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        add(`expected an object (${shapeName})`);
        break;
      }
      const obj = value as Record<string, unknown>;
      const members = shape.members ?? {};
      for (const name of shape.required ?? []) {
        if (obj[name] === undefined && !mayOmit(shapeName, name)) add(`required member ${name} is missing`);
      }
      for (const [name, v] of Object.entries(obj)) {
        const m = members[name];
        if (!m) {
          add(`member ${name} is not in ${shapeName}`);
          continue;
        }
        if (v === undefined) continue;
        seen.add(`${shapeName}.${name}`);
        problems.push(...conformance(model, m.shape, v, `${path}.${name}`, seen, mayOmit));
      }
      break;
    }
    case 'list': {
      if (!Array.isArray(value)) {
        add(`expected a list (${shapeName})`);
        break;
      }
      checkLength(shape, value.length, add);
      value.forEach((item, i) => {
        problems.push(...conformance(model, shape.member!.shape, item, `${path}[${i}]`, seen, mayOmit));
      });
      break;
    }
    case 'map': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        add(`expected a map (${shapeName})`);
        break;
      }
      const entries = Object.entries(value as Record<string, unknown>);
      checkLength(shape, entries.length, add);
      for (const [k, v] of entries) {
        problems.push(...conformance(model, shape.key!.shape, k, `${path}{key}`, seen, mayOmit));
        problems.push(...conformance(model, shape.value!.shape, v, `${path}{${k}}`, seen, mayOmit));
      }
      break;
    }
    case 'string': {
      if (typeof value !== 'string') {
        add(`expected a string (${shapeName}), got ${JSON.stringify(value)}`);
        break;
      }
      if (shape.enum && !shape.enum.includes(value)) add(`'${value}' is not one of ${shape.enum.join(', ')}`);
      checkLength(shape, [...value].length, add);
      if (shape.pattern !== undefined && !new RegExp(shape.pattern, 'u').test(value)) {
        add(`'${value}' does not match ${shape.pattern} (${shapeName})`);
      }
      break;
    }
    case 'integer':
    case 'long':
    case 'double':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        add(`expected a number (${shapeName})`);
        break;
      }
      if (shape.type !== 'double' && shape.type !== 'float' && !Number.isInteger(value)) {
        add(`${value} is not a whole number (${shapeName})`);
      }
      if (shape.min !== undefined && value < shape.min) add(`${value} is below ${shape.min} (${shapeName})`);
      if (shape.max !== undefined && value > shape.max) add(`${value} is above ${shape.max} (${shapeName})`);
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') add(`expected a boolean (${shapeName})`);
      break;
    case 'timestamp':
      // restJson1 answers epoch seconds as a JSON number.
      if (typeof value !== 'number')
        add(`expected epoch seconds (${shapeName}), got ${JSON.stringify(value)}`);
      break;
    default:
      add(`unexpected shape type ${shape.type} (${shapeName})`);
  }
  return problems;
}

function checkLength(shape: Shape, n: number, add: (what: string) => void): void {
  if (shape.min !== undefined && n < shape.min) add(`length ${n} is below ${shape.min}`);
  if (shape.max !== undefined && n > shape.max) add(`length ${n} is above ${shape.max}`);
}

/** The members of `shapeName` (an output structure) as `Shape.member`. */
export function membersOf(model: ServiceModel, shapeName: string): string[] {
  return Object.keys(model.shapes[shapeName]?.members ?? {}).map((m) => `${shapeName}.${m}`);
}
