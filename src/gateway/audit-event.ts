// The one ledger event per gateway request, written before the response leaves (45 CFR 164.312(b);
// docs/SECURITY.md "PHI gateway: every request audited before release"). Identifiers only: patient
// and resource ids, the interaction, scopes, client, user, jti, grant, request id, statuses. Never
// search parameter values, bodies, tokens or header values.
import type { AuditEventInput, AuditOutcome } from '../audit/events.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';

export interface GatewayEventDraft {
  route: string;
  action: string;
  /** "Observation/obs-1", a type, "Bundle", or an http rule path. */
  resource: string;
  token?: VerifiedAccessToken;
  scopeUsed?: string;
  /** A FHIR Patient id. */
  patient?: string;
  requestId: string;
  sourceAddress: string;
  upstreamStatus?: number;
  filtered?: number;
  masked?: number;
  entry?: number;
  /** The MCP tool whose call this request is (src/agents/mcp/): details.tool. */
  tool?: string;
}

export function gatewayEvent(draft: GatewayEventDraft, result: { accessed: boolean; outcome: AuditOutcome; reason?: string; status: number }): AuditEventInput {
  const t = draft.token;
  const details: Record<string, string | number | boolean> = { route: draft.route, status: result.status };
  if (draft.upstreamStatus !== undefined) details.upstream_status = draft.upstreamStatus;
  if (draft.filtered) details.filtered_entries = draft.filtered;
  if (draft.masked) details.masked_elements = draft.masked;
  if (draft.entry !== undefined) details.entry = draft.entry;
  if (draft.tool !== undefined) details.tool = draft.tool;
  // RFC 8693 §4.1: an exchanged token names the agent acting for the person; every event says so.
  if (t?.actor !== undefined) details.act = t.actor;
  // Break-glass (45 CFR 164.312(a)(2)(ii)): every use of an emergency token is flagged for review.
  if (t?.purposeOfUse !== undefined) {
    details.purpose_of_use = t.purposeOfUse;
    details.break_glass = true;
  }
  return {
    type: result.accessed ? 'phi.accessed' : 'phi.denied',
    // client_credentials tokens name the client as subject: no user then.
    actor: t ? { ...(t.subject !== t.clientId ? { userId: t.subject } : {}), clientId: t.clientId } : {},
    ...(draft.patient ? { patient: `Patient/${draft.patient}` } : {}),
    resource: draft.resource,
    action: draft.action,
    outcome: result.outcome,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(draft.scopeUsed ? { scopes: { used: draft.scopeUsed } } : {}),
    ...(t ? { jti: t.jti, ...(t.grantId ? { grantId: t.grantId } : {}) } : {}),
    requestId: draft.requestId,
    sourceAddress: draft.sourceAddress,
    details,
  };
}
