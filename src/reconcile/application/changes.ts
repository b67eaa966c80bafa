// What to send to AWS: the create input, the fields that differ, the tag changes, and the
// events that say what each write did.
import {
  APPLICATION_FIELD_NAMES,
  type ApplicationFieldName,
  type ApplicationFields,
  type DiskEncryptionConfiguration,
  type Spec,
  STARTED_UPDATABLE_FIELDS,
} from '../../api/schema.js';
import type { AwsApplication } from '../../aws/port.js';
import { covers, encryptionIntent, sameEncryption, sameStringMap } from '../compare.js';
import { normal } from '../outcome-base.js';
import { withoutOperatorTags } from '../ownership.js';
import type { RecordedEvent } from '../ports.js';
import type { Action } from './types.js';

export function createAction(
  spec: Spec,
  region: string,
  ownerTags: Record<string, string>,
  clientToken: string,
): Action {
  const fields = pick(
    spec,
    APPLICATION_FIELD_NAMES.filter((f) => spec[f] !== undefined),
  );
  const key = encryptionIntent(spec.diskEncryptionConfiguration).keyArn;
  const encryption =
    spec.diskEncryptionConfiguration === undefined
      ? ''
      : key
        ? ` with customer-managed key ${key}`
        : ' with the AWS-owned key';
  return {
    kind: 'CreateApplication',
    input: {
      ...fields,
      name: spec.name!,
      type: spec.type!,
      releaseLabel: spec.releaseLabel!,
      tags: { ...spec.tags, ...ownerTags },
      // The same on every attempt (status.pendingCreate): a retried create answers the same application.
      clientToken,
    },
    events: [
      normal('Created', 'CreateApplication', `Created application ${spec.name} in ${region}${encryption}.`),
    ],
  };
}

/** The managed fields whose AWS value differs from spec, with the value to send. */
export function fieldChanges(spec: Spec, app: AwsApplication): ApplicationFields {
  const changes: Record<string, unknown> = {};
  for (const field of APPLICATION_FIELD_NAMES) {
    const desired = spec[field];
    if (desired === undefined) continue;
    const same =
      field === 'diskEncryptionConfiguration'
        ? sameEncryption(
            encryptionIntent(spec.diskEncryptionConfiguration),
            encryptionIntent(app.diskEncryptionConfiguration),
          )
        : covers(desired, app[field], field);
    if (!same)
      changes[field] =
        field === 'diskEncryptionConfiguration'
          ? wholeEncryptionConfig(spec.diskEncryptionConfiguration)
          : desired;
  }
  return changes as ApplicationFields;
}

/**
 * The desired encryption config in full: the key with its context (an explicit empty context when
 * spec has none), or `{}` for the AWS-owned key. So the outcome never depends on how AWS merges a
 * partial config with the one it holds.
 */
export function wholeEncryptionConfig(
  config: DiskEncryptionConfiguration | undefined,
): DiskEncryptionConfiguration {
  const intent = encryptionIntent(config);
  return intent.keyArn ? { encryptionKeyArn: intent.keyArn, encryptionContext: intent.context } : {};
}

export function acceptedWhileStarted(field: ApplicationFieldName, spec: Spec, app: AwsApplication): boolean {
  if (!(STARTED_UPDATABLE_FIELDS as readonly string[]).includes(field)) return false;
  // Of the scheduler settings, only maxConcurrentRuns may change while STARTED.
  if (field === 'schedulerConfiguration') {
    return covers(
      { queueTimeoutMinutes: spec.schedulerConfiguration?.queueTimeoutMinutes },
      app.schedulerConfiguration,
    );
  }
  return true;
}

export function updateAction(app: AwsApplication, changes: ApplicationFields): Action {
  const events: RecordedEvent[] = [];
  const { diskEncryptionConfiguration, ...others } = changes;
  if (diskEncryptionConfiguration !== undefined) {
    events.push(
      encryptionEvent(
        encryptionIntent(app.diskEncryptionConfiguration),
        encryptionIntent(diskEncryptionConfiguration),
      ),
    );
  }
  const otherFields = Object.keys(others);
  if (otherFields.length > 0) {
    events.push(
      normal(
        'Updated',
        'UpdateApplication',
        `Updated ${list(otherFields)} of application ${app.applicationId}.`,
      ),
    );
  }
  return { kind: 'UpdateApplication', applicationId: app.applicationId, changes, events };
}

export function encryptionEvent(
  from: ReturnType<typeof encryptionIntent>,
  to: ReturnType<typeof encryptionIntent>,
): RecordedEvent {
  if (!to.keyArn) {
    return normal(
      'KeyUnset',
      'UpdateApplication',
      `Disk encryption returned to the AWS-owned key (was ${from.keyArn}).`,
    );
  }
  if (!from.keyArn)
    return normal(
      'KeyChanged',
      'UpdateApplication',
      `Disk encryption now uses customer-managed key ${to.keyArn} (was the AWS-owned key).`,
    );
  if (from.keyArn === to.keyArn)
    return normal('KeyChanged', 'UpdateApplication', `Encryption context of key ${to.keyArn} changed.`);
  return normal(
    'KeyChanged',
    'UpdateApplication',
    `Disk encryption key changed from ${from.keyArn} to ${to.keyArn}.`,
  );
}

/** spec.tags against AWS, the operator's own tags left out on both sides (ownership.ts keeps those). */
export function tagActions(spec: Spec, app: AwsApplication): Action[] {
  if (spec.tags === undefined) return [];
  const desired = withoutOperatorTags(spec.tags);
  const actual = withoutOperatorTags(app.tags);
  if (sameStringMap(desired, actual)) return [];
  const actions: Action[] = [];
  const toSet = Object.fromEntries(Object.entries(desired).filter(([k, v]) => actual[k] !== v));
  const toRemove = Object.keys(actual).filter((k) => !Object.hasOwn(desired, k));
  const events = [normal('TagsUpdated', 'TagResource', `Tags of application ${app.applicationId} updated.`)];
  if (Object.keys(toSet).length > 0)
    actions.push({ kind: 'TagApplication', arn: app.arn, tags: toSet, events });
  if (toRemove.length > 0) {
    actions.push({
      kind: 'UntagApplication',
      arn: app.arn,
      tagKeys: toRemove,
      events: actions.length ? [] : events,
    });
  }
  return actions;
}

export function immutableConflict(spec: Spec, app: AwsApplication): string | undefined {
  if (spec.name !== undefined && app.name !== undefined && spec.name !== app.name) {
    return `spec.name is ${spec.name} but application ${app.applicationId} is named ${app.name}; a name cannot change. Fix spec.name.`;
  }
  if (spec.type !== undefined && spec.type.toUpperCase() !== app.type.toUpperCase()) {
    return `spec.type is ${spec.type} but application ${app.applicationId} is ${app.type}; a type cannot change. Fix spec.type.`;
  }
  return undefined;
}

export function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

export const list = (fields: readonly string[]) => fields.join(', ');
