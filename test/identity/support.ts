// Helpers for the identity tests: accounts with a role, and the sign-in steps driven through the
// pages with the form-driving Browser (real TLS, a real server, a frozen clock).
import { addUser } from '../../src/admin/users.js';
import { base32Decode, totp } from '../../src/interaction/mfa/totp.js';
import { Browser, formAction, hiddenCsrf, patientChoices, type Step } from '../support/browserless.js';
import { authorizationUrl, post, type Rp } from '../support/flows.js';
import type { TestStack } from '../support/stack.js';

export const PASSWORD = 'correct horse battery staple';

/**
 * A user of the role, with what SMART patient scopes need: a patient is linked to the demo patient
 * (Patient/demo-1), a practitioner has it on their panel (the consent page's patient picker).
 */
export async function createUser(stack: TestStack, username: string, role: 'patient' | 'practitioner' | 'administrator') {
  const user = await addUser(
    { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' },
    { username, password: PASSWORD, role, ...(role === 'patient' ? { fhirUser: 'Patient/demo-1' } : {}) },
  );
  if (role === 'practitioner') await stack.ctx.storage.users.setPatientPanel(user.id, ['demo-1']);
  return user;
}

/** The first action URL on a page whose form posts to `path` (the page has several forms). */
export function actionOf(page: Step, path: string): string {
  const m = new RegExp(`<form method="post" action="(${path.replace(/\//g, '\\/')})"`).exec(page.body);
  if (!m) throw new Error(`no form posting to ${path} on ${page.url}: ${page.body.slice(0, 400)}`);
  return new URL(m[1]!, page.url).href;
}

/** The TOTP key shown on the enrolment page for typing in by hand. */
export function manualSecret(page: Step): string {
  const m = /<code class="secret" id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.body);
  if (!m) throw new Error(`no manual-entry secret on ${page.url}`);
  return m[1]!.replace(/ /g, '');
}

export function recoveryCodes(page: Step): string[] {
  const list = /<ol class="codes"[^>]*>([\s\S]*?)<\/ol>/.exec(page.body)?.[1] ?? '';
  return [...list.matchAll(/<li>([A-Z0-9-]+)<\/li>/g)].map((m) => m[1]!);
}

export const codeFor = (secret: string, now: number) => totp(base32Decode(secret), now);

export const errorText = (page: Step) => /<p class="error" role="alert">([^<]+)</.exec(page.body)?.[1];

/** Starts an authorization and submits the password: resolves the page after the password step. */
export async function signInWithPassword(rp: Rp, browser: Browser, username: string, o: { scope?: string; password?: string; extra?: Record<string, string> } = {}) {
  const req = await authorizationUrl(rp, { scope: o.scope, extra: o.extra });
  const origin = new URL(rp.stack.issuer).origin;
  const login = await browser.follow(req.url.href, origin);
  if (!login.body.includes('type="password"')) throw new Error(`expected the login page, got ${login.status} ${login.body.slice(0, 300)}`);
  const after = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username, password: o.password ?? PASSWORD } });
  return { req, login, after };
}

/** Allows every scope on a consent page; resolves the redirect to the client. */
export async function allow(rp: Rp, browser: Browser, consent: Step): Promise<Step> {
  const scopes = [...consent.body.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1]!);
  const patients = patientChoices(consent);
  return browser.follow(formAction(consent), new URL(rp.stack.issuer).origin, {
    form: { csrf: hiddenCsrf(consent), scope: scopes, decision: 'allow', ...(patients.length ? { patient: patients[0]! } : {}) },
  });
}

/** Exchanges the code of a redirect to the client at the token endpoint. */
export async function exchange(rp: Rp, redirect: Step, verifier: string) {
  const location = new URL(redirect.location!);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirect.location}`);
  return post(rp, rp.as.token_endpoint!, { grant_type: 'authorization_code', code, redirect_uri: rp.stack.demo.redirect_uri, code_verifier: verifier });
}
