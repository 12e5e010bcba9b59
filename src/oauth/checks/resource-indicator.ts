// Resource indicators, RFC 8707 §2: the `resource` parameter names the resource server a token is
// for; it becomes the token's `aud` (RFC 9068 §3). It "MUST be an absolute URI" without a fragment.
import { invalidTarget } from '../../errors/oauth-error.js';
import type { ClientRecord } from '../../storage/types.js';

/**
 * Picks the audience for a request: the `resource` parameter, which must be registered for the
 * client, or the client's only resource when the parameter is absent.
 */
export function resolveResource(client: ClientRecord, resource: string | undefined): string {
  if (resource === undefined) {
    if (client.resources.length === 1) return client.resources[0]!;
    throw invalidTarget(client.resources.length ? 'the resource parameter is required for this client' : 'this client has no resource registered');
  }
  if (!URL.canParse(resource) || resource.includes('#')) throw invalidTarget('resource must be an absolute URI without a fragment');
  if (!client.resources.includes(resource)) throw invalidTarget('the requested resource is not registered for this client');
  return resource;
}
