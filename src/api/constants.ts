// Names that tie the CRD, the controller, RBAC and AWS together. Changing one is an API change.
export const GROUP = 'emrserverless.operator.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'EmrServerlessApplication';
export const PLURAL = 'emrserverlessapplications';
export const SINGULAR = 'emrserverlessapplication';
export const SHORT_NAMES = ['emrsa', 'emrapp'];
export const CATEGORIES = ['aws', 'emr'];

export const FINALIZER = `${GROUP}/finalizer`;
export const FIELD_MANAGER = 'emr-serverless-operator';

/** Tag put on every application the operator creates: how it finds its own app after a crash. */
export const OWNER_UID_TAG = `${GROUP}/resource-uid`;

/** The condition types, kstatus-compatible. */
export const CONDITION_READY = 'Ready';
export const CONDITION_RECONCILING = 'Reconciling';
export const CONDITION_STALLED = 'Stalled';
