// Names that tie the CRD, the controller, RBAC and AWS together. Changing one is an API change.
export const GROUP = 'emrserverless.operator.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const APPLICATION_KIND = 'EmrServerlessApplication';
export const APPLICATION_PLURAL = 'emrserverlessapplications';
export const APPLICATION_SINGULAR = 'emrserverlessapplication';
export const APPLICATION_SHORT_NAMES = ['emrsa', 'emrapp'];
export const CATEGORIES = ['aws', 'emr'];

export const FINALIZER = `${GROUP}/finalizer`;
export const FIELD_MANAGER = 'emr-serverless-operator';

/** The prefix of every tag the operator owns; refused in spec.tags. */
export const OPERATOR_TAG_PREFIX = `${GROUP}/`;
/** Tag prefixes spec.tags may not use: the operator's own, and AWS's reserved one. */
export const RESERVED_TAG_PREFIXES = [OPERATOR_TAG_PREFIX, 'aws:'] as const;

/**
 * The ownership claim on an application, put on every application the operator creates or
 * adopts. The uid decides ownership (uids are unique across clusters); it is also how the
 * operator finds its own app after a crash. Namespace and name are for people; the cluster tag
 * lets an IAM policy keep each cluster's operator to its own applications.
 */
export const OWNER_UID_TAG = `${GROUP}/resource-uid`;
export const OWNER_NAMESPACE_TAG = `${GROUP}/resource-namespace`;
export const OWNER_NAME_TAG = `${GROUP}/resource-name`;
export const OWNER_CLUSTER_TAG = `${GROUP}/cluster`;
/** On a job run: the digest of what was declared (namespace, name, spec); see reconcile/jobrun/planner.ts. */
export const SUBMISSION_TAG = `${GROUP}/submission`;

/** The condition types, kstatus-compatible. */
export const CONDITION_READY = 'Ready';
export const CONDITION_RECONCILING = 'Reconciling';
export const CONDITION_STALLED = 'Stalled';

/** The job run kind: one StartJobRun, followed to its end. */
export const JOB_RUN_KIND = 'EmrServerlessJobRun';
export const JOB_RUN_PLURAL = 'emrserverlessjobruns';
export const JOB_RUN_SINGULAR = 'emrserverlessjobrun';
export const JOB_RUN_SHORT_NAMES = ['emrjob', 'emrjr'];

/** The namespace policy kind: cluster-scoped, written by the cluster admin (src/api/policy-schema.ts). */
export const POLICY_KIND = 'EmrServerlessPolicy';
export const POLICY_PLURAL = 'emrserverlesspolicies';
export const POLICY_SINGULAR = 'emrserverlesspolicy';
export const POLICY_SHORT_NAMES = ['emrpolicy', 'emrpol'];
