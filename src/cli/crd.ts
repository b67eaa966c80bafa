import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crdFiles, crdYaml } from '../api/crd.js';

const usage = `Usage: emr-serverless-operator crd [--output-dir DIR]

Prints the CustomResourceDefinitions (EmrServerlessApplication, EmrServerlessJobRun) and their
admission policies as one YAML stream, the same as crds/. With --output-dir, writes one file per
kind into DIR instead (how crds/ is generated).`;

export async function crdCommand(args: string[]): Promise<number> {
  let values: { help?: boolean; 'output-dir'?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, 'output-dir': { type: 'string' } },
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const dir = values['output-dir'];
  if (dir !== undefined) {
    for (const f of crdFiles()) writeFileSync(join(dir, f.file), f.yaml);
    return 0;
  }
  process.stdout.write(crdYaml());
  return 0;
}
