// Quiet windows. "Nothing was written in N s" proves something only if the operator looked in
// those N s: a window in which no resync happened passes whatever the operator would have done.
// expectQuietWindow counts what every look costs (AWS reads in the local service's calls log,
// reconciles in the operator's metrics) over the window and fails when a count did not move;
// then it checks that nothing was written.
//
//   const figures = await expectQuietWindow({
//     ms: RESYNC_MS + 500,
//     reads: e2e.awsReads({ applicationId: id }),
//     writes: () => e2e.writesSince(mark, id),
//   });
import { expect } from 'vitest';
import type { Call } from '../../src/emulator/index.js';

/** Something the operator does on every look, counted. */
export interface ReadCount {
  /** What is counted, for messages and figures, e.g. "GetApplication|ListApplications of 00f...". */
  what: string;
  count(): number | Promise<number>;
  /** How many the window must hold at least (default 1: one resync). */
  atLeast?: number;
}

export interface QuietWindow {
  /** How long to wait, in ms (at least one resync period), or what to do during the window. */
  during: number | (() => Promise<void>);
  /** Counted before and after the window; each must grow by its `atLeast`. */
  reads: ReadCount | ReadCount[];
  /** The writes to fail on, asked once the window is over: the answer must be empty. */
  writes?: () => unknown[] | Promise<unknown[]>;
}

export interface QuietWindowFigures {
  /** How long the window lasted, in ms. */
  ms: number;
  /** Reads counted in the window, by `what`. */
  reads: Record<string, number>;
}

/** Waits out the window; fails when a read count did not grow (no resync) or when something was written. */
export async function expectQuietWindow(window: QuietWindow): Promise<QuietWindowFigures> {
  const counts = [window.reads].flat();
  const before = await Promise.all(counts.map((c) => c.count()));
  const started = Date.now();
  if (typeof window.during === 'number') await new Promise((r) => setTimeout(r, window.during as number));
  else await window.during();
  const ms = Date.now() - started;
  const after = await Promise.all(counts.map((c) => c.count()));
  const figures: QuietWindowFigures = { ms, reads: {} };
  counts.forEach((c, i) => {
    figures.reads[c.what] = after[i]! - before[i]!;
  });
  if (process.env.QUIET_WINDOW_FIGURES) console.log(`quiet window: ${JSON.stringify(figures)}`);
  for (const c of counts) {
    expect(
      figures.reads[c.what],
      `${c.what} in a quiet window of ${ms} ms: no look at all, so "nothing written" proves nothing`,
    ).toBeGreaterThanOrEqual(c.atLeast ?? 1);
  }
  if (window.writes) expect(await window.writes()).toEqual([]);
  return figures;
}

/** The application reads a resync makes: a listing, or a GetApplication. */
export const APPLICATION_READS = ['GetApplication', 'ListApplications'] as const;

/** Calls of the local service's log with one of `operations` (of one application, when given). */
export function callCount(
  calls: () => Promise<readonly Call[]>,
  options: { operations?: readonly string[]; applicationId?: string; atLeast?: number } = {},
): ReadCount {
  const operations = options.operations ?? APPLICATION_READS;
  const { applicationId } = options;
  return {
    what: `${operations.join('|')}${applicationId ? ` of ${applicationId}` : ''}`,
    // A listing of the applications names none: it counts for each of them.
    count: async () =>
      (await calls()).filter(
        (c) =>
          operations.includes(c.operation) &&
          (applicationId === undefined || c.applicationId === undefined || c.applicationId === applicationId),
      ).length,
    ...(options.atLeast !== undefined && { atLeast: options.atLeast }),
  };
}

/** The sum of `controller_runtime_reconcile_total` of one controller, from a /metrics text. */
export function reconcileTotal(metrics: string, controller = 'emrserverlessapplication'): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    const m = /^controller_runtime_reconcile_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1]?.includes(`controller="${controller}"`)) total += Number(m[2]);
  }
  return total;
}
