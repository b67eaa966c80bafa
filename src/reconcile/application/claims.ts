// The ownership part of a plan: may this resource act on the application it found, and what
// claim does it still have to make. Pure, like the rest of the planner.
import type { AwsApplication } from '../../aws/port.js';
import { ensureFinalizer } from '../finalizers.js';
import { bindingOf, originOf, spec_ } from '../identity.js';
import { normal } from '../outcome-base.js';
import {
  adoptionAllowed,
  adoptionNotAllowedMessage,
  type ClaimVerdict,
  describeOwner,
  judgeClaim,
  NO_ADOPTION,
  type OwnershipOptions,
  ownershipTags,
} from '../ownership.js';
import type { Outcome } from './outcome.js';
import type { Action, Plan, PlanInput } from './types.js';

const ownershipOptions = (input: PlanInput): OwnershipOptions => input.options.ownership ?? NO_ADOPTION;

const verdictFor = (input: PlanInput, app: AwsApplication): ClaimVerdict =>
  judgeClaim(app.tags, input.resource, ownershipOptions(input).clusterId);

/**
 * Before anything is written to `app`: a Plan when the resource must stop here (another owner,
 * adoption not allowed, or the claim to make first), otherwise the ownership tags still to add.
 */
export function planOwnership(input: PlanInput, app: AwsApplication, out: Outcome): Plan | Action[] {
  const { resource } = input;
  const options = ownershipOptions(input);
  const verdict = verdictFor(input, app);
  const id = app.applicationId;
  if (verdict.kind === 'another') {
    return out.stalled(
      'OwnedByAnotherResource',
      `Application ${id} belongs to ${describeOwner(verdict.owner)}. This resource never writes to it, and deleting this resource leaves it untouched. Delete this resource, or name an application no other resource owns.`,
    );
  }
  const namespace = resource.metadata.namespace;
  if (!bindingOf(resource) && originOf(resource) === 'Adopted' && !adoptionAllowed(namespace, options)) {
    return out.stalled(
      'AdoptionNotAllowed',
      adoptionNotAllowedMessage(namespace, `Adopting application ${id}`),
    );
  }
  if (verdict.kind === 'unclaimed') {
    // A terminated application is not worth a claim; bound, the planner reports it terminated.
    if (app.state === 'TERMINATED') {
      if (bindingOf(resource)) return [];
      return out.stalled(
        'ApplicationTerminated',
        `Application ${id} is terminated: it cannot be adopted. Fix spec.applicationId; nothing was sent to AWS.`,
      );
    }
    // No event here: whether the claim held is known only from the read after it ("Adopted").
    return out
      .act(...ensureFinalizer(resource), {
        kind: 'ClaimApplication',
        applicationId: id,
        arn: app.arn,
        tags: ownershipTags(resource, options.clusterId),
      })
      .progressing('Claiming', `Claiming application ${id} for this resource.`);
  }
  if (Object.keys(verdict.missing).length === 0) return [];
  return [
    {
      kind: 'TagApplication',
      arn: app.arn,
      tags: verdict.missing,
      events: [
        normal(
          'OwnershipTagged',
          'TagResource',
          `Added the ownership tags ${Object.keys(verdict.missing).join(', ')} to application ${id}.`,
        ),
      ],
    },
  ];
}

/**
 * What deletion may do to `app`: act under the deletion policy only on an application that is
 * this resource's (bound, or claimed by it); otherwise only release the finalizer.
 */
export function deletionScope(
  input: PlanInput,
  app: AwsApplication | undefined,
): { act: true; policy: 'Delete' | 'Retain'; warning?: string } | { act: false; message: string } {
  const { resource } = input;
  const verdict = app ? verdictFor(input, app) : undefined;
  if (app && verdict?.kind === 'another') {
    return {
      act: false,
      message: `Application ${app.applicationId} belongs to ${describeOwner(verdict.owner)}; it is left untouched.`,
    };
  }
  if (app && !bindingOf(resource) && verdict?.kind !== 'ours') {
    return {
      act: false,
      message: `Application ${app.applicationId} was never bound to this resource; it is left untouched.`,
    };
  }
  const origin = originOf(resource);
  const declared = spec_(resource).deletionPolicy;
  const policy = declared ?? (origin === 'Adopted' ? 'Retain' : 'Delete');
  const namespace = resource.metadata.namespace;
  if (policy === 'Delete' && origin === 'Adopted' && !adoptionAllowed(namespace, ownershipOptions(input))) {
    return {
      act: true,
      policy: 'Retain',
      warning: `deletionPolicy: Delete on an adopted application needs adoption allowed in namespace ${namespace}; the application is retained.`,
    };
  }
  return { act: true, policy };
}
