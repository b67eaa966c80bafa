// The Markdown a user reads, for the tests that hold the docs to the code.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** README.md, bench/README.md and docs/*.md, relative to the repository. */
export const MARKDOWN_FILES = [
  'README.md',
  'bench/README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

export const readRepoFile = (path: string): string => readFileSync(join(REPO, path), 'utf8');

/** The contents of the ```yaml blocks of a Markdown text. */
export function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
}
