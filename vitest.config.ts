import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node (pure code and the local AWS service);
// `cluster` shares one real kube-apiserver + etcd per run, started by the global setup.
export default defineConfig({
  test: {
    reporters: ['default'],
    // The cluster tests mostly wait on processes and the API server, not the CPU: more files
    // at once than the default of cores - 1 (one, on two cores).
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/emulator/**/*.test.ts', 'test/aws/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/controlplane.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // Real Argo CD (test/support/argocd.ts), run apart (`npm run test:argocd`): its build is large.
        extends: true,
        test: {
          name: 'argocd',
          include: ['test/argocd-e2e/**/*.test.ts'],
          globalSetup: ['test/setup/controlplane.ts', 'test/setup/argocd.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
