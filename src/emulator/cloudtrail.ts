// CloudTrail's event history for the KMS calls the local service serves (awsJson1_1,
// `x-amz-target: CloudTrail_20131101.LookupEvents`): each use
// of a key is an event with who made it, the key, and the request's encryption context, which is
// the evidence auditors ask for. LookupEvents answers them as CloudTrail does, newest first, one
// lookup attribute at a time, and throttles at its documented 2 requests per second per account
// and region.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { CallContext } from './emr.js';
import { ServiceError } from './errors.js';
import { parseInput } from './validation.js';

/** The `x-amz-target` prefixes of CloudTrail: the SDK sends the short one. */
export const CLOUDTRAIL_TARGET_PREFIXES: readonly string[] = [
  'CloudTrail_20131101',
  'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101',
];
/** LookupEvents' rate: 2 per second per account per region (CloudTrail's quotas). */
const LOOKUP_EVENTS_PER_SECOND = 2;
const READ_ONLY_KMS = new Set(['DescribeKey', 'GetKeyPolicy', 'ListKeys', 'ListAliases']);

/** One event of the history: a KMS call, made by a caller or by a service for it. */
export interface TrailEvent {
  id: string;
  name: string;
  time: number;
  account: string;
  region: string;
  accessKeyId?: string | undefined;
  username?: string | undefined;
  userIdentity: Record<string, unknown>;
  keyArn: string;
  requestParameters: Record<string, unknown>;
}

const ATTRIBUTE_KEYS = [
  'EventId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'EventSource',
  'AccessKeyId',
] as const;

const lookupEventsRequest = z.object({
  LookupAttributes: z
    .array(z.object({ AttributeKey: z.enum(ATTRIBUTE_KEYS), AttributeValue: z.string().min(1).max(2000) }))
    .max(1, 'LookupAttributes takes at most one attribute')
    .optional(),
  StartTime: z.number().optional(),
  EndTime: z.number().optional(),
  EventCategory: z.enum(['insight']).optional(),
  MaxResults: z.int().min(1).max(50).optional(),
  NextToken: z.string().min(1).optional(),
});

const MAX_EVENTS_KEPT = 100_000;

export class CloudTrailService {
  static readonly OPERATIONS = ['LookupEvents'] as const;
  private events: TrailEvent[] = [];
  /** Per account and region: the times of the last lookups, for the rate. */
  private lookups = new Map<string, number[]>();

  reset(): void {
    this.events = [];
    this.lookups.clear();
  }

  /** Records a KMS call in the key's account and, when another account made it, in the caller's. */
  record(
    event: Omit<TrailEvent, 'id' | 'time' | 'account' | 'region'>,
    where: { keyAccount: string; region: string; callerAccount?: string | undefined },
  ): void {
    const base = { ...event, id: randomUUID(), time: Date.now(), region: where.region };
    this.events.push({ ...base, account: where.keyAccount });
    if (where.callerAccount && where.callerAccount !== where.keyAccount) {
      this.events.push({ ...base, account: where.callerAccount });
    }
    if (this.events.length > MAX_EVENTS_KEPT) this.events.splice(0, this.events.length - MAX_EVENTS_KEPT);
  }

  handle(ctx: CallContext, operation: string, body: unknown): Record<string, unknown> {
    if (operation !== 'LookupEvents') {
      throw new ServiceError(400, 'UnknownOperationException', `Unknown operation ${operation}`);
    }
    this.throttle(ctx);
    const input = parseInput(lookupEventsRequest, body);
    const start = input.StartTime === undefined ? 0 : input.StartTime * 1000;
    const end = input.EndTime === undefined ? Number.POSITIVE_INFINITY : input.EndTime * 1000;
    if (start > end) throw new ServiceError(400, 'InvalidTimeRangeException', 'StartTime is after EndTime.');
    const attribute = input.LookupAttributes?.[0];
    const matching = this.events
      .filter((e) => e.account === ctx.account && e.region === ctx.region && e.time >= start && e.time <= end)
      .filter((e) => !attribute || attributeOf(e, attribute.AttributeKey) === attribute.AttributeValue)
      .reverse();
    const from = input.NextToken === undefined ? 0 : tokenOffset(input.NextToken, matching.length);
    const max = input.MaxResults ?? 50;
    const page = matching.slice(from, from + max);
    return {
      Events: page.map(eventOut),
      ...(from + max < matching.length
        ? { NextToken: Buffer.from(String(from + max)).toString('base64url') }
        : {}),
    };
  }

  private throttle(ctx: CallContext): void {
    const key = `${ctx.account} ${ctx.region}`;
    const now = Date.now();
    const recent = (this.lookups.get(key) ?? []).filter((t) => now - t < 1000);
    if (recent.length >= LOOKUP_EVENTS_PER_SECOND) {
      this.lookups.set(key, recent);
      throw new ServiceError(400, 'ThrottlingException', 'Rate exceeded');
    }
    recent.push(now);
    this.lookups.set(key, recent);
  }
}

function tokenOffset(token: string, length: number): number {
  const n = Number(Buffer.from(token, 'base64url').toString());
  if (!Number.isInteger(n) || n < 0 || n > length) {
    throw new ServiceError(400, 'InvalidNextTokenException', 'Invalid NextToken');
  }
  return n;
}

function attributeOf(e: TrailEvent, key: (typeof ATTRIBUTE_KEYS)[number]): string | undefined {
  switch (key) {
    case 'EventId':
      return e.id;
    case 'EventName':
      return e.name;
    case 'ReadOnly':
      return String(READ_ONLY_KMS.has(e.name));
    case 'Username':
      return e.username;
    case 'ResourceType':
      return 'AWS::KMS::Key';
    case 'ResourceName':
      return e.keyArn;
    case 'EventSource':
      return 'kms.amazonaws.com';
    case 'AccessKeyId':
      return e.accessKeyId;
  }
}

/** An event as LookupEvents answers it: the summary, and the whole record as JSON text. */
function eventOut(e: TrailEvent): Record<string, unknown> {
  const record = {
    eventVersion: '1.11',
    userIdentity: e.userIdentity,
    eventTime: new Date(e.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'kms.amazonaws.com',
    eventName: e.name,
    awsRegion: e.region,
    requestParameters: e.requestParameters,
    responseElements: null,
    requestID: randomUUID(),
    eventID: e.id,
    readOnly: READ_ONLY_KMS.has(e.name),
    resources: [{ accountId: e.keyArn.split(':')[4], type: 'AWS::KMS::Key', ARN: e.keyArn }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: e.account,
    eventCategory: 'Management',
  };
  return {
    EventId: e.id,
    EventName: e.name,
    ReadOnly: String(READ_ONLY_KMS.has(e.name)),
    ...(e.accessKeyId && { AccessKeyId: e.accessKeyId }),
    EventTime: e.time / 1000,
    EventSource: 'kms.amazonaws.com',
    ...(e.username && { Username: e.username }),
    Resources: [{ ResourceType: 'AWS::KMS::Key', ResourceName: e.keyArn }],
    CloudTrailEvent: JSON.stringify(record),
  };
}
