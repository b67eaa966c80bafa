// The ways a manifest whose template value did not render reaches the API server, each as a real
// client does it, and the nulls of diskEncryptionConfiguration that the tests send through them.
import type { KubectlResult } from '../../src/envtest/index.js';
import { baseSpec, type E2e, manifest } from './e2e.js';

export interface ApplyPath {
  name: string;
  /** Creates or updates `name` with `spec`, nulls included; fails (check: false) rather than throw. */
  send(e2e: E2e, name: string, spec: Record<string, unknown>): Promise<KubectlResult>;
}

/** A YAML manifest as a template renders a missing value: the key with nothing after the colon. */
export function renderedManifest(name: string, spec: Record<string, unknown>): string {
  return manifest(name, spec).replace(/: null$/gm, ':');
}

const resourcePath = (e2e: E2e, name?: string) =>
  `/apis/emrserverless.operator.dev/v1alpha1/namespaces/${e2e.namespace}/emrserverlessapplications${name ? `/${name}` : ''}`;

export const CLIENT_SIDE_APPLY: ApplyPath = {
  // Argo CD's default sync applies this way too: kubectl's client-side apply, in process.
  name: 'kubectl apply (client-side, as Argo CD syncs)',
  send: (e2e, name, spec) =>
    e2e.kubectl(['apply', '-f', '-'], { input: renderedManifest(name, spec), check: false }),
};

export const SERVER_SIDE_APPLY: ApplyPath = {
  name: 'kubectl apply --server-side',
  send: (e2e, name, spec) =>
    e2e.kubectl(['apply', '--server-side', '-f', '-'], { input: renderedManifest(name, spec), check: false }),
};

/** What Helm's client (and any script) does: the whole object as JSON, nulls and all. */
export const CLIENT_SENDS_NULL: ApplyPath = {
  name: 'a client that sends the null (POST to create, PUT to update)',
  async send(e2e, name, spec) {
    const body = {
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: { name },
      spec,
    };
    if (!(await e2e.exists(name))) {
      return e2e.kubectl(['create', '--raw', resourcePath(e2e), '-f', '-'], {
        input: JSON.stringify(body),
        check: false,
      });
    }
    const live = await e2e.get(name);
    const replaced = { ...body, metadata: { ...live.metadata, name } };
    return e2e.kubectl(['replace', '--raw', resourcePath(e2e, name), '-f', '-'], {
      input: JSON.stringify(replaced),
      check: false,
    });
  },
};

export const APPLY_PATHS = [CLIENT_SIDE_APPLY, SERVER_SIDE_APPLY, CLIENT_SENDS_NULL];

export interface NullCase {
  /** What is null. */
  field: string;
  disk(key: string): Record<string, unknown>;
  /** How the admission policy names it in the last-applied configuration and in the object. */
  applied: string;
  stored: string;
}

export const NULL_CASES: NullCase[] = [
  {
    field: 'encryptionKeyArn',
    disk: () => ({ encryptionKeyArn: null }),
    applied: '("encryptionKeyArn":null)',
    stored: 'spec.diskEncryptionConfiguration.encryptionKeyArn is null',
  },
  {
    field: 'encryptionContext',
    disk: (key) => ({ encryptionKeyArn: key, encryptionContext: null }),
    applied: '("encryptionContext":null)',
    stored: 'spec.diskEncryptionConfiguration.encryptionContext is null',
  },
  {
    field: 'an encryptionContext value',
    disk: (key) => ({ encryptionKeyArn: key, encryptionContext: { team: null } }),
    applied: '("team":null)',
    stored: 'spec.diskEncryptionConfiguration.encryptionContext[*] is null',
  },
];

/** A creatable spec with this disk encryption configuration (or none). */
export const withDisk = (name: string, disk?: unknown) =>
  baseSpec(name, disk === undefined ? {} : { diskEncryptionConfiguration: disk });

/** A server-side dry run of a create that carries a null: refused while the admission policy is in force. */
export function nullProbe(e2e: E2e): Promise<KubectlResult> {
  return e2e.kubectl(['create', '--dry-run=server', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'emrserverless.operator.dev/v1alpha1',
      kind: 'EmrServerlessApplication',
      metadata: { name: 'probe' },
      spec: withDisk('probe', { encryptionKeyArn: null }),
    }),
    check: false,
  });
}
