// Reads one EmrServerlessApplication for a command (livy-conf, key-usage), with the messages a
// person needs when it is not there.
import { APPLICATION_PLURAL, GROUP, VERSION } from '../api/constants.js';
import type { EmrServerlessApplication } from '../api/schema.js';
import { connectKube, resourcePath } from '../kube/client.js';
import { httpStatusOf } from '../kube/errors.js';

export async function readApplication(
  name: string,
  flags: { namespace?: string | undefined; kubeconfig?: string | undefined },
): Promise<{ application: EmrServerlessApplication; namespace: string } | { error: string }> {
  const kube = await connectKube({ ...(flags.kubeconfig && { path: flags.kubeconfig }) });
  const namespace = flags.namespace ?? kube.namespace ?? 'default';
  try {
    const path = resourcePath({
      group: GROUP,
      version: VERSION,
      plural: APPLICATION_PLURAL,
      namespace,
      name,
    });
    return { application: await kube.request<EmrServerlessApplication>({ method: 'GET', path }), namespace };
  } catch (err) {
    return {
      error:
        httpStatusOf(err) === 404
          ? `EmrServerlessApplication ${name} not found in namespace ${namespace}`
          : `reading EmrServerlessApplication ${namespace}/${name}: ${(err as Error).message}`,
    };
  } finally {
    kube.destroy();
  }
}
