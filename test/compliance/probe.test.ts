// `caduceus probe` against Caduceus itself (a clean report) and against a deliberately weak
// authorization server (each weakness reported by its rule id), over real TLS on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/harness.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { runProbe, redirectVariants, stackTraceEvidence } from '../../src/compliance/probe/probe.js';
import { OffOriginError, ProbeHttp } from '../../src/compliance/probe/http.js';
import { findConsentForm, findLoginForm, formValues, parseForms } from '../../src/compliance/probe/html-forms.js';
import { FOREIGN_ORIGIN, startWeakAs, type WeakAs } from './weak-as.js';
import { sarifProblems } from './sarif-validate.js';

const dir = mkdtempSync(join(tmpdir(), 'caduceus-probe-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function caFile(name: string, pem: string): string {
  const file = join(dir, `${name}-ca.pem`);
  writeFileSync(file, pem);
  return file;
}

describe('probe against Caduceus', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack.close());

  it('reports nothing, with every step run (login through the forms, tokens, refresh, replay)', async () => {
    const d = stack.demo;
    const { report, requested } = await runProbe({
      issuer: stack.issuer, ca: stack.ca, clientId: d.client_id, clientSecret: d.client_secret, redirectUri: d.redirect_uri,
      username: d.username, password: d.password, scope: d.scope, resource: d.resource,
    });
    expect(report.findings).toEqual([]);
    expect(requested.every((u) => new URL(u).origin === new URL(stack.issuer).origin)).toBe(true);
    expect(requested.some((u) => u.includes('/interaction/'))).toBe(true);
    expect(requested.filter((u) => u.endsWith('/token')).length).toBeGreaterThanOrEqual(5);
  });

  it('caduceus probe exits 0 and writes valid SARIF; without credentials it notes what it skipped', async () => {
    const ca = caFile('caduceus', stack.ca);
    const full = await runCli(['probe', stack.issuer, '--ca', ca, '--client-id', stack.demo.client_id, '--redirect-uri', stack.demo.redirect_uri,
      '--resource', stack.demo.resource, '--scope', stack.demo.scope, '--format', 'sarif']);
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);
    const sarif = JSON.parse(full.stdout);
    expect(sarifProblems(sarif)).toEqual([]);
    expect(sarif.runs[0].results.map((r: any) => r.level)).toEqual(['note']);
    expect(sarif.runs[0].results[0].message.text).toMatch(/--username and --password/);
  });

  it('fails to connect without the CA and says so as an error', async () => {
    const run = await runCli(['probe', stack.issuer, '--format', 'json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-PRB-020', severity: 'error' }));
  });
});

describe('probe against a deliberately weak authorization server', () => {
  let weak: WeakAs;
  beforeAll(async () => {
    weak = await startWeakAs();
  });
  afterAll(() => weak.close());

  it('reports every weakness by its rule id and exits 1', async () => {
    const run = await runCli(['probe', weak.issuer, '--ca', caFile('weak', weak.ca), '--client-id', weak.clientId, '--client-secret', weak.clientSecret,
      '--redirect-uri', weak.redirectUri, '--username', weak.username, '--password', weak.password, '--scope', 'openid offline_access', '--format', 'json']);
    expect(run.code).toBe(1);
    const findings = JSON.parse(run.stdout).findings as Array<{ ruleId: string; severity: string; message: string }>;
    const has = (ruleId: string, severity: string, message: RegExp) =>
      expect(findings.some((f) => f.ruleId === ruleId && f.severity === severity && message.test(f.message)), `${ruleId} ${message}: ${JSON.stringify(findings.filter((f) => f.ruleId === ruleId))}`).toBe(true);
    has('CAD-PRB-001', 'error', /TLS 1\.0/);
    has('CAD-PRB-001', 'error', /TLS 1\.1/);
    has('CAD-PRB-002', 'error', /CBC/);
    has('CAD-PRB-004', 'error', /no Strict-Transport-Security/);
    has('CAD-PRB-006', 'error', /plain/);
    has('CAD-PRB-007', 'error', /"token"/);
    has('CAD-PRB-007', 'error', /password/);
    has('CAD-PRB-008', 'warning', /authorization_response_iss_parameter_supported/);
    has('CAD-PRB-008', 'warning', /no iss parameter/);
    has('CAD-PRB-009', 'error', /private members \(d\)/);
    has('CAD-PRB-010', 'error', /plain was accepted/);
    has('CAD-PRB-011', 'error', /without code_challenge was accepted/);
    for (const kind of ['added path', 'added query', 'changed port', 'changed case']) has('CAD-PRB-012', 'error', new RegExp(kind));
    has('CAD-PRB-013', 'error', /exchanged twice/);
    has('CAD-PRB-014', 'warning', /same refresh token/);
    has('CAD-PRB-016', 'error', /3600 s/);
    has('CAD-PRB-017', 'error', /email, name/);
    has('CAD-PRB-018', 'error', /no Cache-Control/);
    has('CAD-PRB-019', 'error', /stack frame/);
    // The probe only ever talked to the weak server: the client's redirect URI was never requested.
    expect(weak.paths.length).toBeGreaterThan(10);
  });

  it('never contacts an endpoint on another origin, and notes the skipped steps', async () => {
    const foreign = await startWeakAs({ foreignEndpoints: true });
    try {
      const { report, requested } = await runProbe({ issuer: foreign.issuer, ca: foreign.ca, clientId: foreign.clientId, clientSecret: foreign.clientSecret,
        redirectUri: foreign.redirectUri, username: foreign.username, password: foreign.password });
      expect(requested.every((u) => u.startsWith(foreign.issuer))).toBe(true);
      expect(requested.some((u) => u.startsWith(FOREIGN_ORIGIN))).toBe(false);
      const notes = report.findings.filter((f) => f.ruleId === 'CAD-PRB-021').map((f) => f.message);
      expect(notes.some((m) => /jwks_uri .*elsewhere\.example\.test/.test(m))).toBe(true);
      expect(notes.some((m) => /token_endpoint .*elsewhere\.example\.test/.test(m))).toBe(true);
    } finally {
      await foreign.close();
    }
  });
});

describe('probe building blocks', () => {
  it('the HTTP client refuses any other origin', async () => {
    const http = new ProbeHttp('https://auth.example.org');
    await expect(http.request('https://evil.example.org/')).rejects.toBeInstanceOf(OffOriginError);
    await expect(http.request('http://auth.example.org/')).rejects.toBeInstanceOf(OffOriginError);
    expect(http.requested).toEqual([]);
  });

  it('alters redirect URIs by path, query, port and case, but not the port of a loopback http URI', () => {
    expect(redirectVariants('https://app.example.org/cb').map((v) => v.uri)).toEqual([
      'https://app.example.org/cb/probe', 'https://app.example.org/cb?probe=1', 'https://app.example.org:1443/cb', 'https://app.example.org/CB',
    ]);
    expect(redirectVariants('http://127.0.0.1:8765/callback').map((v) => v.kind)).toEqual(['added path', 'added query', 'changed case']);
  });

  it('recognises stack traces and leaves RFC 6749 errors alone', () => {
    expect(stackTraceEvidence('TypeError: x\n    at handler (/srv/app/dist/token.js:10:5)\n')).toBe('a Node.js stack frame');
    expect(stackTraceEvidence('Traceback (most recent call last):\n  File "x.py"')).toBe('a Python traceback');
    expect(stackTraceEvidence('{"error":"invalid_request","error_description":"the request could not be read"}')).toBeUndefined();
  });

  it('reads login and consent forms the way a browser submits them', () => {
    const login = parseForms(`<form method="post" action="/i/1/login?x=1&amp;y=2"><input type="hidden" name="csrf" value="t&amp;k">
      <input id="u" name="email" type="email"><input name="secret" type="password"><button>Go</button></form>`, 'https://as.example/authorize');
    const l = findLoginForm(login)!;
    expect(l.form.action).toBe('https://as.example/i/1/login?x=1&y=2');
    expect(l.usernameField?.name).toBe('email');
    expect(formValues(l.form, undefined, { email: 'a', secret: 'b' })).toEqual({ csrf: ['t&k'], email: ['a'], secret: ['b'] });
    const consent = parseForms(`<form method=post action=/consent><input type=checkbox name=scope value=openid checked><input type=checkbox name=scope value=x>
      <button type=submit name=decision value=deny>Deny</button><button type=submit name=decision value=allow>Allow</button></form>`, 'https://as.example/c');
    const c = findConsentForm(consent)!;
    expect(formValues(c.form, c.submit)).toEqual({ scope: ['openid'], decision: ['allow'] });
  });
});
