import { crdYaml } from '../api/crd.js';

export async function crdCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(
      'Usage: emr-serverless-operator crd\n\nPrints the EmrServerlessApplication CustomResourceDefinition (the same as crds/).',
    );
    return 0;
  }
  process.stdout.write(crdYaml());
  return 0;
}
