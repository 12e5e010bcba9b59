// Why the gateway refused a request: an error code of the catalogue (src/errors/catalogue.ts) for
// the client, and a stable ERR_* reason (GatewayReason) for the audit ledger. Descriptions are
// client-safe: no token, no PHI, no upstream detail. A GatewayDenial is a refusal of a protected
// resource (ResourceAccessError), so the one serializer writes it with its challenge; the
// authenticator's own refusals reach the gateway as ResourceAccessError and are answered alike.
import type { ErrorCode, GatewayReason } from '../errors/catalogue.js';
import { ResourceAccessError, type ResourceAccessOptions } from '../oauth/resource-server/errors.js';

export type { GatewayReason } from '../errors/catalogue.js';

export class GatewayDenial extends ResourceAccessError<GatewayReason> {
  override name = 'GatewayDenial';
  /** Recorded in the ledger event (e.g. the failing batch entry), never sent. */
  readonly details: Record<string, string | number | boolean> | undefined;

  constructor(error: ErrorCode, description: string, reason: GatewayReason, options: ResourceAccessOptions & { details?: Record<string, string | number | boolean> } = {}) {
    super(error, description, reason, options);
    this.details = options.details;
  }

  /** The gateway's 502 bad_gateway is a decision with a client-safe description, told as it is. */
  override get expose(): boolean {
    return this.error === 'bad_gateway' || super.expose;
  }
}

export const accessDenied = (description: string, reason: GatewayReason, details?: Record<string, string | number | boolean>) =>
  new GatewayDenial('access_denied', description, reason, details ? { details } : {});
export const insufficientScope = (requiredScope: string) =>
  new GatewayDenial('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope });
export const badGateway = (reason: GatewayReason, description = 'the upstream server did not answer usably') => new GatewayDenial('bad_gateway', description, reason);

/** A user/ scope asked for a patient off the practitioner's panel (src/gateway/user-reach.ts). */
export const notOnPanel = () => accessDenied('user scopes reach only the patients on your panel', 'ERR_NOT_ON_PANEL');
