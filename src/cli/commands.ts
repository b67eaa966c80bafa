// The subcommands of the contract. Each loads its implementation lazily, so `crd` or
// `key-policy` never pay for the AWS SDK or the Kubernetes client.
export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

export const commands: Record<string, Command> = {
  run: {
    summary: 'run the controller',
    run: async (args) => (await import('./run.js')).runCommand(args),
  },
  emulator: {
    summary: 'run the local EMR Serverless + KMS service',
    run: async (args) => (await import('./emulator.js')).emulatorCommand(args),
  },
  crd: {
    summary: 'print the CustomResourceDefinitions YAML',
    run: async (args) => (await import('./crd.js')).crdCommand(args),
  },
  'key-policy': {
    summary: 'print the KMS key policy statements an application needs',
    run: async (args) => (await import('./key-policy.js')).keyPolicyCommand(args),
  },
  'livy-conf': {
    summary: "print the Livy session conf for an application's customer-managed key",
    run: async (args) => (await import('./livy-conf.js')).livyConfCommand(args),
  },
  'key-usage': {
    summary: "print which KMS keys an application's workers used, from CloudTrail",
    run: async (args) => (await import('./key-usage.js')).keyUsageCommand(args),
  },
  demo: {
    summary: 'show the operator at work on this machine',
    run: async (args) => (await import('./demo.js')).demoCommand(args),
  },
};
