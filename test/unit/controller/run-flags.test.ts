import { describe, expect, it } from 'vitest';
import { parseRunArgs, RUN_USAGE, type RunConfig, UsageError } from '../../../src/cli/run.js';
import { INVALID_SELECTORS, VALID_SELECTORS } from '../../support/label-selectors.js';

const parse = (args: string[], env: NodeJS.ProcessEnv = { AWS_REGION: 'eu-west-1' }, podNamespace?: string) =>
  parseRunArgs(args, { env, podNamespace: () => podNamespace }) as RunConfig;

describe('run flags', () => {
  it('has the contract defaults', () => {
    expect(parse([])).toEqual({
      kubeconfig: undefined,
      region: 'eu-west-1',
      awsEndpoint: undefined,
      namespaces: [],
      watchLabelSelector: undefined,
      concurrency: 10,
      resyncPeriodMs: 600_000,
      driftDetection: 'list',
      fullReadEvery: 6,
      awsRps: 20,
      verifyKeys: true,
      verifyKeyPolicies: true,
      keyCacheTtlMs: 180_000,
      listingLagMs: 10_000,
      leaderElect: false,
      leaderElectionNamespace: 'default',
      clusterId: undefined,
      adoptNamespaces: [],
      leaderElectionId: 'emr-serverless-operator',
      requireNamespaceRole: false,
      requireNamespacePolicy: false,
      metricsAddr: ':8080',
      healthAddr: ':8081',
      logLevel: 'info',
    });
  });

  it('parses every flag', () => {
    const config = parse([
      '--kubeconfig=/tmp/kc',
      '--region',
      'us-east-1',
      '--aws-endpoint=http://127.0.0.1:4566',
      '--namespace',
      'data',
      '--namespace=etl,data',
      '--watch-label-selector= shard in (a, b) ',
      '--concurrency=16',
      '--resync-period=1h30m',
      '--drift-detection=get',
      '--full-read-every',
      '12',
      '--aws-rps=5.5',
      '--verify-keys=false',
      '--verify-key-policies=false',
      '--key-cache-ttl',
      '45s',
      '--listing-lag=2s',
      '--leader-elect',
      '--leader-election-namespace=ops',
      '--cluster-id=prod-eu',
      '--adopt-namespaces= data, platform ',
      '--leader-election-id=emr-serverless-operator-shard-a',
      '--require-namespace-role',
      '--require-namespace-policy',
      '--metrics-addr=127.0.0.1:0',
      '--health-addr=0',
      '--log-level=debug',
    ]);
    expect(config).toEqual({
      kubeconfig: '/tmp/kc',
      region: 'us-east-1',
      awsEndpoint: 'http://127.0.0.1:4566',
      namespaces: ['data', 'etl'],
      watchLabelSelector: 'shard in (a, b)',
      concurrency: 16,
      resyncPeriodMs: 5_400_000,
      driftDetection: 'get',
      fullReadEvery: 12,
      awsRps: 5.5,
      verifyKeys: false,
      verifyKeyPolicies: false,
      keyCacheTtlMs: 45_000,
      listingLagMs: 2_000,
      leaderElect: true,
      leaderElectionNamespace: 'ops',
      clusterId: 'prod-eu',
      adoptNamespaces: ['data', 'platform'],
      leaderElectionId: 'emr-serverless-operator-shard-a',
      requireNamespaceRole: true,
      requireNamespacePolicy: true,
      metricsAddr: '127.0.0.1:0',
      healthAddr: '0',
      logLevel: 'debug',
    });
  });

  it('takes the region from AWS_REGION, then AWS_DEFAULT_REGION; the flag wins', () => {
    expect(parse([], { AWS_DEFAULT_REGION: 'eu-north-1' }).region).toBe('eu-north-1');
    expect(parse([], { AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'eu-north-1' }).region).toBe('eu-west-3');
    expect(parse(['--region=ap-south-1'], { AWS_REGION: 'eu-west-3' }).region).toBe('ap-south-1');
  });

  it('refuses a cluster id that cannot be an AWS tag value', () => {
    expect(() => parse(['--cluster-id=a,b'])).toThrow(UsageError);
    expect(() => parse(['--cluster-id='])).toThrow(/--cluster-id takes 1 to 256/);
  });

  it('requires a region', () => {
    expect(() => parse([], {})).toThrow(/region is required/);
  });

  it('accepts Go-style booleans', () => {
    expect(parse(['--verify-keys']).verifyKeys).toBe(true);
    expect(parse(['--verify-keys=true']).verifyKeys).toBe(true);
    expect(parse(['--verify-keys=false']).verifyKeys).toBe(false);
    expect(parse(['--verify-keys=0']).verifyKeys).toBe(false);
    expect(parse(['--no-verify-keys']).verifyKeys).toBe(false);
    expect(parse(['--leader-elect=true']).leaderElect).toBe(true);
    expect(() => parse(['--verify-keys=maybe'])).toThrow(UsageError);
  });

  it('gives each --watch-label-selector its own default Lease, the same for every spelling of it', () => {
    const lease = (...args: string[]) => parse(args).leaderElectionId;
    expect(lease()).toBe('emr-serverless-operator');
    const a = lease('--watch-label-selector=shard=a');
    expect(a).toMatch(/^emr-serverless-operator-shard-a-[0-9a-f]{10}$/);
    // Two shards started with the default --leader-election-id no longer share a Lease.
    expect(lease('--watch-label-selector=shard=b')).not.toBe(a);
    expect(lease('--watch-label-selector=shard notin (a)')).not.toBe(a);
    expect(lease('--watch-label-selector=Shard=a')).not.toBe(a);
    // The replicas of one shard do, however the selector is written.
    expect(lease('--watch-label-selector=shard==a')).toBe(a);
    expect(lease('--watch-label-selector= shard = a ')).toBe(a);
    const set = lease('--watch-label-selector=shard in (a, b),!legacy');
    expect(lease('--watch-label-selector=! legacy,shard in (b,a,b)')).toBe(set);
    // An explicit name wins; a long selector still makes a valid Lease name.
    expect(lease('--watch-label-selector=shard=a', '--leader-election-id=mine')).toBe('mine');
    const long = lease(
      `--watch-label-selector=${Array.from({ length: 20 }, (_, i) => `example.com/key-${i}=value-${i}`).join(',')}`,
    );
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('defaults the lease namespace to the pod namespace', () => {
    expect(parse([], { AWS_REGION: 'eu-west-1' }, 'operators').leaderElectionNamespace).toBe('operators');
    expect(
      parse(['--leader-election-namespace=x'], { AWS_REGION: 'eu-west-1' }, 'operators')
        .leaderElectionNamespace,
    ).toBe('x');
  });

  it.each([
    [['--concurrency=0'], /at least 1/],
    [['--concurrency=two'], /whole number/],
    [['--resync-period=10'], /resync-period/],
    [['--resync-period=10ms'], /at least 1s/],
    [['--drift-detection=watch'], /--drift-detection takes list or get/],
    [['--full-read-every=0'], /--full-read-every must be at least 1/],
    [['--full-read-every=1.5'], /whole number/],
    [['--listing-lag=-1s'], /--listing-lag must not be negative/],
    [['--listing-lag=soon'], /--listing-lag/],
    [['--aws-rps=-1'], /aws-rps/],
    [['--aws-rps=fast'], /aws-rps/],
    [['--log-level=loud'], /log-level/],
    [['--namespace=a,,b'], /--namespace needs a value/],
    [['--namespace=Data'], /not a valid namespace name/],
    [['--watch-label-selector='], /watch-label-selector needs a selector/],
    [['--watch-label-selector=shard in a,b'], /not a label selector: "shard in a"/],
    [['--watch-label-selector=shard=a,,team'], /not a label selector: an empty requirement/],
    [['--watch-label-selector=shard in (a'], /not a label selector: unbalanced parentheses/],
    [['--watch-label-selector=Shard_=a'], /not a label selector: "Shard_": a label key/],
    [['--watch-label-selector=shard=a b'], /not a label selector: "a b": a label value/],
    [['--watch-label-selector=Example.com/shard=a'], /the prefix before "\/" must be a DNS subdomain/],
    [['--watch-label-selector=replicas>two'], /">" takes an integer/],
    [['--leader-election-id=Shard_A'], /DNS subdomain/],
    [['--aws-endpoint=not a url'], /aws-endpoint/],
    [['--unknown'], /Unknown option/],
    [['positional'], /positional/],
  ])('refuses %j', (args, message) => {
    expect(() => parse(args)).toThrow(UsageError);
    expect(() => parse(args)).toThrow(message);
  });

  it('answers help', () => {
    expect(parseRunArgs(['--help'], { env: {} })).toBe('help');
    expect(parseRunArgs(['-h'], { env: {} })).toBe('help');
  });

  it('documents every flag with its default', () => {
    for (const flag of [
      '--kubeconfig',
      '--region',
      '--aws-endpoint',
      '--namespace',
      '--watch-label-selector',
      '--leader-election-id',
      '--concurrency',
      '--resync-period',
      '--drift-detection',
      '--full-read-every',
      '--aws-rps',
      '--verify-keys',
      '--leader-elect',
      '--leader-election-namespace',
      '--metrics-addr',
      '--health-addr',
      '--log-level',
    ]) {
      expect(RUN_USAGE).toContain(flag);
    }
    expect(RUN_USAGE).toContain('KUBECONFIG');
    expect(RUN_USAGE).toContain('AWS_REGION');
  });
});

describe('--watch-label-selector takes what the API server takes', () => {
  it.each(VALID_SELECTORS)('%s', (selector) => {
    expect(parse([`--watch-label-selector=${selector}`]).watchLabelSelector).toBe(selector);
  });
  it.each(INVALID_SELECTORS)('%s is refused', (selector) => {
    expect(() => parse([`--watch-label-selector=${selector}`])).toThrow(/not a label selector/);
  });
});
