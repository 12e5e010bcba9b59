// What a self-registered AI agent may be granted, whatever it asks for (issue 14). Pure.
//
// A self-registered agent is a client nobody vetted before it arrived: one that registered itself
// (source 'dynamic', RFC 7591, src/oauth/endpoints/register.ts) or one known only through its
// client ID metadata document (source 'metadata_document', src/oauth/client-metadata/). Clients of
// the configuration file and of the admin CLI are not agents here and get no policy (undefined).
//
// By default (RFC 9700 §2.3 least privilege; 45 CFR 164.502(b) minimum necessary):
// - resource scopes: patient/ only, read and search only. SMART v2 letters c, u, d are dropped
//   (`.cruds` becomes `.rs`); v1 `.read` stays, `.*` becomes `.read`, `.write` is dropped; granular
//   constraints (`?param=value`) are kept as written. user/ and system/ scopes are dropped: an agent
//   reaches one patient's compartment, never every patient a user sees or the whole server.
// - context scopes: openid, fhirUser and launch/patient; no offline_access (no refresh token),
//   no online_access, no other launch context, nothing else.
// - the shortest access token lifetime: agents.access_token_ttl, capped by tokens.access_token_ttl.
// - never break-glass (45 CFR 164.312(a)(2)(ii) emergency access is for a clinician in person).
// An administrator's approval (stored through the admin console, API or CLI, or agents.approved in
// the configuration file, by client_id or metadata_url) only widens: a
// requested scope that the approval's `scope` covers (SMART scopes compared by meaning, as
// src/oauth/checks/scope.ts does) is kept as asked; the rest get the default narrowing. An approval
// naming offline_access lets the agent have refresh tokens. A stored refusal stops the agent; with
// agents.require_approval, an agent that no approval names is refused too.
//
// Deliberately not decided here: what the client's registration or the resource server accepts
// (src/oauth/checks/scope.ts), what the signed-in user's role allows (src/identity/role-policy.ts),
// and the consent the person gives; the policy narrows a request before those, never widens one.
import type { AgentApprovalConfig, CaduceusConfig } from '../config/schema.js';
import type { AgentDecisionRecord } from '../storage/types.js';
import { restrictResourceScope, scopeCovers, tryParseSmartScope } from '../smart/scopes.js';

export type AgentSource = 'dynamic' | 'metadata_document';

/** The context scopes any agent may have without an approval. */
export const DEFAULT_AGENT_CONTEXT_SCOPES: readonly string[] = ['openid', 'fhirUser', 'launch/patient'];

/** What a dynamic registration that names no scope is registered for (RFC 7591 §2: "MAY register a client with a default set of scopes"). */
export const DEFAULT_AGENT_SCOPE = 'openid fhirUser launch/patient patient/*.rs';

/** SMART permission letters an unapproved agent keeps: read and search. */
const READ_ONLY = 'rs';

export interface AgentScopeDecision {
  /** What the agent may be granted, in the order asked, each once. */
  allowed: string[];
  /** Requested scopes not granted as asked: dropped, or narrowed (their narrowed form is in `allowed`). */
  removed: string[];
}

export interface AgentPolicy {
  readonly source: AgentSource;
  /** An administrator approved this agent (a stored approval, or an entry of agents.approved). */
  readonly approved: boolean;
  /** The scope tokens of the approval; empty when not approved or approved without `scope`. */
  readonly approvedScopes: readonly string[];
  /**
   * Set when the agent must be refused before any authorization (a stored refusal, or
   * agents.require_approval and no approval): the OAuth error to answer at /authorize (sent to the verified redirect URI) and /token.
   */
  readonly refusal: { error: 'unauthorized_client'; description: string } | undefined;
  /** Narrows a requested scope list to what the agent may be granted. */
  scopes(requested: readonly string[]): AgentScopeDecision;
  /** scopes(requested).allowed */
  allowedScopes(requested: readonly string[]): string[];
  /** Seconds: agents.access_token_ttl capped by tokens.access_token_ttl. */
  readonly accessTokenTtl: number;
  /** Whether a refresh token may be issued: only when the approval names offline_access. */
  readonly refreshTokens: boolean;
  /** Emergency (break-glass) access is never offered to an agent. */
  readonly breakGlass: false;
}

export const UNAPPROVED_AGENT_DESCRIPTION = 'this AI agent has not been approved by an administrator of this server';
export const REFUSED_AGENT_DESCRIPTION = 'an administrator of this server has refused this AI agent';

/** Whether the client is a self-registered agent (the only clients this policy applies to). */
export function isAgentSource(source: string): source is AgentSource {
  return source === 'dynamic' || source === 'metadata_document';
}

/** The approval of the configuration file that names this agent, if any: dynamic clients by client_id, metadata documents by metadata_url. */
export function findAgentApproval(
  config: Pick<CaduceusConfig, 'agents'>, client: { clientId: string; source: AgentSource },
): AgentApprovalConfig | undefined {
  return config.agents.approved.find((a) => (client.source === 'dynamic' ? a.client_id : a.metadata_url) === client.clientId);
}

/**
 * What an administrator decided about the agent: a stored decision (the admin console, the admin
 * API or `caduceus agent`, src/admin/agents.ts) wins over the configuration file, so a refusal
 * stops an agent that the file approves; without a stored decision, agents.approved applies.
 */
export function effectiveAgentDecision(
  config: Pick<CaduceusConfig, 'agents'>, client: { clientId: string; source: AgentSource }, stored: AgentDecisionRecord | undefined,
): { decision: 'approved' | 'refused'; scope: string | undefined } | undefined {
  if (stored) return { decision: stored.decision, scope: stored.scope ?? undefined };
  const approval = findAgentApproval(config, client);
  return approval ? { decision: 'approved', scope: approval.scope } : undefined;
}

/**
 * The policy of a self-registered agent, or undefined for any other client (source 'config' or
 * 'admin'), which keeps what its registration allows. `stored` is the agent's stored decision
 * (storage.agentDecisions; loadAgentPolicy in src/oauth/clients.ts reads it).
 */
export function agentPolicy(
  config: Pick<CaduceusConfig, 'agents' | 'tokens'>, client: { clientId: string; source: string }, stored?: AgentDecisionRecord,
): AgentPolicy | undefined {
  const source = client.source;
  if (!isAgentSource(source)) return undefined;
  const decision = effectiveAgentDecision(config, { clientId: client.clientId, source }, stored);
  const approved = decision?.decision === 'approved';
  const approvedScopes = Object.freeze(approved ? splitScope(decision.scope) : []);
  const scopes = (requested: readonly string[]) => narrowAgentScopes(requested, approvedScopes);
  return Object.freeze({
    source,
    approved,
    approvedScopes,
    refusal: refusalOf(config, decision?.decision),
    scopes,
    allowedScopes: (requested: readonly string[]) => scopes(requested).allowed,
    accessTokenTtl: Math.min(config.agents.access_token_ttl, config.tokens.access_token_ttl),
    refreshTokens: approvedScopes.includes('offline_access'),
    breakGlass: false as const,
  });
}

function refusalOf(config: Pick<CaduceusConfig, 'agents'>, decision: 'approved' | 'refused' | undefined): AgentPolicy['refusal'] {
  if (decision === 'refused') return { error: 'unauthorized_client', description: REFUSED_AGENT_DESCRIPTION };
  if (decision === undefined && config.agents.require_approval) return { error: 'unauthorized_client', description: UNAPPROVED_AGENT_DESCRIPTION };
  return undefined;
}

/**
 * The narrowing itself: each requested scope that an approved scope covers is kept as asked;
 * every other one gets the default narrowing (see the top of this file). Malformed scopes are
 * dropped (the authorization request refuses them before this runs).
 */
export function narrowAgentScopes(requested: readonly string[], approvedScopes: readonly string[] = []): AgentScopeDecision {
  const allowed = new Set<string>();
  const removed: string[] = [];
  for (const raw of requested) {
    if (approvedScopes.some((a) => scopeCovers(a, raw)) && !raw.startsWith('system/')) {
      allowed.add(raw);
      continue;
    }
    const narrowed = defaultNarrowing(raw);
    if (narrowed !== undefined) allowed.add(narrowed);
    if (narrowed !== raw) removed.push(raw);
  }
  return { allowed: [...allowed], removed };
}

function defaultNarrowing(raw: string): string | undefined {
  const scope = tryParseSmartScope(raw);
  if (scope === undefined) return undefined;
  if (scope.kind === 'context') return DEFAULT_AGENT_CONTEXT_SCOPES.includes(raw) ? raw : undefined;
  if (scope.kind !== 'resource' || scope.level !== 'patient') return undefined;
  return restrictResourceScope(scope, { keep: READ_ONLY });
}

function splitScope(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))];
}
