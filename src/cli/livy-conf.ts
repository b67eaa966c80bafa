// `emr-serverless-operator livy-conf NAME [-n NAMESPACE]`: the Livy session `conf` entries that
// make an interactive session use the same disk encryption key as the application, as JSON ready
// to merge into a session request. Read from the EmrServerlessApplication's status (what AWS
// holds), never from spec: a key not applied yet is not offered.
import { parseArgs } from 'node:util';
import type { DiskEncryptionStatus } from '../api/schema.js';
import { readApplication } from './read-application.js';

const usage = `Usage: emr-serverless-operator livy-conf NAME [-n NAMESPACE] [--kubeconfig PATH]

Prints, as JSON, the Livy session conf entries for the customer-managed key of the
EmrServerlessApplication NAME (as AWS holds it, from its status):
  spark.emr-serverless.disk.encryptionKeyArn
  spark.emr-serverless.disk.encryptionContext   (k1:v1,k2:v2; only when a context is set)
Merge them into the "conf" of a session request to the application's Livy endpoint.
Fails when the application has no customer-managed key.

Flags:
  -n, --namespace NS   the application's namespace (default: the kubeconfig context's, else default)
  --kubeconfig PATH    kubeconfig to use (KUBECONFIG; else in-cluster; else ~/.kube/config)
  --help               show this help`;

export const LIVY_KEY_ARN = 'spark.emr-serverless.disk.encryptionKeyArn';
export const LIVY_CONTEXT = 'spark.emr-serverless.disk.encryptionContext';

/** Thrown when there is no conf to print; the message says why and what to do. */
export class NoLivyConf extends Error {}

/**
 * The session conf for an application's disk encryption as AWS holds it. The context is
 * `k1:v1,k2:v2`, which cannot carry a key or value containing `:` or `,`: such a context is
 * refused rather than sent mangled.
 */
export function livySessionConf(
  name: string,
  disk: DiskEncryptionStatus | undefined,
): Record<string, string> {
  if (!disk) {
    throw new NoLivyConf(
      `EmrServerlessApplication ${name} has no disk encryption in its status yet: is the operator running, and is the application created?`,
    );
  }
  if (disk.mode !== 'CustomerManaged' || !disk.encryptionKeyArn) {
    throw new NoLivyConf(
      `EmrServerlessApplication ${name} uses the AWS-owned key: there is no customer-managed key to pass to a Livy session. Set spec.diskEncryptionConfiguration.encryptionKeyArn first.`,
    );
  }
  const conf: Record<string, string> = { [LIVY_KEY_ARN]: disk.encryptionKeyArn };
  const context = Object.entries(disk.encryptionContext ?? {});
  const unsafe = context.filter(([k, v]) => /[:,]/.test(k) || /[:,]/.test(v)).map(([k]) => k);
  if (unsafe.length > 0) {
    throw new NoLivyConf(
      `The encryption context of EmrServerlessApplication ${name} has a key or value with ':' or ',' (${unsafe.join(', ')}), which ${LIVY_CONTEXT} (k1:v1,k2:v2) cannot carry.`,
    );
  }
  if (context.length > 0) conf[LIVY_CONTEXT] = context.map(([k, v]) => `${k}:${v}`).join(',');
  return conf;
}

export async function livyConfCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(usage);
    return 0;
  }
  const [name, ...extra] = parsed.positionals;
  if (!name || extra.length > 0) {
    console.error(`livy-conf takes one application name\n\n${usage}`);
    return 2;
  }
  const read = await readApplication(name, parsed.values);
  if ('error' in read) {
    console.error(read.error);
    return 1;
  }
  const app = read.application;
  try {
    console.log(JSON.stringify(livySessionConf(name, app.status?.diskEncryption), null, 2));
    return 0;
  } catch (err) {
    if (!(err instanceof NoLivyConf)) throw err;
    console.error(err.message);
    return 1;
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
}
