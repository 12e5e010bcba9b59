// The self-registered agent policy (src/oauth/agent-policy.ts), its settings (agents.* in
// src/config/schema.ts) and the compliance view that leaves dynamic clients out. Pure: no server.
import { configProblems } from '../support/config-problems.js';
import { describe, expect, test } from 'vitest';
import { unsafeWarnings } from '../../src/config/load.js';
import { validateConfig, type CaduceusConfig } from '../../src/config/schema.js';
import { agentPolicy, narrowAgentScopes, REFUSED_AGENT_DESCRIPTION, UNAPPROVED_AGENT_DESCRIPTION } from '../../src/oauth/agent-policy.js';
import { clientViews } from '../../src/compliance/client-view.js';
import type { ClientRecord } from '../../src/storage/types.js';

const base = { issuer: 'https://as.example', storage: 'sqlite:./data/x.db', tls: { cert: 'c.pem', key: 'k.pem' } };
const config = (agents: Record<string, unknown> = {}, more: Record<string, unknown> = {}): CaduceusConfig => validateConfig({ ...base, agents, ...more });

const problems = configProblems;

const dynamic = { clientId: 'agent_AAAAAAAAAAAAAAAAAAAAAA', source: 'dynamic' };
const metadataAgent = { clientId: 'https://agent.example/client.json', source: 'metadata_document' };

describe('which clients the policy applies to', () => {
  test('clients of the configuration file and of the admin CLI get no agent policy', () => {
    expect(agentPolicy(config(), { clientId: 'ehr-app', source: 'config' })).toBeUndefined();
    expect(agentPolicy(config(), { clientId: 'cli-app', source: 'admin' })).toBeUndefined();
  });

  test('a dynamic registration and a metadata document client are agents, unapproved by default', () => {
    for (const client of [dynamic, metadataAgent]) {
      const policy = agentPolicy(config(), client)!;
      expect(policy.source).toBe(client.source);
      expect(policy.approved).toBe(false);
      expect(policy.approvedScopes).toEqual([]);
      expect(policy.refusal).toBeUndefined();
      expect(policy.refreshTokens).toBe(false);
      expect(policy.breakGlass).toBe(false);
    }
  });
});

describe('what an unapproved agent may be granted', () => {
  const policy = agentPolicy(config(), dynamic)!;

  test('read and search of patient/ scopes only: c, u, d and v1 write are dropped, v1 .* becomes .read, constraints stay', () => {
    const requested = [
      'patient/Observation.cruds', 'patient/*.*', 'patient/Condition.write', 'patient/Patient.read', 'patient/Observation.rs?category=laboratory',
      'patient/Encounter.c', 'patient/AllergyIntolerance.rs', 'patient/MedicationRequest.ru',
    ];
    expect(policy.scopes(requested)).toEqual({
      allowed: ['patient/Observation.rs', 'patient/*.read', 'patient/Patient.read', 'patient/Observation.rs?category=laboratory', 'patient/AllergyIntolerance.rs', 'patient/MedicationRequest.r'],
      removed: ['patient/Observation.cruds', 'patient/*.*', 'patient/Condition.write', 'patient/Encounter.c', 'patient/MedicationRequest.ru'],
    });
  });

  test('no user/ or system/ scope, whatever the permissions', () => {
    expect(policy.allowedScopes(['user/Observation.rs', 'system/*.rs', 'user/*.read', 'system/Patient.r'])).toEqual([]);
  });

  test('openid, fhirUser and launch/patient pass; offline_access, online_access, other launch context and unknown scopes do not', () => {
    const requested = ['openid', 'fhirUser', 'launch/patient', 'offline_access', 'online_access', 'launch', 'launch/encounter', 'launch/patient?role=x', 'profile', 'phi.identifiers'];
    expect(policy.scopes(requested)).toEqual({
      allowed: ['openid', 'fhirUser', 'launch/patient'],
      removed: ['offline_access', 'online_access', 'launch', 'launch/encounter', 'launch/patient?role=x', 'profile', 'phi.identifiers'],
    });
  });

  test('scopes that narrow to the same one are granted once, in the order asked; malformed scopes are dropped', () => {
    expect(policy.allowedScopes(['patient/Observation.rs', 'patient/Observation.cruds', 'patient/Observation.dus', 'openid', 'openid'])).toEqual(['patient/Observation.rs', 'openid']);
  });

  test('the access token lives agents.access_token_ttl, never longer than tokens.access_token_ttl', () => {
    expect(policy.accessTokenTtl).toBe(300);
    expect(agentPolicy(config({ access_token_ttl: 120 }), dynamic)!.accessTokenTtl).toBe(120);
    expect(agentPolicy(config({ access_token_ttl: 600 }, { tokens: { access_token_ttl: 180 } }), dynamic)!.accessTokenTtl).toBe(180);
  });
});

describe('an administrator approval', () => {
  const approved = config({
    approved: [
      { client_id: dynamic.clientId, scope: 'patient/Observation.cruds user/Observation.rs offline_access' },
      { metadata_url: metadataAgent.clientId },
    ],
  });

  test('widens to the scopes it names, kept as asked; everything else still gets the default narrowing', () => {
    const policy = agentPolicy(approved, dynamic)!;
    expect(policy.approved).toBe(true);
    expect(policy.approvedScopes).toEqual(['patient/Observation.cruds', 'user/Observation.rs', 'offline_access']);
    expect(policy.scopes(['patient/Observation.cru', 'user/Observation.rs', 'user/Patient.rs', 'patient/Condition.cruds', 'offline_access', 'openid'])).toEqual({
      allowed: ['patient/Observation.cru', 'user/Observation.rs', 'patient/Condition.rs', 'offline_access', 'openid'],
      removed: ['user/Patient.rs', 'patient/Condition.cruds'],
    });
  });

  test('naming offline_access allows refresh tokens; the token lifetime and break-glass do not change', () => {
    const policy = agentPolicy(approved, dynamic)!;
    expect(policy.refreshTokens).toBe(true);
    expect(policy.accessTokenTtl).toBe(300);
    expect(policy.breakGlass).toBe(false);
  });

  test('without a scope it approves the agent and widens nothing', () => {
    const policy = agentPolicy(approved, metadataAgent)!;
    expect(policy.approved).toBe(true);
    expect(policy.refreshTokens).toBe(false);
    expect(policy.allowedScopes(['patient/Observation.cruds', 'offline_access'])).toEqual(['patient/Observation.rs']);
  });

  test('client_id approves only a dynamic registration and metadata_url only a metadata document client', () => {
    const crossed = config({ approved: [{ metadata_url: 'https://agent.example/a.json' }, { client_id: 'agent_BBBBBBBBBBBBBBBBBBBBBB' }] });
    expect(agentPolicy(crossed, { clientId: 'https://agent.example/a.json', source: 'dynamic' })!.approved).toBe(false);
    expect(agentPolicy(crossed, { clientId: 'agent_BBBBBBBBBBBBBBBBBBBBBB', source: 'metadata_document' })!.approved).toBe(false);
    expect(agentPolicy(crossed, { clientId: 'agent_BBBBBBBBBBBBBBBBBBBBBB', source: 'dynamic' })!.approved).toBe(true);
  });

  test('with agents.require_approval an unapproved agent is refused with unauthorized_client and an approved one is not', () => {
    const strict = config({ require_approval: true, approved: [{ client_id: dynamic.clientId }] });
    expect(agentPolicy(strict, dynamic)!.refusal).toBeUndefined();
    expect(agentPolicy(strict, { clientId: 'agent_CCCCCCCCCCCCCCCCCCCCCC', source: 'dynamic' })!.refusal)
      .toEqual({ error: 'unauthorized_client', description: UNAPPROVED_AGENT_DESCRIPTION });
    expect(agentPolicy(strict, metadataAgent)!.refusal?.error).toBe('unauthorized_client');
  });

  test('a stored decision wins over the configuration file: a refusal stops an agent the file approves, an approval widens as stored', () => {
    const fileApproves = config({ approved: [{ client_id: dynamic.clientId, scope: 'offline_access' }] });
    const stored = (decision: 'approved' | 'refused', scope: string | null = null) => ({ clientId: dynamic.clientId, decision, scope, reason: null, decidedBy: 'admin:alice', decidedAt: 1 });
    const refused = agentPolicy(fileApproves, dynamic, stored('refused'))!;
    expect(refused.refusal).toEqual({ error: 'unauthorized_client', description: REFUSED_AGENT_DESCRIPTION });
    expect([refused.approved, refused.refreshTokens]).toEqual([false, false]);
    const approved = agentPolicy(config({ require_approval: true }), dynamic, stored('approved', 'patient/Observation.cruds'))!;
    expect(approved.refusal).toBeUndefined();
    expect(approved.allowedScopes(['patient/Observation.cruds', 'offline_access'])).toEqual(['patient/Observation.cruds']);
    // Without a stored decision the file's approval applies again.
    expect(agentPolicy(fileApproves, dynamic)!.refreshTokens).toBe(true);
  });

  test('narrowAgentScopes never keeps a system/ scope, even one an approval would cover', () => {
    expect(narrowAgentScopes(['system/Patient.rs'], ['system/Patient.rs'])).toEqual({ allowed: [], removed: ['system/Patient.rs'] });
  });
});

describe('the agents settings', () => {
  test('defaults: registration off, 300-second tokens, no approval required, nobody approved', () => {
    const c = config();
    expect(c.agents).toMatchObject({ dynamic_registration: { enabled: false }, access_token_ttl: 300, require_approval: false, approved: [] });
    expect(c.rate_limits.registration).toEqual({ per_address: 20 });
    expect(c.unsafe.allow_open_client_registration).toBe(false);
  });

  test('registration on needs an initial access token variable, or open registration under unsafe.*', () => {
    expect(problems({ ...base, agents: { dynamic_registration: { enabled: true } } })).toEqual([
      'agents.dynamic_registration.initial_access_token_env: is required while dynamic registration is enabled: name the environment variable holding the initial access token (open registration needs unsafe.allow_open_client_registration)',
    ]);
    expect(problems({ ...base, agents: { dynamic_registration: { enabled: true, initial_access_token_env: 'AGENT_IAT' } } })).toEqual([]);
    const open = config({ dynamic_registration: { enabled: true } }, { unsafe: { allow_open_client_registration: true } });
    expect(unsafeWarnings(open)).toEqual(['unsafe.allow_open_client_registration is on: this weakens the server and fails the compliance check']);
  });

  test('open registration together with an initial access token is refused as contradictory', () => {
    expect(problems({ ...base, agents: { dynamic_registration: { enabled: true, initial_access_token_env: 'AGENT_IAT' } }, unsafe: { allow_open_client_registration: true } })).toEqual([
      'unsafe.allow_open_client_registration: has no effect while agents.dynamic_registration.initial_access_token_env is set; remove one of them',
    ]);
    expect(problems({ ...base, agents: { dynamic_registration: { enabled: true, initial_access_token_env: 'agent-iat' } } })).toEqual([
      'agents.dynamic_registration.initial_access_token_env: must be an environment variable name (A-Z, 0-9, _)',
    ]);
  });

  test('an approval names exactly one agent, by client_id or metadata_url, at most once, and never a system/ scope', () => {
    expect(problems({ ...base, agents: { approved: [{ scope: 'openid' }] } })).toEqual([
      'agents.approved[0]: needs exactly one of client_id (a dynamic registration) or metadata_url (a client ID metadata document)',
    ]);
    expect(problems({ ...base, agents: { approved: [{ client_id: 'agent_x1', metadata_url: 'https://a.example/c.json' }] } })).toHaveLength(1);
    expect(problems({ ...base, agents: { approved: [{ metadata_url: 'http://a.example/c.json' }] } })).toEqual([
      "agents.approved[0].metadata_url: must be the agent's https client_id (its client ID metadata document URL)",
    ]);
    expect(problems({ ...base, agents: { approved: [{ client_id: 'agent_x1', scope: 'openid system/*.rs patient/Observation.dus' }] } })).toEqual([
      'agents.approved[0].scope: "system/*.rs": system/ scopes are for backend services; an agent acts for a signed-in person (use patient/ or user/)',
      'agents.approved[0].scope: "patient/Observation.dus" is not a valid scope: permissions must be a non-empty subset of "cruds" in that order (or v1 read, write, *)',
    ]);
    expect(problems({ ...base, agents: { approved: [{ client_id: 'agent_x1' }, { client_id: 'agent_x1', scope: 'openid' }] } })).toEqual([
      'agents.approved[1]: names an agent that an earlier entry already approves; merge the two entries',
    ]);
  });

  test('agents.access_token_ttl is capped at 15 minutes like every access token', () => {
    expect(problems({ ...base, agents: { access_token_ttl: 901 } })).toEqual(['agents.access_token_ttl: must be at most 900 seconds']);
  });
});

describe('the compliance check', () => {
  test('looks at configured and administered clients, not at the clients agents registered themselves', () => {
    const record = (clientId: string, source: ClientRecord['source']): ClientRecord => ({
      clientId, name: clientId, grantTypes: ['authorization_code'], redirectUris: ['http://127.0.0.1/cb'], scope: 'patient/*.rs', resources: [],
      tokenEndpointAuthMethod: 'none', secretDigest: null, jwksUri: null, jwks: null, source, createdAt: 0, updatedAt: 0,
    });
    const views = clientViews({ config: config(), clients: [record('cli-app', 'admin'), record('agent_DDDDDDDDDDDDDDDDDDDDDD', 'dynamic')] });
    expect(views.map((v) => v.clientId)).toEqual(['cli-app']);
  });
});
