// Every static rule: a fixture that passes (the compliant input, plus variants that must stay
// quiet) and one that fails, asserted by rule id, severity and location.
import { describe, expect, it } from 'vitest';
import { runStaticCheck } from '../../src/compliance/check.js';
import { STATIC_RULES } from '../../src/compliance/rules/index.js';
import type { CheckInput, Finding, Severity } from '../../src/compliance/types.js';
import { compliantInput, DAY, NOW, signingKey, storedClient } from './fixtures.js';

type Mutation = (input: CheckInput) => void;

interface RuleCase {
  /** Changes that must not trigger the rule (the untouched compliant input is always checked). */
  pass?: Array<[string, Mutation]>;
  fail: Array<[string, Mutation, { severity: Severity; location?: string; message?: RegExp }]>;
}

const findingsOf = (input: CheckInput, ruleId: string): Finding[] => runStaticCheck(input).findings.filter((f) => f.ruleId === ruleId);
const backend = (i: CheckInput) => i.config.clients.find((c) => c.client_id === 'backend')!;
const app = (i: CheckInput) => i.config.clients.find((c) => c.client_id === 'patient-app')!;

const CASES: Record<string, RuleCase> = {
  'CAD-TOK-001': {
    pass: [['300 s tokens', (i) => { i.config.tokens.access_token_ttl = 300; }]],
    fail: [
      ['600 s tokens with a backend client', (i) => { i.config.tokens.access_token_ttl = 600; }, { severity: 'error', location: 'client:backend', message: /300 s/ }],
      ['600 s tokens for user apps', (i) => { i.config.tokens.access_token_ttl = 600; }, { severity: 'warning', location: 'tokens.access_token_ttl' }],
    ],
  },
  'CAD-TOK-002': {
    fail: [
      ['idle expiry equal to the absolute expiry', (i) => { i.config.tokens.refresh_token_idle_ttl = i.config.tokens.refresh_token_absolute_ttl; }, { severity: 'warning', location: 'tokens.refresh_token_idle_ttl' }],
      ['no rotation', (i) => { i.server.refreshRotation = false; }, { severity: 'error', location: 'tokens' }],
    ],
  },
  'CAD-TOK-003': {
    fail: [['a backend client holding refresh_token', (i) => { backend(i).grant_types.push('refresh_token'); }, { severity: 'error', location: 'client:backend' }]],
  },
  'CAD-SCP-001': {
    pass: [['specific scopes only', (i) => { app(i).scope = 'openid patient/Observation.rs patient/Condition.rs'; }]],
    fail: [
      ['user/*.cruds', (i) => { app(i).scope += ' user/*.cruds'; }, { severity: 'error', location: 'client:patient-app', message: /user\/\*\.cruds/ }],
      ['system/*.*', (i) => { backend(i).scope = 'system/*.*'; }, { severity: 'error', location: 'client:backend' }],
      ['system/*.cruds on a resource', (i) => { i.config.resources[0]!.scopes.push('system/*.cruds'); }, { severity: 'error', location: 'resources[0].scopes' }],
      ['patient/*.rs', (i) => { app(i).scope += ' patient/*.rs'; }, { severity: 'warning', location: 'client:patient-app' }],
      ['the bare * scope', (i) => { i.clients.push(storedClient({ clientId: 'star', scope: '*' })); }, { severity: 'error', location: 'client:star' }],
    ],
  },
  'CAD-SCP-002': {
    pass: [['write letters on a user-facing app', (i) => { app(i).scope += ' patient/Observation.cu'; }]],
    fail: [['a backend client with c, u and d', (i) => { backend(i).scope = 'system/Observation.cruds'; }, { severity: 'warning', location: 'client:backend' }]],
  },
  'CAD-SCP-003': {
    pass: [['v1 and granular scopes', (i) => { app(i).scope += ' patient/Observation.read patient/Observation.rs?category=laboratory launch/patient'; }]],
    fail: [
      ['.dus', (i) => { app(i).scope += ' patient/Observation.dus'; }, { severity: 'error', location: 'client:patient-app', message: /Observation\.dus/ }],
      ['lower-case type on a resource', (i) => { i.config.resources[0]!.scopes.push('user/observation.rs'); }, { severity: 'error', location: 'resources[0].scopes' }],
    ],
  },
  'CAD-RES-001': {
    fail: [
      ['a client without resources', (i) => { app(i).resources = []; }, { severity: 'warning', location: 'client:patient-app' }],
      ['a resource without scopes', (i) => { i.config.resources[0]!.scopes = []; }, { severity: 'warning', location: 'resources[0].scopes' }],
    ],
  },
  'CAD-RED-001': {
    pass: [['loopback http and a private-use scheme', (i) => { i.clients.push(storedClient({ clientId: 'native', redirectUris: ['http://127.0.0.1:7000/cb', 'com.example.app:/cb'] })); }]],
    fail: [
      ['http outside loopback', (i) => { i.clients.push(storedClient({ clientId: 'h', redirectUris: ['http://app.example.org/cb'] })); }, { severity: 'error', location: 'client:h', message: /http/ }],
      ['a wildcard', (i) => { i.clients.push(storedClient({ clientId: 'w', redirectUris: ['https://*.example.org/cb'] })); }, { severity: 'error', location: 'client:w', message: /wildcard/ }],
      ['a fragment', (i) => { i.clients.push(storedClient({ clientId: 'f', redirectUris: ['https://app.example.org/cb#x'] })); }, { severity: 'error', location: 'client:f', message: /fragment/ }],
      ['javascript:', (i) => { i.clients.push(storedClient({ clientId: 'j', redirectUris: ['javascript:alert(1)'] })); }, { severity: 'error', location: 'client:j', message: /javascript/ }],
      ['data:', (i) => { i.clients.push(storedClient({ clientId: 'd', redirectUris: ['data:text/html,x'] })); }, { severity: 'error', location: 'client:d', message: /data/ }],
    ],
  },
  'CAD-RED-002': {
    fail: [['two clients sharing a redirect URI', (i) => { i.clients.push(storedClient({ clientId: 'copy', redirectUris: ['https://app.example.org/cb'] })); }, { severity: 'warning', message: /copy/ }]],
  },
  'CAD-PKC-001': {
    fail: [
      ['plain advertised and accepted', (i) => { i.server.codeChallengeMethods = ['plain', 'S256']; i.server.plainRefused = false; }, { severity: 'error', location: 'metadata.code_challenge_methods_supported' }],
      ['PKCE optional', (i) => { i.server.pkceRequired = false; }, { severity: 'error', location: 'oauth.pkce' }],
    ],
  },
  'CAD-GRT-001': {
    fail: [
      ['the password grant', (i) => { i.server.grantTypesSupported.push('password'); }, { severity: 'error', location: 'metadata.grant_types_supported' }],
      ['response_type=token', (i) => { i.server.responseTypesSupported.push('token'); }, { severity: 'error', location: 'metadata.response_types_supported' }],
      ['a stored client with implicit', (i) => { i.clients.push(storedClient({ clientId: 'old', grantTypes: ['implicit' as never] })); }, { severity: 'error', location: 'client:old' }],
    ],
  },
  'CAD-CLI-001': {
    fail: [
      ['a client with a secret but auth none', (i) => { i.clients.push(storedClient({ clientId: 'conf', tokenEndpointAuthMethod: 'none', secretDigest: 'ab', jwksUri: null })); }, { severity: 'error', location: 'client:conf' }],
      ['a public client', (i) => { i.clients.push(storedClient({ clientId: 'pub', tokenEndpointAuthMethod: 'none', jwksUri: null })); }, { severity: 'warning', location: 'client:pub' }],
    ],
  },
  'CAD-CLI-002': {
    fail: [
      ['a 16-byte secret', (i) => { Object.assign(app(i), { token_endpoint_auth_method: 'client_secret_basic', client_secret_env: 'APP_SECRET' }); i.files.clientSecretBytes = { APP_SECRET: 16 }; }, { severity: 'error', location: 'clients[0].client_secret_env', message: /16 bytes/ }],
      ['an unset secret variable', (i) => { Object.assign(app(i), { token_endpoint_auth_method: 'client_secret_basic', client_secret_env: 'APP_SECRET' }); i.files.clientSecretBytes = {}; }, { severity: 'warning', location: 'clients[0].client_secret_env' }],
      ['a shared secret at all', (i) => { Object.assign(app(i), { token_endpoint_auth_method: 'client_secret_basic', client_secret_env: 'APP_SECRET' }); i.files.clientSecretBytes = { APP_SECRET: 44 }; }, { severity: 'note', location: 'client:patient-app' }],
    ],
  },
  'CAD-KEY-001': {
    pass: [['an expired HS256 key', (i) => { i.signingKeys.push(signingKey({ kid: 'old', alg: 'HS256' as never, expiresAt: NOW - DAY })); }]],
    fail: [
      ['an HS256 key', (i) => { i.signingKeys.push(signingKey({ kid: 'hs', alg: 'HS256' as never })); }, { severity: 'error', location: 'signing-key:hs', message: /HS256/ }],
      ['alg none', (i) => { i.server.tokenSigningAlgs = ['none']; }, { severity: 'error', message: /none/ }],
      ['RSA 1024', (i) => {
        const n = Buffer.alloc(128, 0xff).toString('base64url');
        i.signingKeys.push(signingKey({ kid: 'rsa', alg: 'RS256' as never, publicJwk: JSON.stringify({ kty: 'RSA', n, e: 'AQAB' }) }));
      }, { severity: 'error', location: 'signing-key:rsa', message: /1024 bits/ }],
    ],
  },
  'CAD-KEY-002': {
    pass: [['an old key that was retired', (i) => { i.signingKeys.push(signingKey({ kid: 'old', activatesAt: NOW - 200 * DAY, retiredAt: NOW - 100 * DAY })); }]],
    fail: [['a key active for 100 days', (i) => { i.signingKeys = [signingKey({ activatesAt: NOW - 100 * DAY })]; }, { severity: 'warning', location: 'signing-key:key-1', message: /100 days/ }]],
  },
  'CAD-TLS-001': {
    pass: [['TLS 1.3 only', (i) => { i.server.tls.minVersion = 'TLSv1.3'; }]],
    fail: [
      ['TLS 1.0 allowed', (i) => { i.server.tls.minVersion = 'TLSv1'; }, { severity: 'error', location: 'tls' }],
      ['no TLS at all', (i) => { i.config.tls = undefined; }, { severity: 'error', location: 'tls' }],
      ['TLS at a proxy', (i) => { i.config.tls = undefined; i.config.unsafe.tls_terminated_by_proxy = true; }, { severity: 'warning', location: 'tls' }],
    ],
  },
  'CAD-TLS-002': {
    fail: [
      ['a CBC suite', (i) => { i.server.tls.ciphers.push('ECDHE-RSA-AES128-SHA'); }, { severity: 'error', message: /ECDHE-RSA-AES128-SHA/ }],
      ['static RSA', (i) => { i.server.tls.ciphers.push('AES128-GCM-SHA256'); }, { severity: 'error', message: /static key exchange/ }],
    ],
  },
  'CAD-TLS-003': {
    fail: [
      ['HSTS off', (i) => { i.config.tls!.hsts_max_age = 0; }, { severity: 'error', location: 'tls.hsts_max_age' }],
      ['HSTS for a day', (i) => { i.config.tls!.hsts_max_age = 86_400; }, { severity: 'warning', location: 'tls.hsts_max_age' }],
    ],
  },
  'CAD-TLS-004': {
    fail: [
      ['an expired certificate', (i) => { i.files.tlsCertificate!.validTo = NOW - 1; }, { severity: 'error', location: 'tls.cert', message: /expired/ }],
      ['a two-year certificate', (i) => { i.files.tlsCertificate!.validFrom = NOW - DAY; i.files.tlsCertificate!.validTo = NOW + 729 * DAY; }, { severity: 'warning', location: 'tls.cert' }],
      ['RSA 1024', (i) => { Object.assign(i.files.tlsCertificate!, { keyType: 'rsa', keyBits: 1024 }); }, { severity: 'error', location: 'tls.cert' }],
      ['an unreadable file', (i) => { i.files.tlsCertificate = { path: '/x', error: 'cannot read the file (ENOENT)' }; }, { severity: 'error', location: 'tls.cert' }],
    ],
  },
  'CAD-AUD-001': {
    fail: [
      ['no witness file', (i) => { i.config.audit.witness_file = undefined; }, { severity: 'warning', location: 'audit.witness_file' }],
      ['events without a checkpoint', (i) => { delete i.ledger.latestCheckpointTime; }, { severity: 'warning', location: 'audit' }],
    ],
  },
  'CAD-AUD-002': {
    fail: [
      ['a tampered ledger', (i) => { i.ledger.verified = { ok: false, firstBadSeq: 4, code: 'leaf_mismatch', reason: 'event 4: its stored leaf hash differs' }; }, { severity: 'error', location: 'audit', message: /leaf_mismatch/ }],
      ['an unreadable ledger', (i) => { i.ledger = { size: 0, unavailable: true, skipped: 'database down' }; }, { severity: 'error', location: 'audit' }],
      ['verification skipped at startup', (i) => { i.ledger = { size: 200_000, skipped: 'too large', latestCheckpointTime: NOW }; }, { severity: 'note', location: 'audit' }],
    ],
  },
  'CAD-AUD-003': {
    pass: [['ten years', (i) => { i.config.audit.retention_years = 10; }]],
    fail: [['three years', (i) => { i.config.audit.retention_years = 3; }, { severity: 'error', location: 'audit.retention_years' }]],
  },
  'CAD-MFA-001': {
    fail: [
      ['no MFA support in the build', (i) => { i.server.mfaSupported = false; delete i.server.mfaRequiredRoles; }, { severity: 'warning', location: 'login', message: /does not support multi-factor/ }],
      ['administrators without MFA', (i) => { i.server.mfaRequiredRoles = ['practitioner']; }, { severity: 'warning', location: 'mfa.required_roles', message: /administrator/ }],
    ],
  },
  'CAD-EMA-001': {
    pass: [
      ['nobody holds break-glass', () => undefined],
      ['holders and a webhook', (i) => { i.users[0]!.breakGlass = true; i.config.breakglass.webhook_url = 'https://alerts.example.org/bg'; }],
      ['only a disabled holder', (i) => { i.users[0]!.breakGlass = true; i.users[0]!.disabled = true; }],
    ],
    fail: [['a practitioner holds break-glass and no webhook is set', (i) => { i.users[0]!.breakGlass = true; }, { severity: 'warning', location: 'breakglass.webhook_url' }]],
  },
  'CAD-SES-001': {
    pass: [['exactly 15 minutes', (i) => { i.config.session.idle_timeout = 900; }]],
    fail: [['30 minutes', (i) => { i.config.session.idle_timeout = 1800; }, { severity: 'error', location: 'session.idle_timeout' }]],
  },
  'CAD-UNS-001': {
    fail: [
      ['allow_noncompliant_start', (i) => { i.config.unsafe.allow_noncompliant_start = true; }, { severity: 'error', location: 'unsafe.allow_noncompliant_start' }],
      ['allow_plain_http', (i) => { i.config.unsafe.allow_plain_http = true; }, { severity: 'error', location: 'unsafe.allow_plain_http' }],
      ['breakglass_write', (i) => { i.config.unsafe.breakglass_write = true; }, { severity: 'error', location: 'unsafe.breakglass_write', message: /break-glass\) tokens may create, update and delete/ }],
      ['allow_loopback_client_metadata', (i) => { i.config.unsafe.allow_loopback_client_metadata = true; }, { severity: 'error', location: 'unsafe.allow_loopback_client_metadata', message: /fetch from loopback addresses/ }],
      ['allow_open_client_registration', (i) => { i.config.unsafe.allow_open_client_registration = true; }, { severity: 'error', location: 'unsafe.allow_open_client_registration', message: /without an initial access token/ }],
    ],
  },
  'CAD-MKY-001': {
    pass: [['the key in the environment', (i) => { i.files = { ...i.files, masterKeySource: 'env' }; }], ['mode 0400', (i) => { i.files.masterKeyMode = 0o100400; }]],
    fail: [
      ['a group-readable key file', (i) => { i.files.masterKeyMode = 0o100640; }, { severity: 'error', location: 'master_key_file', message: /0640/ }],
      ['no key configured', (i) => { i.files.masterKeySource = 'none'; }, { severity: 'error', location: 'master_key_file' }],
      ['a missing key file', (i) => { i.files.masterKeyExists = false; }, { severity: 'error', location: 'master_key_file' }],
    ],
  },
  'CAD-DBS-001': {
    pass: [
      ['loopback PostgreSQL without TLS', (i) => { i.config.storage = 'postgres://postgres@127.0.0.1:5432/test'; }],
      ['localhost', (i) => { i.config.storage = 'postgres://postgres@localhost/test?sslmode=disable'; }],
      ['a Unix socket', (i) => { i.config.storage = 'postgresql://caduceus@/caduceus?host=/var/run/postgresql'; }],
      ['sslmode=require', (i) => { i.config.storage = 'postgres://caduceus@db.example.org/caduceus?sslmode=require'; }],
      ['SQLite', (i) => { i.config.storage = 'sqlite:/var/lib/caduceus/db'; }],
    ],
    fail: [
      ['a remote database without sslmode', (i) => { i.config.storage = 'postgres://caduceus:pw@db.example.org/caduceus'; }, { severity: 'error', location: 'storage', message: /db\.example\.org/ }],
      ['sslmode=prefer', (i) => { i.config.storage = 'postgres://caduceus@10.0.0.5/caduceus?sslmode=prefer'; }, { severity: 'error', location: 'storage' }],
    ],
  },
  'CAD-NET-001': {
    pass: [['admin routes on loopback', (i) => { i.server.adminRoutes = ['/audit/events']; }], ['no admin routes on 0.0.0.0', (i) => { i.config.listen.host = '0.0.0.0'; }]],
    fail: [['admin routes on 0.0.0.0', (i) => { i.server.adminRoutes = ['/audit/events']; i.config.listen.host = '0.0.0.0'; }, { severity: 'warning', location: 'listen.host', message: /\/audit\/events/ }]],
  },
};

describe('the compliant fixture', () => {
  it('produces no finding at all', () => {
    expect(runStaticCheck(compliantInput()).findings).toEqual([]);
  });
});

describe('static rules', () => {
  it('every rule has pass and fail fixtures, and ids are unique and stable-looking', () => {
    const ids = STATIC_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^CAD-[A-Z]{3}-\d{3}$/);
    expect(Object.keys(CASES).sort()).toEqual([...ids].sort());
  });

  it('every rule has a title, a description, citations and a severity', () => {
    for (const r of STATIC_RULES) {
      expect(r.title.length, r.id).toBeGreaterThan(5);
      expect(r.description.length, r.id).toBeGreaterThan(20);
      expect(r.citations.length, r.id).toBeGreaterThan(0);
      expect(['error', 'warning', 'note']).toContain(r.severity);
    }
  });

  for (const [ruleId, c] of Object.entries(CASES)) {
    describe(ruleId, () => {
      for (const [name, mutate] of c.pass ?? []) {
        it(`passes: ${name}`, () => {
          const input = compliantInput();
          mutate(input);
          expect(findingsOf(input, ruleId)).toEqual([]);
        });
      }
      for (const [name, mutate, expected] of c.fail) {
        it(`fails: ${name}`, () => {
          const input = compliantInput();
          mutate(input);
          const found = findingsOf(input, ruleId);
          const match = found.find((f) => f.severity === expected.severity
            && (expected.location === undefined || f.location === expected.location)
            && (expected.message === undefined || expected.message.test(f.message)));
          expect(match, JSON.stringify(found, null, 2)).toBeDefined();
          expect(match!.fix.length).toBeGreaterThan(5);
          const rule = STATIC_RULES.find((r) => r.id === ruleId)!;
          const rank = { note: 0, warning: 1, error: 2 };
          expect(rank[match!.severity]).toBeLessThanOrEqual(rank[rule.severity]);
        });
      }
    });
  }

  it('a rule that throws is reported as an error of that rule, not a crash', () => {
    const broken = { ...STATIC_RULES[0]!, check: () => { throw new Error('boom'); } };
    const report = runStaticCheck(compliantInput(), { rules: [broken] });
    expect(report.findings).toEqual([expect.objectContaining({ ruleId: broken.id, severity: 'error', message: expect.stringContaining('boom') })]);
  });
});
