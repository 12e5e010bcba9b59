// The auditor-facing evidence of `caduceus report` (issue 6): configuration findings, the audit
// ledger's verification with its latest signed checkpoint, the signing-key rotation history, the
// clients with their scopes and redirect URIs, consent statistics, and the settings behind each
// HIPAA technical safeguard. Each section names the 45 CFR 164.312 paragraph it evidences.
//
// Not included: any PHI, username, secret, token or digest. Break-glass (164.312(a)(2)(ii)) is not
// implemented yet and the report says so.
import type { AppContext } from '../../server/context.js';
import { latestCheckpoint } from '../../audit/index.js';
import { runStaticCheck } from '../check.js';
import { clientViews } from '../client-view.js';
import { collectCheckInput } from '../input.js';
import { postgresTransport } from '../rules/database-tls.js';
import { SESSION_IDLE_MAX } from '../rules/session-timeout.js';
import type { CertificateFacts, Report } from '../types.js';

export interface Safeguard {
  citation: string;
  name: string;
}

export const SAFEGUARDS = {
  accessControl: { citation: '45 CFR 164.312(a)(1)', name: 'Access control' },
  automaticLogoff: { citation: '45 CFR 164.312(a)(2)(iii)', name: 'Automatic logoff' },
  auditControls: { citation: '45 CFR 164.312(b)', name: 'Audit controls' },
  integrity: { citation: '45 CFR 164.312(c)(1)', name: 'Integrity' },
  authentication: { citation: '45 CFR 164.312(d)', name: 'Person or entity authentication' },
  transmission: { citation: '45 CFR 164.312(e)(1)', name: 'Transmission security' },
} as const satisfies Record<string, Safeguard>;

export interface KeyHistoryEntry {
  kid: string;
  alg: string;
  created: string;
  activated: string;
  retired: string | null;
  expires: string | null;
  state: 'active' | 'published' | 'retired' | 'expired';
}

export interface ClientEvidence {
  clientId: string;
  name: string;
  source: string;
  grantTypes: string[];
  authMethod: string;
  scopes: string[];
  redirectUris: string[];
  resources: string[];
}

export interface ConsentStats {
  total: number;
  active: number;
  revoked: number;
  byClient: Array<{ clientId: string; total: number; active: number; revoked: number }>;
}

export interface LedgerEvidence {
  status: 'verified' | 'failed' | 'not verified';
  size: number;
  rootHash?: string;
  checkpointsChecked?: number;
  signaturesChecked?: boolean;
  checkpointedSize?: number;
  failure?: { code: string; firstBadSeq: number; reason: string };
  reason?: string;
  latestCheckpoint?: { size: number; createdAt: string; rootHash: string; note: string };
  witnessFile: string | null;
  retentionYears: number;
}

export interface Evidence {
  tool: 'caduceus';
  version: string;
  generatedAt: string;
  target: string;
  issuer: string;
  check: Report;
  sections: {
    findings: { safeguards: Safeguard[] };
    clients: { safeguards: Safeguard[]; clients: ClientEvidence[] };
    consents: { safeguards: Safeguard[]; stats: ConsentStats; breakGlass: string };
    sessions: { safeguards: Safeguard[]; idleTimeout: number; idleTimeoutLimit: number; absoluteTimeout: number; accessTokenTtl: number; refreshTokenIdleTtl: number; refreshTokenAbsoluteTtl: number };
    ledger: { safeguards: Safeguard[]; ledger: LedgerEvidence };
    keys: { safeguards: Safeguard[]; keys: KeyHistoryEntry[] };
    authentication: { safeguards: Safeguard[]; users: { active: number; disabled: number; practitioners: number }; mfa: string; clientAuthMethods: Record<string, number> };
    transmission: { safeguards: Safeguard[]; tls: 'listener' | 'proxy' | 'none'; minVersion: string; ciphers: string[]; hstsMaxAge: number | null; certificate?: CertificateFacts; database: string };
  };
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export async function consentStats(ctx: AppContext): Promise<ConsentStats> {
  const rows = await ctx.storage.sql.all<{ client_id: string; total: unknown; revoked: unknown }>(
    'SELECT client_id, COUNT(*) AS total, SUM(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END) AS revoked FROM consents GROUP BY client_id ORDER BY client_id',
  );
  const byClient = rows.map((r) => {
    const total = Number(r.total);
    const revoked = Number(r.revoked ?? 0);
    return { clientId: r.client_id, total, active: total - revoked, revoked };
  });
  const total = byClient.reduce((n, r) => n + r.total, 0);
  const revoked = byClient.reduce((n, r) => n + r.revoked, 0);
  return { total, active: total - revoked, revoked, byClient };
}

export async function collectEvidence(ctx: AppContext, options: { env: NodeJS.ProcessEnv; target: string }): Promise<Evidence> {
  const input = await collectCheckInput(ctx.config, ctx, { env: options.env });
  const check = runStaticCheck(input, { target: options.target });
  const now = input.now;
  const config = ctx.config;
  const v = input.ledger.verified;
  const latest = await latestCheckpoint(ctx.storage.sql);
  const ledger: LedgerEvidence = {
    status: v === undefined ? 'not verified' : v.ok ? 'verified' : 'failed',
    size: input.ledger.size,
    ...(v?.ok ? { rootHash: v.rootHash, checkpointsChecked: v.checkpoints, signaturesChecked: v.signaturesChecked, checkpointedSize: v.checkpointedSize } : {}),
    ...(v && !v.ok ? { failure: { code: v.code, firstBadSeq: v.firstBadSeq, reason: v.reason } } : {}),
    ...(input.ledger.skipped ? { reason: input.ledger.skipped } : {}),
    ...(latest ? { latestCheckpoint: { size: latest.size, createdAt: new Date(latest.createdAt).toISOString(), rootHash: latest.rootHash.toString('hex'), note: latest.note } } : {}),
    witnessFile: config.audit.witness_file ?? null,
    retentionYears: config.audit.retention_years,
  };
  const keys: KeyHistoryEntry[] = [...input.signingKeys]
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((k) => ({
      kid: k.kid, alg: k.alg, created: iso(k.createdAt)!, activated: iso(k.activatesAt)!, retired: iso(k.retiredAt), expires: iso(k.expiresAt),
      state: k.expiresAt !== null && k.expiresAt <= now ? 'expired' : k.retiredAt !== null && k.retiredAt <= now ? 'retired' : k.activatesAt > now ? 'published' : 'active',
    }));
  const views = clientViews(input);
  const clients: ClientEvidence[] = views.map((c) => ({
    clientId: c.clientId, name: c.name, source: c.source, grantTypes: c.grantTypes, authMethod: c.tokenEndpointAuthMethod,
    scopes: c.scopes, redirectUris: c.redirectUris, resources: c.resources,
  }));
  const clientAuthMethods: Record<string, number> = {};
  for (const c of views) clientAuthMethods[c.tokenEndpointAuthMethod] = (clientAuthMethods[c.tokenEndpointAuthMethod] ?? 0) + 1;
  const db = postgresTransport(config.storage);
  const S = SAFEGUARDS;
  return {
    tool: 'caduceus',
    version: check.version,
    generatedAt: new Date(now).toISOString(),
    target: options.target,
    issuer: config.issuer,
    check,
    sections: {
      findings: { safeguards: Object.values(S) },
      clients: { safeguards: [S.accessControl], clients },
      consents: {
        safeguards: [S.accessControl],
        stats: await consentStats(ctx),
        breakGlass: 'No emergency-access (break-glass) grant is implemented yet (45 CFR 164.312(a)(2)(ii)); there are no break-glass events to report.',
      },
      sessions: {
        safeguards: [S.automaticLogoff],
        idleTimeout: config.session.idle_timeout, idleTimeoutLimit: SESSION_IDLE_MAX, absoluteTimeout: config.session.absolute_timeout,
        accessTokenTtl: config.tokens.access_token_ttl, refreshTokenIdleTtl: config.tokens.refresh_token_idle_ttl, refreshTokenAbsoluteTtl: config.tokens.refresh_token_absolute_ttl,
      },
      ledger: { safeguards: [S.auditControls, S.integrity], ledger },
      keys: { safeguards: [S.integrity, S.authentication], keys },
      authentication: {
        safeguards: [S.authentication],
        users: {
          active: input.users.filter((u) => !u.disabled).length,
          disabled: input.users.filter((u) => u.disabled).length,
          practitioners: input.users.filter((u) => !u.disabled && ((u as { role?: string }).role === 'practitioner' || /^(Practitioner|PractitionerRole)\//.test(u.fhirUser ?? ''))).length,
        },
        mfa: input.server.mfaSupported
          ? `required for: ${(input.server.mfaRequiredRoles ?? []).join(', ') || 'no role'}`
          : 'not supported by this build: logins are password only (see CAD-MFA-001)',
        clientAuthMethods,
      },
      transmission: {
        safeguards: [S.transmission],
        tls: config.tls ? 'listener' : config.unsafe.tls_terminated_by_proxy ? 'proxy' : 'none',
        minVersion: input.server.tls.minVersion,
        ciphers: input.server.tls.ciphers,
        hstsMaxAge: config.tls?.hsts_max_age ?? null,
        ...(input.files.tlsCertificate ? { certificate: input.files.tlsCertificate } : {}),
        database: !db ? 'embedded SQLite (no network hop)' : db.local ? `PostgreSQL on this machine (${db.host})` : db.tls ? `PostgreSQL at ${db.host} over TLS (sslmode=${db.sslmode ?? 'ssl'})` : `PostgreSQL at ${db.host} WITHOUT TLS`,
      },
    },
  };
}
