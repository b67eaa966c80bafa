// Summarises a V8 .heapsnapshot: self size and count per constructor (or node type), largest
// first. Self sizes only (no dominator tree): enough to see what the operator keeps per resource.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summariseHeap(path: string, top = 20) {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType]!] ?? '?';
    const size = snap.nodes[i + iSize]!;
    total += size;
    let name = snap.strings[snap.nodes[i + iName]!] ?? '';
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'code') name = '(code)';
    else if (type === 'array') name = `(array) ${name}`.slice(0, 60);
    else if (type === 'hidden') name = `(hidden) ${name}`.slice(0, 60);
    else if (type !== 'object' && type !== 'closure') name = `(${type}) ${name}`.slice(0, 60);
    const g = groups.get(name) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += size;
    groups.set(name, g);
  }
  const rows = [...groups.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top)
    .map(([name, g]) => ({ name, count: g.count, kb: Math.round(g.bytes / 1024) }));
  return { totalMb: Math.round((total / 2 ** 20) * 10) / 10, top: rows };
}

if (process.argv[1]?.endsWith('heapsnapshot.ts')) {
  const r = summariseHeap(process.argv[2]!, Number(process.argv[3] ?? 30));
  console.log(`total ${r.totalMb} MB`);
  for (const row of r.top)
    console.log(`${String(row.kb).padStart(8)} KB ${String(row.count).padStart(8)}  ${row.name}`);
}
