import { parseArgs } from 'node:util';
import { crdYaml } from '../api/crd.js';

const usage = `Usage: emr-serverless-operator crd

Prints the EmrServerlessApplication CustomResourceDefinition and its admission policy (the same as crds/).`;

export async function crdCommand(args: string[]): Promise<number> {
  let help: boolean | undefined;
  try {
    ({ help } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } } }).values);
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (help) {
    console.log(usage);
    return 0;
  }
  process.stdout.write(crdYaml());
  return 0;
}
