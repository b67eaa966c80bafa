// Two replicas with leader election: only the leader reconciles and writes; after the leader is
// SIGKILLed the other takes over within 20 s and reconciles what changed meanwhile. A leader cut
// off from the API server stops writing to AWS before the new leader starts, and exits.
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { AWS_WRITE_OPERATIONS } from '../../src/emulator/index.js';
import { baseSpec, E2e, manifest, reportFailures, sleep, waitFor } from '../support/e2e.js';
import { expectQuietWindow } from '../support/quiet.js';

let e2e: E2e;

beforeAll(async () => {
  e2e = await E2e.start('e2e-leader', { operator: false, operatorArgs: ['--leader-elect'] });
});

afterAll(async () => {
  await e2e?.stop();
});

reportFailures(() => e2e);

/** Log lines that mean "this process wrote something". */
const wrote = (msg: string | undefined) => msg === 'acting' || msg === 'status written';

describe('two replicas with --leader-elect', () => {
  it('only the leader writes; the standby takes over within 20 s of a SIGKILL', async () => {
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    const a = await e2e.startOperator();
    await a.waitForLog('acquired leader lease');
    const b = await e2e.startOperator();
    await b.waitForLog('attempting to acquire leader lease');

    const spec = (key: string) =>
      manifest('shared', baseSpec('shared', { diskEncryptionConfiguration: { encryptionKeyArn: key } }));
    await e2e.apply(spec(keyA));
    await e2e.waitForReady('shared', 'True', 'Reconciled');
    // A resync on both, if the standby were (wrongly) reconciling: the leader's is counted.
    await expectQuietWindow({
      during: 2_500,
      reads: [e2e.awsReads(), e2e.reconciles({ operator: a })],
      writes: () => b.lines.filter((l) => wrote(l.msg) || l.msg === 'starting workers'),
    });
    expect(a.lines.filter((l) => wrote(l.msg)).length).toBeGreaterThan(0);
    expect(b.find('acquired leader lease')).toBeUndefined();
    const creates = (await e2e.calls()).filter((c) => c.operation === 'CreateApplication');
    expect(creates).toHaveLength(1);

    // The leader dies without releasing its lease.
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const mark = await e2e.mark();
    await e2e.apply(spec(keyB)); // changed while nobody leads
    await b.waitForLog('acquired leader lease', 30_000);
    const tookMs = Date.now() - killedAt;
    expect(tookMs, `take-over took ${tookMs} ms`).toBeLessThan(20_000);
    console.log(`leader take-over after SIGKILL: ${tookMs} ms`);

    const r = await e2e.waitForResource(
      'shared',
      'key B applied by the new leader',
      (x) =>
        x.status?.diskEncryption?.encryptionKeyArn === keyB &&
        x.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
        x,
    );
    expect(r.status?.observedGeneration).toBe(2);
    expect(await e2e.writesSince(mark)).toEqual(['UpdateApplication']);
    expect(b.lines.filter((l) => wrote(l.msg)).length).toBeGreaterThan(0);
  });
});

/** A TCP proxy to the API server that can be cut: open connections drop, new ones hang. */
class Partition {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private constructor(private readonly server: Server) {}

  static async to(host: string, port: number): Promise<Partition & { port: number }> {
    let partition!: Partition;
    const server = createServer((client) => {
      partition.sockets.add(client);
      client.on('close', () => partition.sockets.delete(client));
      client.on('error', () => {});
      if (partition.cut) return; // accepted, never answered
      const upstream = connect(port, host);
      partition.sockets.add(upstream);
      upstream.on('close', () => partition.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    partition = new Partition(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return Object.assign(partition, { port: typeof address === 'object' && address ? address.port : 0 });
  }

  sever(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.sever();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('a leader that loses the API server', () => {
  it("sends no AWS write after the new leader's first, and exits", { timeout: 120_000 }, async () => {
    const [keyA, keyB] = await Promise.all([e2e.createKey(), e2e.createKey()]);
    // Replica A reaches the API server through a proxy the test can cut; replica B directly.
    // Distinct access key ids tell their AWS calls apart in the calls log.
    const config = parse(await readFile(e2e.operatorKubeconfig, 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    const apiserver = new URL(config.clusters[0]!.cluster.server);
    const partition = await Partition.to(apiserver.hostname, Number(apiserver.port));
    config.clusters[0]!.cluster.server = `https://127.0.0.1:${partition.port}`;
    const proxied = `${e2e.operatorKubeconfig}.proxied`;
    await writeFile(proxied, stringify(config));
    try {
      // Replicas left from before stop and release the lease.
      for (const op of e2e.operators) if (op.running) await op.stop();
      const a = await e2e.startOperator(['--kubeconfig', proxied], { awsAccessKeyId: 'replica-a' });
      await a.waitForLog('acquired leader lease');
      const b = await e2e.startOperator([], { awsAccessKeyId: 'replica-b' });
      await b.waitForLog('attempting to acquire leader lease');

      const spec = (key: string, team: string) =>
        manifest(
          'partitioned',
          baseSpec('partitioned', { diskEncryptionConfiguration: { encryptionKeyArn: key }, tags: { team } }),
        );
      await e2e.apply(spec(keyA, 'a'));
      await e2e.waitForReady('partitioned', 'True', 'Reconciled');

      // A starts on a change (TagResource, then UpdateApplication) and its tag call hangs for
      // longer than the renew deadline; then A loses the API server. Its lease lapses; B takes
      // over and makes the rest of the change.
      await e2e.aws.fault({ operation: 'TagResource', count: 1, latencyMs: 12_000 });
      await e2e.apply(spec(keyB, 'b'));
      await waitFor('A to send TagResource', async () => (await e2e.aws.faults()).length === 0);
      const cutAt = Date.now();
      partition.sever();

      const exit = await Promise.race([a.exited, sleep(30_000).then(() => undefined)]);
      const exitedAfterMs = Date.now() - cutAt;
      console.log(`old leader exited ${exitedAfterMs} ms after losing the API server`);
      expect(exit?.code, 'the old leader exits with 1').toBe(1);
      // Renew deadline 10 s (default), plus shutting down.
      expect(exitedAfterMs).toBeLessThan(15_000);

      await b.waitForLog('acquired leader lease', 30_000);
      await e2e.waitForResource(
        'partitioned',
        'key B applied by the new leader',
        (x) =>
          x.status?.diskEncryption?.encryptionKeyArn === keyB &&
          x.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
          x,
        40_000,
      );
      await waitFor('the held TagResource to finish', async () =>
        (await e2e.calls()).some((c) => c.operation === 'TagResource' && c.caller === 'replica-a'),
      );
      const writes = (await e2e.calls()).filter((c) => AWS_WRITE_OPERATIONS.has(c.operation));
      const firstOfB = writes.find((c) => c.caller === 'replica-b');
      expect(firstOfB, 'the new leader wrote').toBeDefined();
      const lateOfA = writes.filter((c) => c.caller === 'replica-a' && c.at >= firstOfB!.at);
      expect(lateOfA, "AWS writes from the old leader after the new leader's first").toEqual([]);
      // Stricter: none once A's lease could have lapsed (its last renew was before the cut; the
      // renew deadline is 10 s), such as the UpdateApplication after the hung tag call.
      const lapsed = new Date(cutAt + 10_000).toISOString();
      expect(writes.filter((c) => c.caller === 'replica-a' && c.at >= lapsed)).toEqual([]);
    } finally {
      await partition.close();
    }
  });
});
