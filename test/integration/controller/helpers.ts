// Shared bits of the controller's integration tests.
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import {
  API_VERSION,
  APPLICATION_KIND,
  APPLICATION_PLURAL,
  GROUP,
  VERSION,
} from '../../../src/api/constants.js';
import type { EmrServerlessApplication } from '../../../src/api/schema.js';
import { findRepoRoot } from '../../../src/envtest/index.js';

export const CRD_DIR = join(findRepoRoot(), 'crds');
export const CRD_NAME = `${APPLICATION_PLURAL}.${GROUP}`;

/** Logs to stderr only when DEBUG_TESTS is set. */
export function testLogger(): Logger {
  return pino({ level: process.env.DEBUG_TESTS ? 'debug' : 'silent' }, pino.destination(2));
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function app(
  namespace: string,
  name: string,
  extra: Partial<EmrServerlessApplication['metadata']> = {},
) {
  return {
    apiVersion: API_VERSION,
    kind: APPLICATION_KIND,
    metadata: { name, namespace, ...extra },
    spec: { name, type: 'SPARK', releaseLabel: 'emr-7.5.0' },
  };
}

export class Apps {
  readonly api: CustomObjectsApi;
  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async create(namespace: string, name: string, extra: Partial<EmrServerlessApplication['metadata']> = {}) {
    return (await this.api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: APPLICATION_PLURAL,
      body: app(namespace, name, extra),
    })) as EmrServerlessApplication;
  }

  async get(namespace: string, name: string): Promise<EmrServerlessApplication> {
    return (await this.api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: APPLICATION_PLURAL,
      name,
    })) as EmrServerlessApplication;
  }

  async exists(namespace: string, name: string): Promise<boolean> {
    try {
      await this.get(namespace, name);
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return false;
      throw error;
    }
  }

  async replace(obj: EmrServerlessApplication): Promise<EmrServerlessApplication> {
    const { namespace, name } = obj.metadata;
    return (await this.api.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: APPLICATION_PLURAL,
      name,
      body: obj,
    })) as EmrServerlessApplication;
  }

  async delete(namespace: string, name: string): Promise<void> {
    await this.api.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: APPLICATION_PLURAL,
      name,
    });
  }
}
