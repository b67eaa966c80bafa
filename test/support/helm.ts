// The real helm (built from its Go module with the control plane, see src/envtest/build.ts),
// against the shared control plane, with its own config/cache/data directories so it neither
// reads nor writes the developer's.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { findRepoRoot } from '../../src/envtest/index.js';

export const CHART = join(findRepoRoot(), 'charts', 'emr-serverless-operator');
export const CI_VALUES = join(CHART, 'ci');

/**
 * A team chart's template: an EmrServerlessApplication whose key is `.Values.keyArn`. Without
 * that value it renders `encryptionKeyArn:` with nothing after it, a null.
 */
export function keyFromValuesTemplate(name: string): string {
  return [
    'apiVersion: emrserverless.operator.dev/v1alpha1',
    'kind: EmrServerlessApplication',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  name: ${name}`,
    '  type: SPARK',
    '  releaseLabel: emr-7.5.0',
    '  diskEncryptionConfiguration:',
    '    encryptionKeyArn: {{ .Values.keyArn }}',
    '',
  ].join('\n');
}

const home = mkdtempSync(join(tmpdir(), 'helm-home-'));

export interface HelmResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs helm; rejects on a non-zero exit unless `check: false`. */
export function helm(args: string[], options: { check?: boolean } = {}): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    execFile(
      inject('helm'),
      args,
      {
        env: {
          PATH: process.env.PATH,
          HOME: home,
          KUBECONFIG: inject('kubeconfig'),
          HELM_CONFIG_HOME: join(home, 'config'),
          HELM_CACHE_HOME: join(home, 'cache'),
          HELM_DATA_HOME: join(home, 'data'),
        },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const result = { exitCode, stdout, stderr };
        if (exitCode !== 0 && options.check !== false) {
          reject(new Error(`helm ${args.join(' ')} failed (exit ${exitCode}):\n${stderr}`));
        } else {
          resolve(result);
        }
      },
    );
  });
}

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export function parseObjects(yaml: string): RenderedObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null);
}

/** `helm template` of the chart; answers the objects it renders. */
export async function helmTemplate(
  release: string,
  namespace: string,
  valuesFiles: string[],
  extra: string[] = [],
): Promise<RenderedObject[]> {
  const { stdout } = await helm([
    'template',
    release,
    CHART,
    '--namespace',
    namespace,
    ...valuesFiles.flatMap((file) => ['-f', join(CI_VALUES, file)]),
    ...extra,
  ]);
  return parseObjects(stdout);
}

export const objectNames = (objects: RenderedObject[]): string[] =>
  objects
    .map((o) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`)
    .sort();
