import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/controller/duration.js';

describe('parseDuration (Go time.ParseDuration)', () => {
  it.each([
    ['10m', 600_000],
    ['30s', 30_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['2h45m10s', 9_910_000],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['0', 0],
    ['0s', 0],
    ['1000us', 1],
    ['1000µs', 1],
    ['2000000ns', 2],
    ['+5s', 5_000],
    ['-5s', -5_000],
    [' 10m ', 600_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', 'm', '10x', '1d', '10 m', '1h 30m', 'ten minutes', '-', '1.2.3s', 's10'])(
    'refuses %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(/invalid duration/);
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [600_000, '10m0s'],
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [1_500, '1.5s'],
    [500, '500ms'],
    [0, '0s'],
  ])('%d ms = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
