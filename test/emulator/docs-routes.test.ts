// Every control API route written in the docs (`GET /_emulator/...` and the like, in README.md,
// docs/ and bench/README.md) answers as written: each is called on a fresh service with real ids
// in place of its placeholders, and must succeed.
import { CreateApplicationCommand, StartSessionCommand } from '@aws-sdk/client-emr-serverless';
import { describe, expect, it } from 'vitest';
import { MARKDOWN_FILES, readRepoFile } from '../support/docs.js';
import { REGION, ROLE_ARN, useHarness, waitForState } from './helpers.js';

const ROUTE = /\b(GET|POST|PATCH|PUT|DELETE) (\/_emulator(?:\/(?:\{[^}]*\}|[A-Za-z0-9._-]+))*)/g;
const documented = [
  ...new Set(MARKDOWN_FILES.flatMap((f) => [...readRepoFile(f).matchAll(ROUTE)].map((m) => m[0]))),
].sort();

/** A body each route accepts; routes without one are called without a body. */
const BODIES: Record<string, object> = {
  'POST /_emulator/faults': { operation: 'GetApplication', status: 429, count: 1 },
  'PATCH /_emulator/applications/{id}': { state: 'STOPPED' },
  'POST /_emulator/keys': { keySpec: 'SYMMETRIC_DEFAULT' },
  'POST /_emulator/roles': { roleArn: 'arn:aws:iam::111122223333:role/team-a' },
  'PATCH /_emulator/keys/{keyId or ARN}': { keyState: 'Disabled' },
  'POST /_emulator/jobruns/{appId}': { state: 'RUNNING' },
  'PATCH /_emulator/jobruns/{appId}/{jobRunId}': { state: 'SUCCESS' },
  'PATCH /_emulator/sessions/{appId}/{sessionId}': { state: 'BUSY' },
  'POST /_emulator/listing-lag': { ms: 0 },
  'POST /_emulator/iam': { enforce: false },
  'POST /_emulator/users': { userName: 'docs', accessKeyId: 'AKIDDOCS' },
  'POST /_emulator/policies': {
    arn: 'arn:aws:iam::123456789012:user/docs',
    policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }],
  },
  'PUT /_emulator/keys/{keyId or ARN}/policy': {
    policy: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::123456789012:root' },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    },
  },
};

// Reset by each test's fixtures, not before each test.
const h = useHarness({}, { reset: false });

/** A fresh service holding one application, one job run and one key, for the placeholders. */
async function fixtures(): Promise<Record<string, string[]>> {
  await h.control.reset();
  const app = await h.emr.send(
    new CreateApplicationCommand({
      name: 'docs',
      releaseLabel: 'emr-7.13.0',
      type: 'SPARK',
      interactiveConfiguration: { sessionEnabled: true },
    }),
  );
  const run = await h.control.createJobRun(app.applicationId!, 'RUNNING');
  await waitForState(h.emr, app.applicationId!, 'CREATED');
  const session = await h.emr.send(
    new StartSessionCommand({ applicationId: app.applicationId!, executionRoleArn: ROLE_ARN }),
  );
  const key = await h.control.createKey({ region: REGION });
  const id = [app.applicationId!];
  return {
    '{id}': id,
    '{appId}': id,
    '{jobRunId}': [run.jobRunId],
    '{sessionId}': [session.sessionId!],
    '{keyId}': [key.KeyId],
    '{keyId or ARN}': [key.KeyId, key.Arn],
  };
}

describe('the control API routes in the docs', () => {
  it('are found', () => {
    expect(documented.length).toBeGreaterThanOrEqual(15);
  });

  it.each(documented)('%s answers', async (route) => {
    const at = route.indexOf(' ');
    const [method, template] = [route.slice(0, at), route.slice(at + 1)];
    const placeholders = template.match(/\{[^}]*\}/g) ?? [];
    const values = await fixtures();
    const unknown = placeholders.filter((p) => !(p in values));
    expect(unknown, 'placeholders this test does not know how to fill').toEqual([]);
    // One call per way of naming the thing (a key by id and by raw ARN), each on fresh fixtures.
    const variants = Math.max(1, ...placeholders.map((p) => values[p]!.length));
    for (let variant = 0; variant < variants; variant++) {
      const current = variant === 0 ? values : await fixtures();
      const path = template.replace(/\{[^}]*\}/g, (p) => {
        const options = current[p]!;
        return options[Math.min(variant, options.length - 1)]!;
      });
      const body = BODIES[`${method} ${template}`];
      const res = await fetch(`${h.emulator.endpoint}${path}`, {
        method,
        ...(body && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await res.text();
      expect(res.status, `${method} ${path}: ${text}`).toBe(200);
      expect(() => JSON.parse(text), `${method} ${path} answers JSON`).not.toThrow();
    }
  });
});
