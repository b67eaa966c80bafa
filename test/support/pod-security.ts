// Pod Security admission as a check of a Deployment: there is no controller-manager, scheduler or
// kubelet in the test control plane, so the Deployment's pod is created by server-side dry run in
// a namespace that enforces a level, once as written and once without its security contexts (which
// must be refused, or the first answer proves nothing).
import { inject } from 'vitest';
import { type KubectlResult, runKubectl } from '../../src/envtest/index.js';

interface PodTemplate {
  metadata: { labels?: Record<string, string> };
  spec: { securityContext?: unknown; containers: Array<{ securityContext?: unknown }> };
}

export interface PodSecurityAnswers {
  asWritten: KubectlResult;
  withoutSecurityContext: KubectlResult;
}

/** Creates (dry run) the template's pod in `namespace` as written and loosened. */
export async function dryRunPod(namespace: string, template: PodTemplate): Promise<PodSecurityAnswers> {
  const pod = (spec: object) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'operator-pod', namespace, labels: template.metadata.labels },
    spec,
  });
  const create = (body: object) =>
    runKubectl(
      inject('kubectl'),
      inject('kubeconfig'),
      ['create', '--dry-run=server', '-o', 'name', '-f', '-'],
      {
        input: JSON.stringify(body),
        check: false,
      },
    );
  const { securityContext: _pod, ...loose } = template.spec;
  return {
    asWritten: await create(pod(template.spec)),
    withoutSecurityContext: await create(
      pod({ ...loose, containers: loose.containers.map(({ securityContext: _c, ...c }) => c) }),
    ),
  };
}
