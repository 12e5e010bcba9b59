// GET /demo: a walkthrough of the whole flow for the development stack (README.md "Quickstart").
// The page is a small confidential relying party living in the server process: it authorises with
// PKCE (S256), checks state and iss (RFC 9207), redeems the code at /token, keeps the tokens server
// side, calls the FHIR gateway with them, and shows the token's claims and the ledger entries the
// flow produced. The routes exist only when the dev stack seeded the walkthrough client and handed
// it to buildApp (src/demo/registry.ts); production configurations never have them. Requests to /token and
// /fhir go through the application itself (Fastify inject), so every check, hook and ledger event
// runs exactly as for an outside client.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { searchEvents } from '../audit/search.js';
import type { AuditEvent } from '../audit/events.js';
import { randomToken } from '../crypto/random.js';
import { csrfToken, csrfValid } from '../interaction/csrf.js';
import { formParams, queryParams } from '../http/request-info.js';
import { grantIdOfJti } from '../oauth/tokens/access-token.js';
import { findToken } from '../oauth/tokens/lookup.js';
import type { AppContext } from '../context/app-context.js';
import { flowPage, problemPage, startPage } from './pages.js';
import { WALKTHROUGH_CALLBACK_PATH, type WalkthroughClient } from './registry.js';
import { currentSession, startSession, type CallKind, type CallResult, type DemoSession, type DemoSessionStore } from './session.js';

/** Claim names that would mean personal data in a token; the check lists any that appear. */
export const PHI_CLAIM_NAMES = [
  'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'email', 'phone_number', 'address',
  'birthdate', 'gender', 'mrn', 'ssn', 'identifier', 'telecom', 'fhirUser',
] as const;
const PHI_PATTERN = /name|mail|phone|address|birth|gender|mrn|ssn|identifier|telecom|postal|dob/i;

const CSRF_PURPOSE = 'demo-walkthrough';

function sendPage(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

function decodePart(part: string | undefined): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function summarise(status: number, body: string, challenge: string | undefined): string[] {
  const lines: string[] = [];
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  const ref = (r: unknown) => {
    const res = r as { resourceType?: unknown; id?: unknown } | undefined;
    return typeof res?.resourceType === 'string' ? `${res.resourceType}/${typeof res.id === 'string' ? res.id : '?'}` : '?';
  };
  if (json?.resourceType === 'Bundle') {
    const entries = Array.isArray(json.entry) ? (json.entry as { resource?: unknown }[]) : [];
    lines.push(`Bundle (${String(json.type ?? 'searchset')}): ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} on this page`);
    const refs = entries.slice(0, 5).map((e) => ref(e.resource));
    if (refs.length) lines.push(`${refs.join(', ')}${entries.length > 5 ? `, and ${entries.length - 5} more` : ''}`);
  } else if (json?.resourceType === 'OperationOutcome') {
    const issues = Array.isArray(json.issue) ? (json.issue as { code?: unknown; severity?: unknown }[]) : [];
    lines.push(`OperationOutcome: ${issues.map((i) => `${String(i.severity ?? '')} ${String(i.code ?? '')}`.trim()).join(', ') || 'no issue'}`);
  } else if (json && typeof json.resourceType === 'string') {
    lines.push(`${ref(json)} (demographics not shown here)`);
  } else if (status >= 400) {
    lines.push(`${body.length} bytes, not FHIR JSON`);
  }
  const error = challenge?.match(/error="([a-z_]+)"/)?.[1];
  if (error) lines.push(`WWW-Authenticate: error="${error}"`);
  return lines;
}

async function ledgerOf(ctx: AppContext, client: WalkthroughClient, session: DemoSession): Promise<AuditEvent[]> {
  const grantId = session.tokens?.grantId;
  if (!grantId) return [];
  const events = await searchEvents(ctx.storage.sql, { client: client.clientId, since: session.startedAt, limit: 500 });
  // This browser's flow only: events of its grant, and the grant-less ones (consent, code) of the same user.
  const userId = events.find((e) => e.grantId === grantId && e.type === 'token.issued')?.actor.userId;
  return events.filter((e) => e.grantId === grantId || (e.grantId === undefined && userId !== undefined && e.actor.userId === userId)).slice(0, 100);
}

/** The /demo routes for the seeded walkthrough client; `sessions` holds the browsers' walkthroughs. */
export function registerDemoRoutes(app: FastifyInstance, ctx: AppContext, demo: { client: WalkthroughClient; sessions: DemoSessionStore }): void {
  const { client, sessions } = demo;
  const issuer = ctx.config.issuer;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;

  app.get('/demo', async (req, reply) => {
    const session = currentSession(sessions, ctx, req, reply);
    return sendPage(reply, startPage({ clientId: client.clientId, canContinue: session?.tokens !== undefined }));
  });

  app.get('/demo/start', async (req, reply) => {
    const session = startSession(sessions, ctx, req, reply);
    const pending = { state: randomToken(32), verifier: randomToken(32), nonce: randomToken(32) };
    session.pending = pending;
    const url = new URL(`${issuer}/authorize`);
    const params = {
      response_type: 'code', client_id: client.clientId, redirect_uri: client.redirectUri, scope: client.scope, resource: client.resource,
      state: pending.state, nonce: pending.nonce, code_challenge_method: 'S256',
      code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return reply.code(303).header('location', url.pathname + url.search).send();
  });

  app.get(WALKTHROUGH_CALLBACK_PATH, async (req, reply) => {
    const session = currentSession(sessions, ctx, req, reply);
    const pending = session?.pending;
    if (!session || !pending) return sendPage(reply, problemPage('Walkthrough expired', 'This browser has no walkthrough in progress (it lasts ten minutes). Start again.'), 400);
    let q: Record<string, string | undefined>;
    try {
      q = queryParams(req);
    } catch {
      return sendPage(reply, problemPage('Bad callback', 'The authorization response repeated a parameter.'), 400);
    }
    // RFC 6749 §10.12 (state, single use) and RFC 9207 §2.4 (iss must be this issuer).
    if (q.state !== pending.state) return sendPage(reply, problemPage('Bad callback', 'The state in the response is not the one this walkthrough sent.'), 400);
    if (q.iss !== issuer) return sendPage(reply, problemPage('Bad callback', 'The response does not name this server as its issuer (iss).'), 400);
    session.pending = undefined;
    if (q.error) {
      const message = q.error === 'access_denied' ? 'You denied access on the consent screen, so the app has no token.' : `The authorization server answered ${q.error}.`;
      return sendPage(reply, problemPage('Not authorised', message), 400);
    }
    const res = await app.inject({
      method: 'POST', url: '/token', remoteAddress: req.ip,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'user-agent': 'caduceus-demo-walkthrough' },
      payload: new URLSearchParams({
        grant_type: 'authorization_code', code: q.code ?? '', redirect_uri: client.redirectUri, code_verifier: pending.verifier, resource: client.resource,
      }).toString(),
    });
    const body = res.json<Record<string, unknown>>();
    if (res.statusCode !== 200 || typeof body.access_token !== 'string') {
      return sendPage(reply, problemPage('Token request failed', `The token endpoint answered ${res.statusCode} ${String(body.error ?? '')}.`), 502);
    }
    const claims = decodePart(body.access_token.split('.')[1]);
    session.tokens = {
      accessToken: body.access_token, scope: String(body.scope ?? ''), expiresIn: Number(body.expires_in ?? 0),
      grantId: typeof claims.jti === 'string' ? grantIdOfJti(claims.jti) : null,
      refreshIssued: typeof body.refresh_token === 'string', idTokenIssued: typeof body.id_token === 'string',
    };
    session.calls = {};
    // The code stays out of the address bar and the browser history.
    return reply.code(303).header('location', '/demo/flow').send();
  });

  app.get('/demo/flow', async (req, reply) => {
    const session = currentSession(sessions, ctx, req, reply);
    if (!session?.tokens) return reply.code(303).header('location', '/demo').send();
    const [headerPart, claimsPart] = session.tokens.accessToken.split('.');
    const header = decodePart(headerPart);
    const claims = decodePart(claimsPart);
    const found = await findToken(ctx, session.tokens.accessToken);
    const names = [...Object.keys(header), ...Object.keys(claims)];
    const phiClaims = names.filter((n) => PHI_PATTERN.test(n) || (PHI_CLAIM_NAMES as readonly string[]).includes(n));
    return sendPage(reply, flowPage({
      session, header, claims, signatureValid: found.kind === 'access_token', phiClaims, checkedNames: PHI_CLAIM_NAMES,
      csrf: csrfToken(ctx, CSRF_PURPOSE, session.cookie), ledger: await ledgerOf(ctx, client, session),
    }));
  });

  app.post('/demo/call', async (req, reply) => {
    const session = currentSession(sessions, ctx, req, reply);
    if (!session?.tokens) return reply.code(303).header('location', '/demo').send();
    const form = formParams(req);
    if (!csrfValid(ctx, CSRF_PURPOSE, session.cookie, form.csrf)) return sendPage(reply, problemPage('Form expired', 'Reload the walkthrough and try again.'), 403);
    const patient = String(decodePart(session.tokens.accessToken.split('.')[1]).patient ?? 'demo-1');
    const paths: Record<CallKind, string> = {
      'own-patient': `/fhir/Patient/${encodeURIComponent(patient)}`,
      'own-observations': `/fhir/Observation?patient=${encodeURIComponent(patient)}&_count=10`,
      'other-patient': `/fhir/Patient/${patient === 'demo-2' ? 'demo-3' : 'demo-2'}`,
    };
    const kind = form.call as CallKind | undefined;
    if (!kind || !Object.hasOwn(paths, kind)) return sendPage(reply, problemPage('Unknown call', 'Pick one of the buttons on the walkthrough page.'), 400);
    const res = await app.inject({
      method: 'GET', url: paths[kind], remoteAddress: req.ip,
      headers: { authorization: `Bearer ${session.tokens.accessToken}`, accept: 'application/fhir+json', 'user-agent': 'caduceus-demo-walkthrough' },
    });
    const result: CallResult = {
      kind, path: paths[kind], status: res.statusCode,
      summary: summarise(res.statusCode, res.body, res.headers['www-authenticate'] as string | undefined),
    };
    session.calls[kind] = result;
    return reply.code(303).header('location', '/demo/flow#step-3').send();
  });
}
