// Label selectors the operator's check must judge as the API server does: the unit test runs them
// through `run`'s flag parsing, test/integration/label-selectors.test.ts through the real
// kube-apiserver (`kubectl get -l`).
export const VALID_SELECTORS = [
  'shard=a',
  'shard==a',
  'shard!=a',
  'shard',
  '!shard',
  'shard in (a, b),team notin (x)',
  'example.com/shard=a,tier=',
  'app.kubernetes.io/part-of in (emr)',
  'replicas>2,replicas<10',
];

export const INVALID_SELECTORS = [
  'shard in a,b',
  'shard=a,,team',
  'shard in (a',
  'Shard_=a',
  'shard=a b',
  'Example.com/shard=a',
  'replicas>two',
];
