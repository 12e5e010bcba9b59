// The audit ledger over HTTP.
//
// Public (what a verifier needs, nothing about any event):
//   GET /audit/checkpoint   the latest signed checkpoint, a C2SP signed note (text/plain)
//   GET /audit/key          the checkpoint verifier key, name+keyid+base64(0x01 || key) (text/plain)
// Audit readers only (45 CFR 164.312(b); a read of the audit log is itself an audited event):
//   GET /audit/events?patient=&actor=&client=&type=&outcome=&since=&until=&limit=&before_seq=
//   GET /audit/proof?seq=N[&size=M]           RFC 9162 §2.1.3 inclusion proof (hex hashes)
//   GET /audit/consistency?from=A&to=B        RFC 9162 §2.1.4 consistency proof (hex hashes)
//
// An audit reader presents an access token (RFC 6750 §2.1, or RFC 9449 DPoP) that
//   - passes the one protected-resource authenticator (src/oauth/resource-server/: signature,
//     `iss`, `typ`, expiry, not revoked, the DPoP binding);
//   - was issued by the client_credentials grant (sub = client_id, no grant): a service or an
//     auditor's tool, not a user's app;
//   - is for this API: RFC 9068 §4 "The resource server MUST validate that the aud claim contains a
//     resource indicator value corresponding to an identifier the resource server expects for
//     itself", here `${issuer}/audit` (declare it under `resources`);
//   - carries the scope audit.read;
//   - belongs to a client that is still registered.
// Missing or bad credentials answer 401 and a good token without the right to read answers 403,
// each with an RFC 6750 §3 WWW-Authenticate challenge.
//
// Every admin read records an audit.read event before the answer is sent; if the ledger cannot
// record it, the read fails with 503 (ctx.audit fails closed) and nothing is disclosed.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors/oauth-error.js';
import { requireServiceClient } from '../oauth/resource-server/service-client.js';
import { sendError } from '../http/error-reply.js';
import type { AppContext } from '../context/app-context.js';
import type { AuditEventInput } from '../audit/events.js';
import { NoteSigner } from '../audit/note.js';
import { consistencyProof, inclusionProof, latestCheckpoint } from '../audit/proofs.js';
import { FilterError, filterNames, isArgumentError, parseCount, parseFilters, type FilterText } from '../audit/report.js';
import { searchEvents } from '../audit/search.js';
import { checkpointSeed, ledgerOrigin } from '../audit/sink.js';

export const AUDIT_READ_SCOPE = 'audit.read';

/** The audience (RFC 8707 resource indicator) an audit reader's token must be issued for. */
export function auditAudience(issuer: string): string {
  return `${issuer}/audit`;
}

function badRequest(description: string): OAuthError {
  return new OAuthError('invalid_request', description, undefined, 400);
}

/** The preHandler of the reader routes: admits audit readers only (src/oauth/resource-server/service-client.ts). */
function requireAuditReader(ctx: AppContext) {
  return requireServiceClient(ctx, {
    audience: auditAudience(ctx.config.issuer), scope: AUDIT_READ_SCOPE, apiName: 'the audit API',
    // A refused attempt to read the audit log by an authenticated client is worth recording; the
    // refusal stands even if the ledger cannot record it.
    onRefused: (req, token) => ctx.audit.record({
      type: 'audit.read', actor: { clientId: token.clientId }, outcome: 'denied', reason: 'insufficient_scope',
      action: 'read', resource: req.routeOptions.url ?? '/audit', jti: token.jti, requestId: String(req.id), sourceAddress: req.ip,
    }),
  });
}

/** The query string; every parameter single-valued except those in `lists`, unknown ones refused. */
function readQuery(req: FastifyRequest, known: readonly string[], lists: readonly string[] = []): Record<string, string | string[]> {
  const q = req.url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  const out: Record<string, string | string[]> = {};
  for (const name of new Set(params.keys())) {
    if (!known.includes(name)) throw badRequest(`unknown parameter "${name.slice(0, 40)}"; use ${known.join(', ')}`);
    const values = params.getAll(name);
    if (lists.includes(name)) out[name] = values;
    else if (values.length > 1) throw badRequest(`parameter ${name} is repeated`);
    else out[name] = values[0]!;
  }
  return out;
}

const asRequestError = (err: unknown): unknown =>
  err instanceof FilterError || isArgumentError(err) ? badRequest((err as Error).message) : err;

export function registerAuditRoutes(app: FastifyInstance, ctx: AppContext): void {
  const sql = ctx.storage.sql;
  // The same key the ledger signs with (src/audit/sink.ts): derived from the master key.
  const verifierKey = new NoteSigner(ledgerOrigin(ctx.config), checkpointSeed(ctx.masterKey)).verifierKey;
  const auditReader = requireAuditReader(ctx);

  /** Records the read before the caller answers; throws 503 (temporarily_unavailable) when it cannot. */
  const recordRead = (req: FastifyRequest, event: Pick<AuditEventInput, 'action' | 'patient' | 'details'>): Promise<void> => {
    const reader = auditReader.tokenOf(req);
    return ctx.audit.record({
      type: 'audit.read', actor: { clientId: reader.clientId }, outcome: 'success', resource: req.routeOptions.url ?? '/audit',
      scopes: { used: AUDIT_READ_SCOPE }, jti: reader.jti, requestId: String(req.id), sourceAddress: req.ip, ...event,
    });
  };

  app.get('/audit/checkpoint', async (_req, reply) => {
    const latest = await latestCheckpoint(sql);
    if (!latest) return sendError(reply, new OAuthError('not_found', 'no checkpoint has been signed yet'), { format: 'json' });
    // Public and signed: anyone may fetch, cache and compare it (split-view detection).
    reply.header('cache-control', 'no-cache').type('text/plain; charset=utf-8');
    return latest.note;
  });

  app.get('/audit/key', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/plain; charset=utf-8');
    return `${verifierKey}\n`;
  });

  const FILTERS = ['patient', 'actor', 'client', 'type', 'outcome', 'since', 'until', 'limit', 'before_seq'];
  app.get('/audit/events', { preHandler: auditReader }, async (req, reply) => {
    let filters;
    try {
      filters = parseFilters(readQuery(req, FILTERS, ['type']) as FilterText);
    } catch (err) {
      throw asRequestError(err);
    }
    const limit = filters.limit ?? 100;
    const events = await searchEvents(sql, { ...filters, limit });
    await recordRead(req, {
      action: 'search',
      ...(filters.patient !== undefined ? { patient: filters.patient } : {}),
      details: { filters: filterNames(filters), results: events.length },
    });
    reply.header('cache-control', 'no-store');
    return { events, ...(events.length === limit ? { next_before_seq: events[events.length - 1]!.seq } : {}) };
  });

  app.get('/audit/proof', { preHandler: auditReader }, async (req, reply) => {
    let proof;
    try {
      const query = readQuery(req, ['seq', 'size']) as Record<string, string>;
      if (query.seq === undefined) throw badRequest('parameter seq is required');
      const seq = parseCount(query.seq, 'seq', 0);
      const size = query.size === undefined ? undefined : parseCount(query.size, 'size', 1);
      proof = await inclusionProof(sql, seq, size);
    } catch (err) {
      throw asRequestError(err);
    }
    await recordRead(req, { action: 'inclusion_proof', details: { seq: proof.leaf_index, tree_size: proof.tree_size } });
    reply.header('cache-control', 'no-store');
    return proof;
  });

  app.get('/audit/consistency', { preHandler: auditReader }, async (req, reply) => {
    let proof;
    try {
      const query = readQuery(req, ['from', 'to']) as Record<string, string>;
      if (query.from === undefined || query.to === undefined) throw badRequest('parameters from and to are required');
      proof = await consistencyProof(sql, parseCount(query.from, 'from', 0), parseCount(query.to, 'to', 0));
    } catch (err) {
      // The library names the sizes first and second (RFC 9162); this API calls them from and to.
      if (isArgumentError(err)) throw badRequest(err.message.replace(/^first/, 'from').replace(/^second/, 'to'));
      throw asRequestError(err);
    }
    await recordRead(req, { action: 'consistency_proof', details: { first: proof.first, second: proof.second } });
    reply.header('cache-control', 'no-store');
    return proof;
  });
}
