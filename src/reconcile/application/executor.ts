// Carries out a plan's actions in order. It decides nothing: a failure stops the sequence and
// is thrown to the reconciler, which turns it into status.
import type { EmrServerlessApplication } from '../../api/schema.js';
import type { AwsApplication, AwsPort } from '../../aws/port.js';
import { type ClaimLocks, claimApplication } from '../ownership.js';
import { assertMayWrite, type EventRecorder, type ResourceWriter, type WriteGuard } from '../ports.js';
import type { Action } from './planner.js';

export interface Execution {
  /** The resource after Kubernetes writes (a new resourceVersion after a finalizer is added). */
  resource: EmrServerlessApplication;
  /** What a create answered: the id to record and look up next. */
  created?: { applicationId: string; arn: string };
  /** The application as it stands after the actions, when no action made the last view stale. */
  app?: AwsApplication;
  /** The finalizer is gone: the object may no longer exist. */
  released: boolean;
}

export async function execute(
  actions: readonly Action[],
  resource: EmrServerlessApplication,
  deps: {
    port: AwsPort;
    writer: ResourceWriter;
    events: EventRecorder;
    claims: ClaimLocks;
    mayWrite?: WriteGuard | undefined;
    /**
     * Called before each AWS write with the resource as last written: writes the plan's intents
     * to status if they are not there yet (write-ahead.ts); answers the new resourceVersion when it wrote.
     */
    beforeAwsWrite?: ((current: EmrServerlessApplication) => Promise<string | undefined>) | undefined;
    /** Told the resource after each Kubernetes write, so a later write (even after a failure) is made on its version. */
    written?: ((current: EmrServerlessApplication) => void) | undefined;
  },
  appBefore: AwsApplication | undefined,
): Promise<Execution> {
  const { port, writer, events, claims } = deps;
  const result: Execution = { resource, released: false };
  let app = appBefore;
  for (const action of actions) {
    // Checked before each write: once the lease is lost, the rest of the plan is not sent.
    assertMayWrite(deps.mayWrite, action.kind);
    if (action.kind !== 'AddFinalizer' && action.kind !== 'RemoveFinalizer') {
      const resourceVersion = await deps.beforeAwsWrite?.(result.resource);
      if (resourceVersion) {
        result.resource = { ...result.resource, metadata: { ...result.resource.metadata, resourceVersion } };
        deps.written?.(result.resource);
      }
    }
    switch (action.kind) {
      case 'AddFinalizer':
        result.resource = await writer.addFinalizer(result.resource);
        deps.written?.(result.resource);
        break;
      case 'RemoveFinalizer':
        await writer.removeFinalizer(result.resource);
        result.released = true;
        break;
      case 'CreateApplication':
        result.created = await port.createApplication(action.input);
        app = undefined;
        break;
      case 'UpdateApplication': {
        const updated = await port.updateApplication(action.applicationId, action.changes);
        // UpdateApplication cannot change tags, and whether its answer carries them is undocumented.
        app = app ? { ...updated, tags: app.tags } : updated;
        break;
      }
      case 'TagApplication':
        await port.tagApplication(action.arn, action.tags);
        if (app) app = { ...app, tags: { ...app.tags, ...action.tags } };
        break;
      case 'UntagApplication':
        await port.untagApplication(action.arn, action.tagKeys);
        if (app) app = { ...app, tags: withoutKeys(app.tags, action.tagKeys) };
        break;
      case 'ClaimApplication':
        // The application as read after the claim: the next plan binds only if it names us.
        app = await claimApplication(port, claims, action);
        break;
      case 'StartApplication':
        await port.startApplication(action.applicationId);
        app = undefined;
        break;
      case 'StopApplication':
        await port.stopApplication(action.applicationId);
        app = undefined;
        break;
      case 'DeleteApplication':
        await port.deleteApplication(action.applicationId);
        app = undefined;
        break;
    }
    for (const event of action.events ?? []) events.record(result.resource, event);
  }
  result.app = app;
  return result;
}

function withoutKeys(tags: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !keys.includes(k)));
}
