// A deliberately weak authorization server for the probe tests: every weakness `caduceus probe`
// looks for, on 127.0.0.1 over https with a development certificate. Never use outside tests.
//
// Weaknesses: TLS 1.0/1.1 and CBC suites accepted; no HSTS; metadata advertising plain PKCE,
// response_type=token and the password grant, without the RFC 9207 iss parameter; a JWKS with a
// private `d` member; authorization requests without PKCE (or with plain) accepted; any https
// redirect URI accepted; codes that can be replayed; refresh tokens never rotated; 3600 s access
// tokens with `name` and `email` claims; no Cache-Control on token responses; stack traces in
// error responses.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ensureDevCertificates } from '../../src/crypto/dev-ca.js';

export interface WeakAs {
  issuer: string;
  ca: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  username: string;
  password: string;
  /** Every request path the server received, in order. */
  paths: string[];
  close(): Promise<void>;
}

const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;

export interface WeakAsOptions {
  /** Publish the JWKS and token endpoints on another origin (the probe must not follow them). */
  foreignEndpoints?: boolean;
}

export const FOREIGN_ORIGIN = 'https://elsewhere.example.test';

export async function startWeakAs(options: WeakAsOptions = {}): Promise<WeakAs> {
  const dir = mkdtempSync(join(tmpdir(), 'caduceus-weak-as-'));
  const tls = await ensureDevCertificates(join(dir, 'tls'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'weak-1', use: 'sig' };
  const clientId = 'weak-client';
  const clientSecret = 'weak-secret';
  const redirectUri = 'https://client.example.test/callback';
  const username = 'alice';
  const password = 'password1';
  const transactions = new Map<string, Record<string, string>>();
  const codes = new Map<string, Record<string, string>>();
  const paths: string[] = [];
  let issuer = '';

  const readBody = (req: import('node:http').IncomingMessage) => new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(body));
  });
  const json = (res: import('node:http').ServerResponse, status: number, value: unknown) => {
    // No Cache-Control, no HSTS: both deliberately missing.
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  const html = (res: import('node:http').ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  };
  const accessToken = (sub: string) => {
    const iat = Math.floor(Date.now() / 1000);
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: issuer, sub, aud: 'https://fhir.example.test', iat, exp: iat + 3600, name: 'Alice Example', email: 'alice@example.test' })}.`;
  };

  const server = https.createServer({
    key: readFileSync(tls.keyFile),
    cert: readFileSync(tls.certFile),
    minVersion: 'TLSv1',
    ciphers: 'DEFAULT@SECLEVEL=0',
  }, async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    paths.push(url.pathname);
    try {
      if (req.method === 'GET' && (url.pathname === '/.well-known/oauth-authorization-server' || url.pathname === '/.well-known/openid-configuration')) {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: options.foreignEndpoints ? `${FOREIGN_ORIGIN}/token` : `${issuer}/token`,
          jwks_uri: options.foreignEndpoints ? `${FOREIGN_ORIGIN}/jwks` : `${issuer}/jwks`,
          response_types_supported: ['code', 'token'],
          grant_types_supported: ['authorization_code', 'refresh_token', 'password'],
          code_challenge_methods_supported: ['plain', 'S256'],
        });
      }
      if (req.method === 'GET' && url.pathname === '/jwks') return json(res, 200, { keys: [privateJwk] });
      if (req.method === 'GET' && url.pathname === '/authorize') {
        const p = Object.fromEntries(url.searchParams);
        // Any client id is "known", any https redirect URI is accepted, PKCE is optional.
        if (p.client_id !== clientId || !p.redirect_uri?.toLowerCase().startsWith('https://')) return html(res, 400, page('Error', '<p>bad request</p>'));
        decodeURIComponent(url.search); // throws URIError on malformed escapes: leaks a stack trace below
        const tx = randomBytes(8).toString('hex');
        transactions.set(tx, p);
        return html(res, 200, page('Sign in', `<form method="POST" action="/login"><input type="hidden" name="tx" value="${tx}">
<label>Account <input name="login" type="text"></label><label>Secret <input name="pwd" type="password"></label>
<input type="submit" value="Sign in"></form>`));
      }
      if (req.method === 'POST' && url.pathname === '/login') {
        const f = new URLSearchParams(await readBody(req));
        const tx = f.get('tx') ?? '';
        if (!transactions.has(tx) || f.get('login') !== username || f.get('pwd') !== password) return html(res, 401, page('Error', '<p>login failed</p>'));
        return html(res, 200, page('Consent', `<form method='post' action='/consent'><input type=hidden name=tx value=${tx}>
<button type=submit name=choice value=deny>Deny</button> <button type=submit name=choice value=approve>Approve access</button></form>`));
      }
      if (req.method === 'POST' && url.pathname === '/consent') {
        const f = new URLSearchParams(await readBody(req));
        const p = transactions.get(f.get('tx') ?? '');
        if (!p || f.get('choice') !== 'approve') return html(res, 400, page('Error', '<p>denied</p>'));
        const code = randomBytes(12).toString('hex');
        codes.set(code, { sub: username, refresh: randomBytes(12).toString('hex') });
        const to = new URL(p.redirect_uri!);
        to.searchParams.set('code', code);
        if (p.state) to.searchParams.set('state', p.state);
        res.writeHead(302, { location: to.href });
        return res.end();
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        const body = await readBody(req);
        const f = String(req.headers['content-type']).includes('json') ? new URLSearchParams(JSON.parse(body) as Record<string, string>) : new URLSearchParams(body);
        const grant = f.get('grant_type');
        if (grant === 'authorization_code') {
          const c = codes.get(f.get('code') ?? '');
          if (!c) return json(res, 400, { error: 'invalid_grant' });
          // The code is never consumed and the verifier never checked.
          return json(res, 200, { access_token: accessToken(c.sub!), token_type: 'Bearer', expires_in: 3600, refresh_token: c.refresh, scope: 'openid' });
        }
        if (grant === 'refresh_token') {
          const c = [...codes.values()].find((x) => x.refresh === f.get('refresh_token'));
          if (!c) return json(res, 400, { error: 'invalid_grant' });
          return json(res, 200, { access_token: accessToken(c.sub!), token_type: 'Bearer', expires_in: 3600, refresh_token: c.refresh });
        }
        throw new TypeError(`unsupported grant ${String(grant)}`);
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`Internal Server Error\n${(err as Error).stack ?? String(err)}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer, ca: readFileSync(tls.caFile, 'utf8'), clientId, clientSecret, redirectUri, username, password, paths,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
