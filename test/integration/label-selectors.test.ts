// The operator checks --watch-label-selector at start-up (src/cli/label-selector.ts); the real
// kube-apiserver must agree with it on every selector of the shared table.
import { describe, expect, it } from 'vitest';
import { kubectl } from '../support/cluster.js';
import { INVALID_SELECTORS, VALID_SELECTORS } from '../support/label-selectors.js';

describe('the API server judges the selectors as the operator does', () => {
  it.each(VALID_SELECTORS)('accepts %s', async (selector) => {
    const result = await kubectl(['get', 'namespaces', '-l', selector, '-o', 'name'], { check: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });
  it.each(INVALID_SELECTORS)('refuses %s', async (selector) => {
    const result = await kubectl(['get', 'namespaces', '-l', selector, '-o', 'name'], { check: false });
    expect(result.exitCode).not.toBe(0);
  });
});
