// `caduceus report`: the evidence report in JSON and printable HTML.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';

let data: DataDir;
beforeAll(async () => {
  data = await createDataDir();
  const add = await runCli(['client', 'add', '--data', data.dir, '--id', 'odd-name', '--name', '<script>alert(1)</script> & "Co"', '--grant', 'client_credentials',
    '--auth', 'client_secret_basic', '--scope', 'system/Patient.rs', '--resource', data.demo.resource]);
  expect(add.code).toBe(0);
});
afterAll(() => data.remove());

describe('caduceus report', () => {
  it('--format json holds every section with the safeguard it evidences', async () => {
    const run = await runCli(['report', '--data', data.dir, '--format', 'json']);
    expect(run.code).toBe(0);
    const e = JSON.parse(run.stdout);
    expect(e.issuer).toBe(data.config.issuer);
    expect(e.check.rules.length).toBeGreaterThan(20);
    const s = e.sections;
    const cites = (section: any) => section.safeguards.map((g: any) => g.citation);
    expect(cites(s.clients)).toEqual(['45 CFR 164.312(a)(1)']);
    expect(cites(s.sessions)).toEqual(['45 CFR 164.312(a)(2)(iii)']);
    expect(cites(s.ledger)).toEqual(['45 CFR 164.312(b)', '45 CFR 164.312(c)(1)']);
    expect(cites(s.authentication)).toEqual(['45 CFR 164.312(d)']);
    expect(cites(s.transmission)).toEqual(['45 CFR 164.312(e)(1)']);
    expect(s.ledger.ledger.status).toBe('verified');
    expect(s.ledger.ledger.signaturesChecked).toBe(true);
    expect(s.ledger.ledger.latestCheckpoint.note).toContain('/audit');
    expect(s.keys.keys[0]).toEqual(expect.objectContaining({ alg: 'ES256', state: 'active', retired: null }));
    expect(s.keys.keys[0].created).toMatch(/^\d{4}-\d\d-\d\dT/);
    const demo = s.clients.clients.find((c: any) => c.clientId === data.demo.client_id);
    expect(demo.redirectUris).toContain(data.demo.redirect_uri);
    expect(demo.scopes).toContain('patient/Observation.rs');
    expect(s.consents.stats).toEqual({ total: 0, active: 0, revoked: 0, byClient: [] });
    expect(cites(s.consents)).toEqual(['45 CFR 164.312(a)(1)', '45 CFR 164.312(a)(2)(ii)']);
    expect(s.consents.emergencyAccess).toMatchObject({ total: 0, open: 0, reviewed: 0, oldestOpen: null, openAccesses: [], reviewedAccesses: [], tokenTtlSeconds: 900 });
    expect(s.consents.breakGlass).toMatch(/^Emergency access \(break-glass, 45 CFR 164\.312\(a\)\(2\)\(ii\)\): none recorded\./);
    // No secrets or usernames.
    expect(run.stdout).not.toContain(data.demo.client_secret);
    expect(run.stdout).not.toContain(data.demo.username);
  });

  it('counts consents by client, revoked ones apart', async () => {
    const { createContext } = await import('../../src/server/start.js');
    const ctx = await createContext(data.config, { env: {}, syncClients: false });
    try {
      const base = { userId: 'u-1', scopesGranted: ['openid'], scopesDenied: [], resource: null, clientAddress: '127.0.0.1', userAgent: 'test', textVersion: 'v1' };
      await ctx.storage.consents.create({ ...base, id: 'c-1', clientId: data.demo.client_id, createdAt: 1, revokedAt: null });
      await ctx.storage.consents.create({ ...base, id: 'c-2', clientId: data.demo.client_id, createdAt: 2, revokedAt: 3 });
      await ctx.storage.consents.create({ ...base, id: 'c-3', clientId: 'odd-name', createdAt: 2, revokedAt: null });
    } finally {
      await ctx.close();
    }
    const run = await runCli(['report', '--data', data.dir, '--format', 'json']);
    expect(JSON.parse(run.stdout).sections.consents.stats).toEqual({
      total: 3, active: 2, revoked: 1,
      byClient: [
        { clientId: data.demo.client_id, total: 2, active: 1, revoked: 1 },
        { clientId: 'odd-name', total: 1, active: 1, revoked: 0 },
      ].sort((a, b) => (a.clientId < b.clientId ? -1 : 1)),
    });
  });

  it('reports emergency accesses by counts and ids: open ones oldest first, reviewed ones with their outcome; never a reason, note, reviewer or patient', async () => {
    const { createContext } = await import('../../src/server/start.js');
    const ctx = await createContext(data.config, { env: {}, syncClients: false });
    try {
      const base = { userId: 'u_bgdoctor', clientId: data.demo.client_id, grantId: 'g-bg', patient: 'bg-patient-42', reason: 'SECRET-REASON-TEXT in the ED',
        reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null };
      await ctx.storage.breakGlass.create({ ...base, id: 'bg_open_new', createdAt: Date.UTC(2026, 0, 3), expiresAt: Date.UTC(2026, 0, 3) + 900_000 });
      await ctx.storage.breakGlass.create({ ...base, id: 'bg_open_old', createdAt: Date.UTC(2026, 0, 2), expiresAt: Date.UTC(2026, 0, 2) + 900_000 });
      await ctx.storage.breakGlass.create({ ...base, id: 'bg_reviewed', createdAt: Date.UTC(2026, 0, 1), expiresAt: Date.UTC(2026, 0, 1) + 900_000 });
      expect(await ctx.storage.breakGlass.review('bg_reviewed', { reviewedAt: Date.UTC(2026, 0, 4), reviewedBy: 'cli:privacy-officer', outcome: 'unjustified', note: 'SECRET-NOTE' })).toBe(true);
    } finally {
      await ctx.close();
    }
    const run = await runCli(['report', '--data', data.dir, '--format', 'json']);
    expect(run.code).toBe(0);
    const consents = JSON.parse(run.stdout).sections.consents;
    expect(consents.emergencyAccess).toMatchObject({ total: 3, open: 2, reviewed: 1, justified: 0, unjustified: 1, oldestOpen: '2026-01-02T00:00:00.000Z' });
    expect(consents.emergencyAccess.openAccesses.map((a: any) => a.id)).toEqual(['bg_open_old', 'bg_open_new']);
    expect(consents.emergencyAccess.reviewedAccesses).toEqual([{
      id: 'bg_reviewed', userId: 'u_bgdoctor', clientId: data.demo.client_id, created: '2026-01-01T00:00:00.000Z', expires: '2026-01-01T00:15:00.000Z',
      reviewed: '2026-01-04T00:00:00.000Z', outcome: 'unjustified',
    }]);
    expect(consents.breakGlass).toContain('3 accesses recorded; 2 wait for review (the oldest granted 2026-01-02T00:00:00.000Z): bg_open_old, bg_open_new; 1 reviewed (0 justified, 1 unjustified)');
    const out = join(data.dir, 'break-glass.html');
    expect((await runCli(['report', '--data', data.dir, '--out', out])).code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('bg_open_old');
    for (const text of [run.stdout, html]) {
      for (const secret of ['SECRET-REASON-TEXT', 'SECRET-NOTE', 'privacy-officer', 'bg-patient-42']) expect(text).not.toContain(secret);
    }
  });

  it('--format html is one printable page without script, with every value escaped', async () => {
    const out = join(data.dir, 'evidence.html');
    const run = await runCli(['report', '--data', data.dir, '--out', out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('@media print');
    expect(html).not.toMatch(/<script|javascript:|<link|src=/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;');
    for (const heading of ['Configuration findings', 'Audit ledger', 'rotation history', 'Clients, scopes and redirect URIs', 'Consents', 'Session and token lifetimes', 'Person and entity authentication', 'Transmission security']) {
      expect(html).toContain(heading);
    }
    for (const citation of ['164.312(a)(1)', '164.312(a)(2)(iii)', '164.312(b)', '164.312(c)(1)', '164.312(d)', '164.312(e)(1)']) expect(html).toContain(citation);
  });

  it('exits 2 for an unknown format', async () => {
    const run = await runCli(['report', '--data', data.dir, '--format', 'pdf']);
    expect(run.code).toBe(2);
  });
});
