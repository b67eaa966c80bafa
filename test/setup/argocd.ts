// Vitest global setup for the `argocd` project: builds Argo CD (test/argocd-local) before any file
// starts, with progress on stderr (several minutes on a cold Go cache).
import { ensureArgoCd } from '../../src/envtest/index.js';

export default async function setup(): Promise<void> {
  await ensureArgoCd();
}
