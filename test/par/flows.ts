// PAR flows for tests: push with oauth4webapi, then drive /authorize?client_id&request_uri through
// the login and consent pages the way test/support/flows.ts frontChannel does.
import * as oauth from 'oauth4webapi';
import { Browser, formAction, hiddenCsrf, scopeBoxes, type Step } from '../support/browserless.js';
import type { Rp } from '../support/flows.js';

export interface Pushed {
  requestUri: string;
  expiresIn: number;
  verifier: string;
  state: string;
}

/** Pushes the demo authorization request (plus `extra`) with the relying party's client authentication. */
export async function push(rp: Rp, extra: Record<string, string> = {}, options: { DPoP?: oauth.DPoPHandle } = {}): Promise<Pushed> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = {
    response_type: 'code', redirect_uri: rp.stack.demo.redirect_uri, scope: rp.stack.demo.scope, state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', resource: rp.stack.demo.resource, ...extra,
  };
  const res = await oauth.pushedAuthorizationRequest(rp.as, rp.client, rp.auth, params, { ...rp.opts, ...options });
  const out = await oauth.processPushedAuthorizationResponse(rp.as, rp.client, res);
  return { requestUri: out.request_uri, expiresIn: out.expires_in, verifier, state };
}

/** The authorization URL of a pushed request: client_id and request_uri only (FAPI 2.0 client rule). */
export function parAuthorizationUrl(rp: Rp, requestUri: string, clientId = rp.client.client_id, extra: Record<string, string> = {}): string {
  const url = new URL(rp.as.authorization_endpoint!);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('request_uri', requestUri);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.href;
}

/** Follows an authorization URL through login and consent; returns the final step (the redirect to the client, or an error page). */
export async function drive(rp: Rp, url: string, browser = new Browser(rp.dispatcher)): Promise<{ final: Step; pages: Step[]; browser: Browser }> {
  const origin = new URL(rp.stack.issuer).origin;
  const pages: Step[] = [];
  let step = await browser.follow(url, origin);
  for (let i = 0; i < 5 && step.status < 300; i++) {
    pages.push(step);
    if (step.body.includes('type="password"')) {
      step = await browser.follow(formAction(step), origin, {
        form: { csrf: hiddenCsrf(step), username: rp.stack.demo.username, password: rp.stack.demo.password },
      });
    } else if (step.body.includes('name="decision"')) {
      step = await browser.follow(formAction(step), origin, { form: { csrf: hiddenCsrf(step), scope: scopeBoxes(step), decision: 'allow' } });
    } else {
      break;
    }
  }
  return { final: step, pages, browser };
}
