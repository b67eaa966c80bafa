// The docs say what the code does: each check reads a fact from the code (a command's --help, the
// table of condition reasons, the metrics registry, the manifests, the benchmark report) and
// finds it in the Markdown a user reads, and the other way round where the docs list things.
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { commands } from '../../src/cli/commands.js';
import { OperatorMetrics } from '../../src/controller/metrics.js';
import {
  CONDITION_REASONS,
  type ConditionReason,
  KEY_BLOCKING_REASONS,
  KEY_UNVERIFIED_REASONS,
  type Phase,
  SUSPENDED_REASONS,
} from '../../src/reconcile/reasons.js';
import { runCommand } from '../support/cli.js';
import {
  MARKDOWN_FILES as MARKDOWN,
  readRepoFile as read,
  REPO as repo,
  yamlBlocks,
} from '../support/docs.js';

const allDocs = MARKDOWN.map(read).join('\n');

/** The Markdown headings of `markdown` (not `#` lines inside fenced code), with their line numbers. */
function headings(markdown: string): Array<{ line: number; level: number; text: string }> {
  let fenced = false;
  return markdown.split('\n').flatMap((l, line) => {
    if (l.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^(#+) (.*)$/.exec(l);
    return m ? [{ line, level: m[1]!.length, text: m[2]! }] : [];
  });
}

/** The text of a section: from its heading to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const all = headings(markdown);
  const start = all.find((h) => h.text === heading);
  if (!start) throw new Error(`no heading "${heading}"`);
  const end = all.find((h) => h.line > start.line && h.level <= start.level);
  return markdown
    .split('\n')
    .slice(start.line + 1, end?.line)
    .join('\n');
}

/** The body rows of the first Markdown table in `text`, as trimmed cells. */
function tableRows(text: string): string[][] {
  const rows = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('|'));
  return rows
    .slice(2) // header and |---|
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
/** Condition reasons are CamelCase words: other backticked text in a cell is not one. */
const reasonsIn = (text: string) => backticked(text).filter((t) => /^[A-Z][A-Za-z]+$/.test(t));
const flagsIn = (text: string) => [...text.matchAll(/`(--[a-z][a-z-]*)/g)].map((m) => m[1]!);

async function helpOf(command: string): Promise<string> {
  const out = await runCommand(command, ['--help']);
  expect(out.code).toBe(0);
  expect(out.stdout).toContain('Usage:');
  return out.stdout;
}

/** The long flags a usage text lists, `--help` aside. */
function flagsOfHelp(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)]
    .map((m) => m[1]!)
    .filter((f) => f !== '--help');
}

describe('command line', () => {
  it('every flag of `run --help` is in the flag tables of docs/install.md and the README, and nothing else is', async () => {
    const flags = flagsOfHelp(await helpOf('run')).sort();
    expect(flags.length).toBeGreaterThan(10);
    const install = tableRows(section(read('docs/install.md'), 'Flags')).flatMap((r) => flagsIn(r[0]!));
    const readme = tableRows(section(read('README.md'), 'Command line')).flatMap((r) => flagsIn(r[0]!));
    expect([...new Set(install)].sort()).toEqual(flags);
    expect([...new Set(readme)].sort()).toEqual(flags);
  });

  it('every flag of every command is documented somewhere', async () => {
    const documented = new Set([...allDocs.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]));
    for (const name of Object.keys(commands)) {
      const missing = flagsOfHelp(await helpOf(name)).filter((f) => !documented.has(f));
      expect(missing, `${name} --help flags missing from the docs`).toEqual([]);
    }
  });

  it('every flag in the emulator table of docs/local-aws-service.md is one the emulator takes', async () => {
    const flags = flagsOfHelp(await helpOf('emulator'));
    const table = tableRows(section(read('docs/local-aws-service.md'), 'Running it')).flatMap((r) =>
      flagsIn(r[0]!),
    );
    expect(table.filter((f) => f !== '--help').sort()).toEqual([...flags].sort());
  });
});

const HEALTH: Record<Phase, string> = { Ready: 'Healthy', Progressing: 'Progressing', Stalled: 'Degraded' };
const codeReasons = Object.keys(CONDITION_REASONS) as ConditionReason[];

describe('condition reasons', () => {
  it('docs/reference.md lists every reason the code can write, with its phase, and no other', () => {
    const documented: Record<string, Phase> = {};
    const reference = read('docs/reference.md');
    for (const [ready, condition, reasons] of [
      ...tableRows(section(reference, 'Conditions and reasons')),
      ...tableRows(section(reference, 'Job run conditions and reasons')),
    ]) {
      const phase: Phase = ready === 'True' ? 'Ready' : condition === 'Stalled' ? 'Stalled' : 'Progressing';
      for (const reason of reasonsIn(reasons!)) documented[reason] = phase;
    }
    expect(documented).toEqual({ ...CONDITION_REASONS });
  });

  it('docs/argocd.md gives each reason the health argocd/health.lua gives it', () => {
    const documented: Record<string, string> = {};
    for (const [health, , reasons] of tableRows(section(read('docs/argocd.md'), 'What the health means'))) {
      for (const reason of reasonsIn(reasons!)) documented[reason] = health!;
    }
    const suspended: readonly string[] = SUSPENDED_REASONS;
    const expected = Object.fromEntries(
      codeReasons.map((r) => [r, suspended.includes(r) ? 'Suspended' : HEALTH[CONDITION_REASONS[r]]]),
    );
    expect(documented).toEqual(expected);
  });

  it("the README's troubleshooting table names only reasons the code writes", () => {
    const named = tableRows(section(read('README.md'), 'Troubleshooting by condition reason')).flatMap((r) =>
      reasonsIn(r[0]!),
    );
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((r) => !(r in CONDITION_REASONS))).toEqual([]);
  });

  it('docs/reference.md lists every status.diskEncryption.key.reason', () => {
    const keys = section(read('docs/reference.md'), 'Keys');
    const table = keys.slice(keys.indexOf('| `verified`'));
    const documented = tableRows(table).flatMap((r) => reasonsIn(r[1]!));
    expect(documented.sort()).toEqual([...KEY_BLOCKING_REASONS, ...KEY_UNVERIFIED_REASONS].sort());
  });
});

describe('metrics', () => {
  it("the README lists exactly the operator's own metrics, and names the runtime ones by prefix", () => {
    const registered = new OperatorMetrics().registry.getMetricsAsArray().map((m) => m.name);
    const text = section(read('README.md'), 'Metrics');
    const listed = backticked(text)
      .map((n) => n.replace(/\{.*$/, ''))
      .filter((n) => /^[a-z_]+$/.test(n));
    const runtime = (n: string) => /^(process|nodejs)_/.test(n);
    expect([...new Set(listed)].sort()).toEqual([...new Set(registered.filter((n) => !runtime(n)))].sort());
    for (const prefix of new Set(registered.filter(runtime).map((n) => n.split('_')[0]))) {
      expect(text).toContain(`\`${prefix}_*\``);
    }
  });

  it('the ServiceMonitor and the scrape config in docs/eks.md select the metrics Service of manifests/', () => {
    const service = parse(read('manifests/service.yaml'));
    const namespace = parse(read('manifests/kustomization.yaml')).namespace as string;
    const metricsPort = (service.spec.ports as Array<{ name: string }>).find((p) => p.name === 'metrics');
    expect(metricsPort).toBeDefined();

    const blocks = yamlBlocks(read('docs/eks.md')).map((b) => parse(b));
    const monitor = blocks.find((b) => b?.kind === 'ServiceMonitor');
    expect(monitor.metadata.namespace).toBe(namespace);
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([namespace]);
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
      expect(service.metadata.labels[k], k).toBe(v);
    }
    expect(monitor.spec.endpoints.map((e: { port: string }) => e.port)).toEqual([metricsPort!.name]);

    const scrape = blocks.find((b) => b?.scrape_configs)?.scrape_configs[0];
    expect(scrape.kubernetes_sd_configs[0].namespaces.names).toEqual([namespace]);
    const keep = scrape.relabel_configs.find((r: { action: string }) => r.action === 'keep');
    expect(keep.regex).toBe(`${service.metadata.name};${metricsPort!.name}`);
  });
});

describe('Markdown', () => {
  it('every yaml block in the docs parses', () => {
    for (const file of MARKDOWN) {
      for (const block of yamlBlocks(read(file))) {
        const errors = parseAllDocuments(block).flatMap((d) => d.errors);
        expect(
          errors.map((e) => e.message),
          `${file}:\n${block}`,
        ).toEqual([]);
      }
    }
  });

  it('every relative link points at a file that exists, and at a heading in it', () => {
    const slug = (heading: string) =>
      heading
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-');
    const broken: string[] = [];
    for (const file of MARKDOWN) {
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [path, anchor] = target!.split('#');
        const resolved = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(join(repo, resolved))) {
          broken.push(`${file}: ${target}`);
          continue;
        }
        if (anchor && resolved.endsWith('.md')) {
          const anchors = headings(read(resolved)).map((h) => slug(h.text));
          if (!anchors.includes(anchor)) broken.push(`${file}: ${target}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('Argo CD', () => {
  it('the example Applications use the sync waves docs/argocd.md recommends: the operator first', () => {
    const apps = parseAllDocuments(read('argocd/application.yaml')).map((d) => d.toJS());
    const wave = (app: { metadata: { annotations?: Record<string, string> } }) =>
      Number(app.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0');
    const operator = apps.find((a) => a.spec.source.path === 'manifests');
    const teams = apps.filter((a) => a !== operator);
    expect(operator).toBeDefined();
    expect(teams.length).toBeGreaterThan(0);
    const order = section(read('docs/argocd.md'), 'Order');
    expect(order).toContain(`argocd.argoproj.io/sync-wave: "${wave(operator)}"`);
    for (const team of teams) {
      expect(wave(team)).toBeGreaterThan(wave(operator));
      expect(order).toContain(`"${wave(team)}"`);
    }
  });
});

describe('benchmark figures', () => {
  const full = JSON.parse(read('bench-results/full.json'));
  const performance = section(read('README.md'), 'Performance');

  it("the README's performance table is bench-results/full.json", () => {
    // Columns: scenario, before, after, target. A figure full.json holds is in its row, as the
    // before or the after of the change that measured it last.
    const rows = Object.fromEntries(
      tableRows(performance).map(([scenario, before, after]) => [scenario, `${before} | ${after}`]),
    );
    const row = (start: string) => {
      const key = Object.keys(rows).find((k) => k.startsWith(start));
      expect(key, start).toBeDefined();
      return rows[key!];
    };
    const sync = (n: number) => full.initialSync[String(n)];
    expect(row('`kubectl apply` of a key change')).toContain(
      `${full.applyToAwsP50Ms} / ${full.applyToAwsP99Ms} ms`,
    );
    expect(row('… → `Ready=True`')).toContain(`${full.applyToReadyP50Ms} / ${full.applyToReadyP99Ms} ms`);
    expect(row('initial sync of 1,000')).toContain(
      `${sync(1000).seconds} s (floor ${sync(1000).floorSeconds} s)`,
    );
    expect(row('initial sync of 5,000')).toContain(
      `${sync(5000).seconds} s (floor ${sync(5000).floorSeconds} s)`,
    );
    expect(row('steady state: all AWS calls per resource')).toContain(
      `${full.steadyAwsCallsPerResourcePeriod} (${full.steadyResources.toLocaleString('en-US')} in sync`,
    );
    expect(row('operator memory with 10,000')).toContain(
      `${Math.round(full.rssMb)} MB RSS (+${full.rssMbPer1000.toFixed(1)} MB per 1,000)`,
    );
    expect(row('CPU per 1,000 reconciles')).toContain(`${full.cpuSecondsPer1000Reconciles.toFixed(2)} s`);
    expect(row('30% of AWS calls throttled')).toContain(`${full.throttleRetries} SDK retries`);
    expect(performance).toContain(`(${Math.round(full.memoryPoints[0].rssMb)} MB with no resources)`);
    expect(performance).toContain(`full run of ${full.timestamp.slice(0, 10)}`);
    expect(performance).toContain(`Kubernetes\n${full.kubernetesVersion}`);
  });

  it('how long a run takes is said in bench/README.md only', () => {
    expect(read('bench/README.md')).toMatch(/about 56 minutes for a full run/);
    expect(performance).not.toMatch(/\d+\s*min/);
  });
});
