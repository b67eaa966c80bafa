// The AwsPort of one region over the AWS SDK v3. SDK types stop here: the rest of the operator
// sees AwsApplication, KeyFacts and AwsError only.
//
// Rate limiting, retries and call metrics are not done here but in the clients' middleware
// (clients.ts), so they also cover every page of a paginated listing and every SDK retry.
import {
  type Application,
  type ApplicationSummary as ApplicationSummarySdk,
  CancelJobRunCommand,
  CreateApplicationCommand,
  type CreateApplicationRequest,
  DeleteApplicationCommand,
  type EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  type JobRun,
  type JobRunState,
  ListApplicationsCommand,
  type ListApplicationsCommandOutput,
  ListJobRunsCommand,
  ListSessionsCommand,
  type SessionState,
  StartApplicationCommand,
  StartJobRunCommand,
  StopApplicationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
  type UpdateApplicationRequest,
} from '@aws-sdk/client-emr-serverless';
import { DescribeKeyCommand, GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { OWNER_UID_TAG, SUBMISSION_TAG } from '../api/constants.js';
import { APPLICATION_FIELD_NAMES, type ApplicationFields } from '../api/schema.js';
import { toAwsError } from './errors.js';
import { type TaggableCommand, tagTenant } from './middleware.js';
import {
  type ActiveWork,
  APPLICATION_STATES,
  type ApplicationState,
  type ApplicationSummary,
  type AwsApplication,
  type AwsJobRun,
  type AwsPort,
  type CreateApplicationInput,
  type KeyFacts,
  type KeyPolicyFacts,
  type OwnedJobRunQuery,
  type JobRunState as RunState,
  type StartJobRunInput,
} from './port.js';
import { SHARED_TENANT } from './tenant.js';

/** Every state but TERMINATED: the apps findOwnedApplication may adopt. */
const LIVE_STATES = APPLICATION_STATES.filter((s) => s !== 'TERMINATED');

/** Job run states that are not final: such runs block StopApplication. */
const ACTIVE_JOB_RUN_STATES: JobRunState[] = [
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'RUNNING',
  'CANCELLING',
  'QUEUED',
];

/** Session states before the end: such sessions keep the application busy as a run does. */
const ACTIVE_SESSION_STATES: SessionState[] = [
  'SUBMITTED',
  'STARTING',
  'STARTED',
  'IDLE',
  'BUSY',
  'TERMINATING',
];

/** ListJobRuns and ListSessions page size for countActiveWork: see there. */
export const ACTIVE_JOB_RUNS_PAGE_SIZE = 20;

/** ListApplications' largest page; and a guard against a listing that never ends (100,000 apps). */
const LIST_PAGE_SIZE = 50;
const MAX_LIST_PAGES = 2_000;

/**
 * Application fields whose SDK shape equals the spec's, copied as answered. (The SDK types mark
 * required members `| undefined`, hence the untyped copy.) diskEncryptionConfiguration is
 * deliberately untouched: absent, `{}` and "no key ARN" are told apart by the planner, not here.
 */
const AS_ANSWERED = [
  'architecture',
  'autoStartConfiguration',
  'autoStopConfiguration',
  'initialCapacity',
  'maximumCapacity',
  'networkConfiguration',
  'runtimeConfiguration',
  'monitoringConfiguration',
  'interactiveConfiguration',
  'schedulerConfiguration',
  'jobLevelCostAllocationConfiguration',
  'diskEncryptionConfiguration',
] as const satisfies readonly (keyof ApplicationFields & keyof Application)[];

type ImageConfiguration = NonNullable<Application['imageConfiguration']>;

/** The declarable part of an image configuration: resolvedImageDigest is output only. */
function declarableImage(image: ImageConfiguration): NonNullable<ApplicationFields['imageConfiguration']> {
  const out: NonNullable<ApplicationFields['imageConfiguration']> = {};
  if (image.imageUri !== undefined) out.imageUri = image.imageUri;
  if (image.applicationLevelDigestResolution !== undefined) {
    out.applicationLevelDigestResolution = image.applicationLevelDigestResolution;
  }
  return out;
}

/** GetApplication's answer in the spec's field names, without output-only noise. */
export function toAwsApplication(app: Application): AwsApplication {
  const out: AwsApplication = {
    applicationId: app.applicationId ?? '',
    arn: app.arn ?? '',
    type: app.type ?? '',
    releaseLabel: app.releaseLabel ?? '',
    state: (app.state ?? 'CREATING') as ApplicationState,
    tags: { ...(app.tags ?? {}) },
  };
  if (app.name !== undefined) out.name = app.name;
  if (app.stateDetails !== undefined) out.stateDetails = app.stateDetails;
  if (app.updatedAt !== undefined) out.updatedAt = app.updatedAt;

  Object.assign(
    out,
    Object.fromEntries(AS_ANSWERED.filter((f) => app[f] !== undefined).map((f) => [f, app[f]])),
  );
  if (app.imageConfiguration !== undefined) out.imageConfiguration = declarableImage(app.imageConfiguration);
  if (app.workerTypeSpecifications !== undefined) {
    out.workerTypeSpecifications = Object.fromEntries(
      Object.entries(app.workerTypeSpecifications).map(([worker, spec]) => [
        worker,
        spec.imageConfiguration === undefined
          ? {}
          : { imageConfiguration: declarableImage(spec.imageConfiguration) },
      ]),
    );
  }
  if (app.identityCenterConfiguration !== undefined) {
    // identityCenterApplicationArn is made by the service; the spec cannot declare it.
    const { identityCenterApplicationArn: _madeByService, ...declarable } = app.identityCenterConfiguration;
    out.identityCenterConfiguration = declarable;
  }
  return out;
}

/** GetJobRun's answer, reduced to what the operator shows or acts on. */
export function toAwsJobRun(run: JobRun): AwsJobRun {
  const out: AwsJobRun = {
    applicationId: run.applicationId ?? '',
    jobRunId: run.jobRunId ?? '',
    arn: run.arn ?? '',
    state: (run.state ?? 'SUBMITTED') as RunState,
    tags: { ...(run.tags ?? {}) },
  };
  if (run.name !== undefined) out.name = run.name;
  if (run.stateDetails) out.stateDetails = run.stateDetails;
  if (run.createdAt) out.createdAt = run.createdAt;
  if (run.startedAt) out.startedAt = run.startedAt;
  if (run.endedAt) out.endedAt = run.endedAt;
  if (run.attempt !== undefined) out.attempt = run.attempt;
  if (run.totalExecutionDurationSeconds !== undefined)
    out.totalExecutionDurationSeconds = run.totalExecutionDurationSeconds;
  if (run.totalResourceUtilization) out.totalResourceUtilization = { ...run.totalResourceUtilization };
  if (run.billedResourceUtilization) out.billedResourceUtilization = { ...run.billedResourceUtilization };
  const disk = run.configurationOverrides?.diskEncryptionConfiguration;
  if (disk !== undefined) out.diskEncryptionConfiguration = { ...disk };
  return out;
}

type SdkApplicationFields = Omit<UpdateApplicationRequest, 'applicationId' | 'clientToken'>;

/**
 * The given fields, and only those, as the SDK takes them. The shapes are the spec's (the SDK
 * types only differ in nesting `configurations` as typed objects), so this is a copy of the
 * present keys.
 */
function toSdkFields(fields: ApplicationFields): SdkApplicationFields {
  const out: Record<string, unknown> = {};
  for (const name of APPLICATION_FIELD_NAMES) {
    if (fields[name] !== undefined) out[name] = fields[name];
  }
  return out as SdkApplicationFields;
}

export interface SdkAwsPortClients {
  region: string;
  /** The role's account; undefined for the operator's own identity. */
  account?: string | undefined;
  emr: EMRServerlessClient;
  kms: KMSClient;
  /** The namespace its calls are made for (tenant.ts); default SHARED_TENANT. */
  tenant?: string;
}

export class SdkAwsPort implements AwsPort {
  readonly region: string;
  readonly account: string | undefined;
  private readonly emr: EMRServerlessClient;
  private readonly kms: KMSClient;
  private readonly tenant: string;

  constructor(clients: SdkAwsPortClients) {
    this.region = clients.region;
    this.account = clients.account;
    this.emr = clients.emr;
    this.kms = clients.kms;
    this.tenant = clients.tenant ?? SHARED_TENANT;
  }

  /** The command, tagged with this port's namespace (an untagged call is the shared tenant's). */
  private tagged<C extends TaggableCommand>(command: C): C {
    return this.tenant === SHARED_TENANT ? command : tagTenant(command, this.tenant);
  }

  async getApplication(applicationId: string): Promise<AwsApplication | undefined> {
    try {
      const { application } = await this.emr.send(this.tagged(new GetApplicationCommand({ applicationId })));
      return application ? toAwsApplication(application) : undefined;
    } catch (err) {
      const error = toAwsError(err, 'GetApplication');
      if (error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  async listApplications(): Promise<ApplicationSummary[]> {
    const out: ApplicationSummary[] = [];
    for await (const summary of this.liveApplications()) {
      if (!summary.id) continue;
      out.push({
        applicationId: summary.id,
        ...(summary.name ? { name: summary.name } : {}),
        state: (summary.state ?? 'CREATING') as ApplicationState,
        ...(summary.updatedAt ? { updatedAt: summary.updatedAt } : {}),
      });
    }
    return out;
  }

  /**
   * Lists every live application (all pages; or takes `listed`, the ids a listing names with this
   * name), keeps those with this name, and reads their tags
   * with GetApplication (ListApplications has none). Usually one candidate, so they are read
   * one after the other. Should several carry the uid (the idempotent clientToken makes that
   * unlikely), the first listed wins.
   */
  async findOwnedApplication(
    name: string,
    ownerUid: string,
    listed?: readonly string[],
  ): Promise<AwsApplication | undefined> {
    const candidates: string[] = listed ? [...listed] : [];
    if (!listed) {
      for await (const summary of this.liveApplications()) {
        if (summary.name === name && summary.id) candidates.push(summary.id);
      }
    }
    for (const applicationId of candidates) {
      const app = await this.getApplication(applicationId);
      // It may have been deleted or terminated between the listing and now.
      if (app && app.state !== 'TERMINATED' && app.tags[OWNER_UID_TAG] === ownerUid) return app;
    }
    return undefined;
  }

  /** Every application not TERMINATED, page by page (LIST_PAGE_SIZE each). */
  private async *liveApplications(): AsyncGenerator<ApplicationSummarySdk> {
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      let answer: ListApplicationsCommandOutput;
      try {
        answer = await this.emr.send(
          this.tagged(
            new ListApplicationsCommand({ states: [...LIVE_STATES], maxResults: LIST_PAGE_SIZE, nextToken }),
          ),
        );
      } catch (err) {
        throw toAwsError(err, 'ListApplications');
      }
      yield* answer.applications ?? [];
      nextToken = answer.nextToken;
      if (!nextToken) return;
    }
  }

  async createApplication(input: CreateApplicationInput): Promise<{ applicationId: string; arn: string }> {
    const request: CreateApplicationRequest = {
      ...toSdkFields(input),
      name: input.name,
      type: input.type,
      releaseLabel: input.releaseLabel,
      tags: input.tags,
      clientToken: input.clientToken,
    };
    try {
      const answer = await this.emr.send(this.tagged(new CreateApplicationCommand(request)));
      return { applicationId: answer.applicationId ?? '', arn: answer.arn ?? '' };
    } catch (err) {
      throw toAwsError(err, 'CreateApplication');
    }
  }

  async updateApplication(applicationId: string, changes: ApplicationFields): Promise<AwsApplication> {
    try {
      // No clientToken: the SDK fills a fresh one, as each update is meant to be sent once.
      const answer = await this.emr.send(
        this.tagged(new UpdateApplicationCommand({ applicationId, ...toSdkFields(changes) })),
      );
      if (!answer.application) throw new Error('UpdateApplication answered without an application');
      return toAwsApplication(answer.application);
    } catch (err) {
      throw toAwsError(err, 'UpdateApplication');
    }
  }

  async startApplication(applicationId: string): Promise<void> {
    try {
      await this.emr.send(this.tagged(new StartApplicationCommand({ applicationId })));
    } catch (err) {
      throw toAwsError(err, 'StartApplication');
    }
  }

  async stopApplication(applicationId: string): Promise<void> {
    try {
      await this.emr.send(this.tagged(new StopApplicationCommand({ applicationId })));
    } catch (err) {
      throw toAwsError(err, 'StopApplication');
    }
  }

  async deleteApplication(applicationId: string): Promise<void> {
    try {
      await this.emr.send(this.tagged(new DeleteApplicationCommand({ applicationId })));
    } catch (err) {
      throw toAwsError(err, 'DeleteApplication');
    }
  }

  async tagApplication(arn: string, tags: Record<string, string>): Promise<void> {
    if (Object.keys(tags).length === 0) return; // the service requires at least one tag
    try {
      await this.emr.send(this.tagged(new TagResourceCommand({ resourceArn: arn, tags })));
    } catch (err) {
      throw toAwsError(err, 'TagResource');
    }
  }

  async untagApplication(arn: string, tagKeys: string[]): Promise<void> {
    if (tagKeys.length === 0) return; // the service requires at least one key
    try {
      await this.emr.send(this.tagged(new UntagResourceCommand({ resourceArn: arn, tagKeys })));
    } catch (err) {
      throw toAwsError(err, 'UntagResource');
    }
  }

  /**
   * Reads one page of at most ACTIVE_JOB_RUNS_PAGE_SIZE non-final job runs per mode (a listing
   * without `mode` is not documented to include STREAMING runs) and one of sessions not ended:
   * exact below that, a lower bound (the page size) above it. Callers only need "none" versus
   * "some", and numbers for messages; counting thousands exactly would cost a call per 50.
   */
  async countActiveWork(applicationId: string): Promise<ActiveWork> {
    const runs = async (mode: 'BATCH' | 'STREAMING') => {
      try {
        const answer = await this.emr.send(
          this.tagged(
            new ListJobRunsCommand({
              applicationId,
              mode,
              states: ACTIVE_JOB_RUN_STATES,
              maxResults: ACTIVE_JOB_RUNS_PAGE_SIZE,
            }),
          ),
        );
        return answer.jobRuns?.length ?? 0;
      } catch (err) {
        throw toAwsError(err, 'ListJobRuns');
      }
    };
    const sessions = async () => {
      try {
        const answer = await this.emr.send(
          this.tagged(
            new ListSessionsCommand({
              applicationId,
              states: ACTIVE_SESSION_STATES,
              maxResults: ACTIVE_JOB_RUNS_PAGE_SIZE,
            }),
          ),
        );
        return answer.sessions?.length ?? 0;
      } catch (err) {
        const error = toAwsError(err, 'ListSessions');
        // Unlike ListJobRuns, ListSessions models ResourceNotFound: an application gone has none.
        if (error.kind === 'notFound') return 0;
        throw error;
      }
    };
    const [batch, streaming, open] = await Promise.all([runs('BATCH'), runs('STREAMING'), sessions()]);
    return { jobRuns: batch + streaming, sessions: open };
  }

  async startJobRun(input: StartJobRunInput): Promise<{ jobRunId: string; arn: string }> {
    try {
      const answer = await this.emr.send(
        this.tagged(
          // The schema's shapes are the SDK's (configurations nest as plain objects).
          new StartJobRunCommand(input as ConstructorParameters<typeof StartJobRunCommand>[0]),
        ),
      );
      return { jobRunId: answer.jobRunId ?? '', arn: answer.arn ?? '' };
    } catch (err) {
      throw toAwsError(err, 'StartJobRun');
    }
  }

  async getJobRun(applicationId: string, jobRunId: string): Promise<AwsJobRun | undefined> {
    try {
      const { jobRun } = await this.emr.send(this.tagged(new GetJobRunCommand({ applicationId, jobRunId })));
      return jobRun ? toAwsJobRun(jobRun) : undefined;
    } catch (err) {
      const error = toAwsError(err, 'GetJobRun');
      if (error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  async cancelJobRun(applicationId: string, jobRunId: string): Promise<void> {
    try {
      await this.emr.send(this.tagged(new CancelJobRunCommand({ applicationId, jobRunId })));
    } catch (err) {
      throw toAwsError(err, 'CancelJobRun');
    }
  }

  /**
   * Lists the application's runs (all pages; only those created since `createdAfter` unless a
   * submission digest is asked for, as a run declared again may be old), keeps those with this
   * name, and reads their tags with GetJobRun (ListJobRuns has none), newest first.
   */
  async findOwnedJobRun(applicationId: string, query: OwnedJobRunQuery): Promise<AwsJobRun | undefined> {
    const { name, ownerUid, submission, mode } = query;
    const createdAfter = submission ? undefined : query.createdAfter;
    const ids: string[] = [];
    let nextToken: string | undefined;
    try {
      for (let page = 0; page < MAX_LIST_PAGES; page++) {
        const answer = await this.emr.send(
          this.tagged(
            new ListJobRunsCommand({
              applicationId,
              createdAtAfter: createdAfter,
              mode,
              maxResults: LIST_PAGE_SIZE,
              nextToken,
            }),
          ),
        );
        for (const summary of answer.jobRuns ?? []) {
          if (summary.name === name && summary.id) ids.push(summary.id);
        }
        nextToken = answer.nextToken;
        if (!nextToken) break;
      }
    } catch (err) {
      throw toAwsError(err, 'ListJobRuns');
    }
    for (const jobRunId of ids) {
      const run = await this.getJobRun(applicationId, jobRunId);
      if (
        run &&
        (run.tags[OWNER_UID_TAG] === ownerUid || (submission && run.tags[SUBMISSION_TAG] === submission))
      )
        return run;
    }
    return undefined;
  }

  /**
   * NotFoundException and AccessDeniedException are answers about the key (KeyFacts); anything
   * else (throttling, network, a malformed ARN the service refuses) throws AwsError.
   */
  async describeKey(keyArn: string): Promise<KeyFacts> {
    try {
      const { KeyMetadata: key } = await this.kms.send(
        this.tagged(new DescribeKeyCommand({ KeyId: keyArn })),
      );
      if (!key) throw new Error('DescribeKey answered without KeyMetadata');
      return {
        kind: 'found',
        arn: key.Arn ?? keyArn,
        keyState: key.KeyState ?? '',
        keySpec: key.KeySpec ?? key.CustomerMasterKeySpec ?? '',
        keyUsage: key.KeyUsage ?? '',
      };
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      const message = err instanceof Error ? err.message : String(err);
      if (name === 'NotFoundException') return { kind: 'notFound', message };
      if (name === 'AccessDeniedException') return { kind: 'accessDenied', message };
      throw toAwsError(err, 'DescribeKey');
    }
  }

  /**
   * NotFoundException and AccessDeniedException are answers about the key, as for DescribeKey;
   * another refusal (an endpoint without the operation) leaves the policy unread rather than
   * stopping the reconcile: the check then answers `unknown`. Throttling and transient failures throw.
   */
  async getKeyPolicy(keyArn: string): Promise<KeyPolicyFacts> {
    try {
      const { Policy: policy } = await this.kms.send(
        this.tagged(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' })),
      );
      if (policy === undefined) return { kind: 'unreadable', message: 'GetKeyPolicy answered no Policy' };
      return { kind: 'found', policy };
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      const message = err instanceof Error ? err.message : String(err);
      if (name === 'NotFoundException') return { kind: 'notFound', message };
      if (name === 'AccessDeniedException') return { kind: 'accessDenied', message };
      const failure = toAwsError(err, 'GetKeyPolicy');
      if (failure.kind === 'invalid') return { kind: 'unreadable', message: `${failure.code}: ${message}` };
      throw failure;
    }
  }
}
