// `emr-serverless-operator key-usage NAME [-n NAMESPACE] [--since 7d]`: which KMS keys the workers'
// disks of one application used, when first and last, and how many calls, from CloudTrail's event
// history: EMR Serverless makes its data keys with the application's id in the encryption
// context, and CloudTrail records that context with each GenerateDataKey and Decrypt.
import { parseArgs } from 'node:util';
import type { CloudTrailClient as CloudTrailClientType } from '@aws-sdk/client-cloudtrail';
import { placeholderCredentials } from '../aws/clients.js';
import { parseDuration } from '../controller/duration.js';
import { readApplication } from './read-application.js';

const usage = `Usage: emr-serverless-operator key-usage NAME [-n NAMESPACE] [--since 7d] [flags]

Prints which KMS keys encrypted the workers' disks of the EmrServerlessApplication NAME, when
each was first and last used, and how many GenerateDataKey and Decrypt calls CloudTrail recorded,
from CloudTrail's event history (LookupEvents) in the application's account and region. Needs
cloudtrail:LookupEvents (key-policy --operator-iam-policy --key-usage prints the statement).

Flags:
  -n, --namespace NS     the application's namespace (default: the kubeconfig context's, else default)
  --since DURATION       how far back to look: 7d (the default), 36h, 90m; at most 90d (CloudTrail's
                         event history keeps 90 days)
  -o, --output FORMAT    table (the default) or json
  --kubeconfig PATH      kubeconfig to use (KUBECONFIG; else in-cluster; else ~/.kube/config)
  --aws-endpoint URL     send the CloudTrail calls there (the local service)
  --help                 show this help

LookupEvents is limited to 2 calls per second per account and region: the command keeps to it,
and pages through at most 50 events per call.`;

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_SINCE_MS = 90 * DAY_MS;
/** CloudTrail's LookupEvents quota: 2 per second per account and region. */
const LOOKUPS_PER_SECOND = 2;
/** The calls EMR Serverless makes with a data key for the workers' disks. */
const USAGE_EVENTS = ['GenerateDataKey', 'Decrypt'] as const;

/** One KMS call as CloudTrail recorded it (the fields key-usage reads). */
export interface KeyEvent {
  name: string;
  time: Date;
  keyArn: string;
  encryptionContext: Record<string, string>;
}

export interface KeyUsage {
  keyArn: string;
  firstUsed: string;
  lastUsed: string;
  generateDataKey: number;
  decrypt: number;
}

/** The keys an application's workers used, from the events whose context names the application. */
export function keyUsageOf(events: readonly KeyEvent[], applicationId: string): KeyUsage[] {
  const byKey = new Map<string, KeyUsage>();
  for (const e of events) {
    if (e.encryptionContext.applicationId !== applicationId) continue;
    const at = e.time.toISOString();
    const u = byKey.get(e.keyArn) ?? {
      keyArn: e.keyArn,
      firstUsed: at,
      lastUsed: at,
      generateDataKey: 0,
      decrypt: 0,
    };
    if (at < u.firstUsed) u.firstUsed = at;
    if (at > u.lastUsed) u.lastUsed = at;
    if (e.name === 'GenerateDataKey') u.generateDataKey += 1;
    else if (e.name === 'Decrypt') u.decrypt += 1;
    byKey.set(e.keyArn, u);
  }
  return [...byKey.values()].sort((a, b) => (a.lastUsed < b.lastUsed ? 1 : a.lastUsed > b.lastUsed ? -1 : 0));
}

/** `7d`, or a Go duration (`36h`, `90m`). */
export function parseSince(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * DAY_MS : parseDuration(text);
  if (!(ms > 0) || ms > MAX_SINCE_MS)
    throw new Error(`--since must be more than 0 and at most 90d, got ${text}`);
  return ms;
}

/** One CloudTrail record as LookupEvents returns it (CloudTrailEvent is its JSON text). */
export function keyEventOf(name: string, cloudTrailEvent: string | undefined): KeyEvent | undefined {
  if (!cloudTrailEvent) return undefined;
  let record: {
    eventTime?: string;
    requestParameters?: { keyId?: string; encryptionContext?: Record<string, string> } | null;
    resources?: Array<{ ARN?: string; type?: string }>;
  };
  try {
    record = JSON.parse(cloudTrailEvent);
  } catch {
    return undefined;
  }
  const keyArn =
    record.resources?.find((r) => r.type === 'AWS::KMS::Key')?.ARN ?? record.requestParameters?.keyId;
  if (!keyArn || !record.eventTime) return undefined;
  return {
    name,
    time: new Date(record.eventTime),
    keyArn,
    encryptionContext: record.requestParameters?.encryptionContext ?? {},
  };
}

/** Every GenerateDataKey and Decrypt event since `since`, at most LOOKUPS_PER_SECOND calls a second. */
async function lookUp(
  client: CloudTrailClientType,
  since: Date,
): Promise<{ events: KeyEvent[]; calls: number }> {
  const { LookupEventsCommand } = await import('@aws-sdk/client-cloudtrail');
  const events: KeyEvent[] = [];
  let calls = 0;
  let lastCall = 0;
  for (const name of USAGE_EVENTS) {
    let NextToken: string | undefined;
    do {
      const wait = lastCall + 1000 / LOOKUPS_PER_SECOND - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lastCall = Date.now();
      calls += 1;
      const page = await client.send(
        new LookupEventsCommand({
          LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }],
          StartTime: since,
          MaxResults: 50,
          ...(NextToken && { NextToken }),
        }),
      );
      for (const e of page.Events ?? []) {
        const event = keyEventOf(name, e.CloudTrailEvent);
        if (event) events.push(event);
      }
      NextToken = page.NextToken;
    } while (NextToken);
  }
  return { events, calls };
}

export async function keyUsageCommand(args: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  let sinceMs: number;
  try {
    ({ values, positionals } = parse(args));
    sinceMs = parseSince(values.since ?? '7d');
    if (values.output !== undefined && values.output !== 'table' && values.output !== 'json') {
      throw new Error(`--output must be table or json, got ${values.output}`);
    }
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) {
    console.error(`key-usage takes one application name\n\n${usage}`);
    return 2;
  }
  const read = await readApplication(name, values);
  if ('error' in read) {
    console.error(read.error);
    return 1;
  }
  const { application, namespace } = read;
  const applicationId = application.status?.applicationId;
  const region = application.status?.region;
  if (!applicationId || !region) {
    console.error(
      `EmrServerlessApplication ${namespace}/${name} has no application in AWS yet (status.applicationId)`,
    );
    return 1;
  }
  const { CloudTrailClient } = await import('@aws-sdk/client-cloudtrail');
  const endpoint = values['aws-endpoint'];
  const credentials = placeholderCredentials(endpoint);
  const client = new CloudTrailClient({
    region,
    ...(endpoint && { endpoint }),
    ...(credentials && { credentials }),
  });
  try {
    const since = new Date(Date.now() - sinceMs);
    const { events } = await lookUp(client, since);
    const usage = keyUsageOf(events, applicationId);
    if (values.output === 'json') {
      console.log(
        JSON.stringify(
          { application: applicationId, region, since: since.toISOString(), keys: usage },
          null,
          2,
        ),
      );
    } else {
      console.log(table(applicationId, since, usage, application.status?.diskEncryption?.encryptionKeyArn));
    }
    return 0;
  } catch (err) {
    console.error(`CloudTrail LookupEvents in ${region}: ${(err as Error).name}: ${(err as Error).message}`);
    return 1;
  } finally {
    client.destroy();
  }
}

function table(applicationId: string, since: Date, usage: KeyUsage[], current: string | undefined): string {
  const head = `Application ${applicationId}: keys used by its workers since ${since.toISOString()}`;
  if (usage.length === 0)
    return `${head}\n(no GenerateDataKey or Decrypt recorded with this application's id)`;
  const rows = [
    ['KEY', 'FIRST USED', 'LAST USED', 'GENERATEDATAKEY', 'DECRYPT', 'CURRENT'],
    ...usage.map((u) => [
      u.keyArn,
      u.firstUsed,
      u.lastUsed,
      String(u.generateDataKey),
      String(u.decrypt),
      u.keyArn === current ? 'yes' : '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    head,
    ...rows.map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
  ].join('\n');
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      namespace: { type: 'string', short: 'n' },
      since: { type: 'string' },
      output: { type: 'string', short: 'o' },
      kubeconfig: { type: 'string' },
      'aws-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
}
