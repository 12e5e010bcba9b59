// Protocol flows for tests, driven by oauth4webapi (a certified relying-party library) over real
// TLS, with the form-driving Browser for the login and consent pages.
import * as oauth from 'oauth4webapi';
import { fetch, type Dispatcher } from 'undici';
import { Browser, formAction, hiddenCsrf, patientChoices, scopeBoxes, type Step } from './browserless.js';
import { trustingDispatcher, type TestStack } from './stack.js';

export interface Rp {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  opts: { [oauth.customFetch]: typeof globalThis.fetch };
  dispatcher: Dispatcher;
  stack: TestStack;
}

export async function relyingParty(stack: TestStack): Promise<Rp> {
  const dispatcher = trustingDispatcher(stack.ca);
  const customFetch = ((url: string, init: RequestInit) => fetch(url, { ...(init as object), dispatcher } as never)) as unknown as typeof globalThis.fetch;
  const opts = { [oauth.customFetch]: customFetch };
  const issuer = new URL(stack.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...opts, algorithm: 'oauth2' }));
  return { as, client: { client_id: stack.demo.client_id }, auth: oauth.ClientSecretBasic(stack.demo.client_secret), opts, dispatcher, stack };
}

export interface AuthorizeOptions {
  scope?: string;
  /** The patient to pick on the practitioner's patient picker (default: the first offered). */
  patient?: string;
  extra?: Record<string, string>;
  browser?: Browser;
  username?: string;
  password?: string;
  /** Scopes to leave unticked on the consent page. */
  untick?: string[];
  decision?: 'allow' | 'deny';
}

export async function authorizationUrl(rp: Rp, o: AuthorizeOptions = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(rp.as.authorization_endpoint!);
  const params: Record<string, string> = {
    client_id: rp.client.client_id, response_type: 'code', redirect_uri: rp.stack.demo.redirect_uri,
    scope: o.scope ?? rp.stack.demo.scope, state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', resource: rp.stack.demo.resource, ...o.extra,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return { url, verifier, state };
}

/** Runs the front channel through login and consent; returns the final redirect to the client. */
export async function frontChannel(rp: Rp, o: AuthorizeOptions = {}) {
  const browser = o.browser ?? new Browser(rp.dispatcher);
  const req = await authorizationUrl(rp, o);
  const origin = new URL(rp.stack.issuer).origin;
  const pages: Step[] = [];
  let step = await browser.follow(req.url.href, origin);
  for (let i = 0; i < 5 && step.status < 300; i++) {
    pages.push(step);
    if (step.body.includes('type="password"')) {
      step = await browser.follow(formAction(step), origin, {
        form: { csrf: hiddenCsrf(step), username: o.username ?? rp.stack.demo.username, password: o.password ?? rp.stack.demo.password },
      });
    } else if (step.body.includes('name="decision"')) {
      step = await browser.follow(formAction(step), origin, {
        form: {
          csrf: hiddenCsrf(step), scope: scopeBoxes(step).filter((s) => !o.untick?.includes(s)), decision: o.decision ?? 'allow',
          // The practitioner's patient picker: the patient asked for, or the first one offered.
          ...(patientChoices(step).length ? { patient: o.patient ?? patientChoices(step)[0]! } : {}),
        },
      });
    } else {
      break;
    }
  }
  return { ...req, browser, final: step, pages };
}

/** Code flow end to end; tokens checked by oauth4webapi (ID token, iss, state). */
export async function codeFlow(rp: Rp, o: AuthorizeOptions = {}) {
  const fc = await frontChannel(rp, o);
  if (!fc.final.location) throw new Error(`no redirect: ${fc.final.status} ${fc.final.body.slice(0, 300)}`);
  const callback = oauth.validateAuthResponse(rp.as, rp.client, new URL(fc.final.location), fc.state);
  const response = await oauth.authorizationCodeGrantRequest(rp.as, rp.client, rp.auth, callback, rp.stack.demo.redirect_uri, fc.verifier, {
    ...rp.opts, additionalParameters: { resource: rp.stack.demo.resource },
  });
  const tokens = await oauth.processAuthorizationCodeResponse(rp.as, rp.client, response);
  return { ...fc, code: callback.get('code')!, tokens };
}

/** A raw form POST to an endpoint, with optional Basic client authentication. */
export async function post(rp: Rp, endpoint: string, form: Record<string, string>, auth: { id: string; secret: string } | null = { id: rp.stack.demo.client_id, secret: rp.stack.demo.client_secret }, extraHeaders: Record<string, string> = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...extraHeaders };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.id)}:${encodeURIComponent(auth.secret)}`).toString('base64')}`;
  const res = await fetch(endpoint, { method: 'POST', headers, body: new URLSearchParams(form).toString(), dispatcher: rp.dispatcher });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json: json as Record<string, any> };
}

export const introspect = (rp: Rp, token: string, auth?: { id: string; secret: string } | null) => post(rp, rp.as.introspection_endpoint!, { token }, auth);
export const revoke = (rp: Rp, token: string, auth?: { id: string; secret: string } | null) => post(rp, rp.as.revocation_endpoint!, { token }, auth);
export const refresh = (rp: Rp, refreshToken: string, extra: Record<string, string> = {}) => post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
