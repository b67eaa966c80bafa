// Go's time.ParseDuration, for flags such as --resync-period=10m: a sequence of decimal numbers,
// each with a unit (ns, us, µs, ms, s, m, h), e.g. 300ms, 1.5h, 2h45m. Answers milliseconds.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds; throws on anything Go would refuse. */
export function parseDuration(text: string): number {
  const input = text.trim();
  let i = 0;
  let sign = 1;
  if (input[0] === '-' || input[0] === '+') {
    sign = input[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (input.slice(i) === '0') return 0;
  if (i >= input.length) throw new Error(`invalid duration "${text}"`);
  let total = 0;
  while (i < input.length) {
    PART.lastIndex = i;
    const match = PART.exec(input);
    if (!match) {
      throw new Error(
        `invalid duration "${text}": expected a number and a unit (ns, us, ms, s, m, h), e.g. 10m or 1h30m`,
      );
    }
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    i = PART.lastIndex;
  }
  return sign * total;
}

/** Formats milliseconds the way Go prints a duration (1h0m0s, 10m0s, 1.5s, 500ms). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = `${Number((rest / 1000).toFixed(3))}s`;
  if (h > 0) return `${sign}${h}h${m}m${s}`;
  if (m > 0) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}
