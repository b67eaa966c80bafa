// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, top first.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  function: string;
  where: string;
  selfMs: number;
  percent: number;
}

/** Where a script lives, shortened: "@aws-sdk/…/file.js" or "dist/…/file.js" or "node:internal/…". */
function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

export function summariseProfile(
  path: string,
  top = 15,
): {
  totalMs: number;
  idleMs: number;
  functions: SelfTime[];
  byPackage: Array<{ package: string; selfMs: number; percent: number }>;
} {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from samples and time deltas (more precise than hitCount * interval).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt);
  }
  const perFunction = new Map<string, { fn: string; where: string; us: number }>();
  const perPackage = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    totalUs += us;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}|${where}`;
    const entry = perFunction.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    perFunction.set(key, entry);
    const short = shortUrl(url);
    const pkg = !url
      ? functionName.startsWith('(')
        ? functionName
        : '(native)'
      : url.startsWith('node:')
        ? 'node:internal'
        : short.startsWith('dist/')
          ? 'operator (dist/)'
          : short.startsWith('@')
            ? short.split('/').slice(0, 2).join('/')
            : short.split('/')[0]!;
    perPackage.set(pkg, (perPackage.get(pkg) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const functions = [...perFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({
      function: e.fn,
      where: e.where,
      selfMs: Math.round(e.us / 1000),
      percent: Math.round((e.us / busyUs) * 1000) / 10,
    }));
  const byPackage = [...perPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([pkg, us]) => ({
      package: pkg,
      selfMs: Math.round(us / 1000),
      percent: Math.round((us / busyUs) * 1000) / 10,
    }));
  return { totalMs: Math.round(totalUs / 1000), idleMs: Math.round(idleUs / 1000), functions, byPackage };
}
