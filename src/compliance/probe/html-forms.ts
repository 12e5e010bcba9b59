// A tiny HTML form reader and driver for the probe's login: enough of HTML to find forms, their
// fields and submit buttons in server-rendered login and consent pages, with no dependency. It
// does not run scripts, so pages that need JavaScript to log in cannot be driven.
import type { CookieJar, ProbeHttp, ProbeResponse } from './http.js';

export interface FormField {
  tag: 'input' | 'button' | 'textarea' | 'select';
  type: string;
  name: string;
  value: string;
  checked: boolean;
  /** Button text (buttons only). */
  label: string;
}

export interface HtmlForm {
  action: string;
  method: string;
  fields: FormField[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

export function parseAttributes(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const inner = tag.replace(/^<\s*[a-z0-9]+/i, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attrs[m[1]!.toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

const stripTags = (html: string) => decodeEntities(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();

/** Every <form> of a page, with action resolved against the page URL. */
export function parseForms(html: string, pageUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi)) {
    const open = /^<form\b[^>]*>/i.exec(m[0])![0];
    const attrs = parseAttributes(open);
    const inner = m[1]!;
    const fields: FormField[] = [];
    for (const f of inner.matchAll(/<(input|button|textarea|select)\b[^>]*>(?:([\s\S]*?)<\/\1\s*>)?/gi)) {
      const tag = f[1]!.toLowerCase() as FormField['tag'];
      const a = parseAttributes(/^<[^>]*>/.exec(f[0])![0]);
      if ('disabled' in a) continue;
      let value = a.value ?? '';
      if (tag === 'textarea') value = decodeEntities(f[2] ?? '');
      if (tag === 'select') {
        const options = [...(f[2] ?? '').matchAll(/<option\b[^>]*>/gi)].map((o) => parseAttributes(o[0]));
        const chosen = options.find((o) => 'selected' in o) ?? options[0];
        value = chosen?.value ?? '';
      }
      const type = (a.type ?? (tag === 'button' ? 'submit' : tag === 'input' ? 'text' : tag)).toLowerCase();
      fields.push({ tag, type, name: a.name ?? '', value, checked: 'checked' in a, label: tag === 'button' ? stripTags(f[2] ?? '') : value });
    }
    forms.push({ action: new URL(attrs.action || pageUrl, pageUrl).href, method: (attrs.method ?? 'get').toLowerCase(), fields });
  }
  return forms;
}

const USERNAME_NAME = /user|login|email|mail|account|ident|name/i;
const APPROVE = /\b(allow|approve|accept|authori[sz]e|consent|yes|grant|continue|confirm)\b/i;

function isSubmit(f: FormField): boolean {
  return (f.tag === 'button' && f.type === 'submit') || (f.tag === 'input' && (f.type === 'submit' || f.type === 'image'));
}

/** The values a browser would send for this form when `submit` is the button pressed. */
export function formValues(form: HtmlForm, submit?: FormField, overrides: Record<string, string> = {}): Record<string, string[]> {
  const values: Record<string, string[]> = {};
  const add = (k: string, v: string) => { (values[k] ??= []).push(v); };
  for (const f of form.fields) {
    if (!f.name || isSubmit(f) || f.tag === 'button') continue;
    if ((f.type === 'checkbox' || f.type === 'radio') && !f.checked) continue;
    if (f.name in overrides) continue;
    add(f.name, f.value);
  }
  for (const [k, v] of Object.entries(overrides)) add(k, v);
  if (submit?.name) add(submit.name, submit.value);
  return values;
}

export function findLoginForm(forms: HtmlForm[]): { form: HtmlForm; usernameField: FormField | undefined; passwordField: FormField } | undefined {
  for (const form of forms) {
    const passwordField = form.fields.find((f) => f.tag === 'input' && f.type === 'password' && f.name);
    if (!passwordField) continue;
    const texts = form.fields.filter((f) => f.tag === 'input' && ['text', 'email', 'tel', ''].includes(f.type) && f.name);
    const usernameField = texts.find((f) => USERNAME_NAME.test(f.name)) ?? texts[0];
    return { form, usernameField, passwordField };
  }
  return undefined;
}

export function findConsentForm(forms: HtmlForm[]): { form: HtmlForm; submit: FormField } | undefined {
  for (const form of forms) {
    const submit = form.fields.find((f) => isSubmit(f) && (APPROVE.test(f.label) || APPROVE.test(f.value)));
    if (submit) return { form, submit };
  }
  return undefined;
}

export interface DriveResult {
  /** The last response: a redirect off the probed origin (or to the client), or a page the driver could not continue from. */
  final: ProbeResponse;
  /** The client redirect the flow ended with, when it did. */
  redirect?: URL;
  steps: string[];
  loggedIn: boolean;
}

/**
 * Follows same-origin redirects and fills the login form (a password field plus a username-ish
 * field) and the consent form (a submit button labelled Allow/Approve/…), until the server
 * redirects to the client (`isClientRedirect`) or shows a page with neither form.
 */
export async function driveInteraction(
  client: ProbeHttp, jar: CookieJar, first: ProbeResponse,
  options: { username?: string; password?: string; isClientRedirect: (url: string) => boolean; maxSteps?: number },
): Promise<DriveResult> {
  let res = first;
  const steps: string[] = [];
  let logins = 0;
  let loggedIn = false;
  for (let i = 0; i < (options.maxSteps ?? 12); i++) {
    if (res.status >= 300 && res.status < 400 && res.location) {
      if (options.isClientRedirect(res.location) || !client.allowed(res.location)) {
        return { final: res, ...(options.isClientRedirect(res.location) ? { redirect: new URL(res.location) } : {}), steps, loggedIn };
      }
      steps.push(`redirect ${new URL(res.location).pathname}`);
      res = await client.request(res.location, {}, jar);
      continue;
    }
    if (res.status !== 200) break;
    const forms = parseForms(res.body, res.url);
    const login = findLoginForm(forms);
    if (login && options.username !== undefined && options.password !== undefined) {
      if (++logins > 2) break;
      const overrides: Record<string, string> = { [login.passwordField.name]: options.password };
      if (login.usernameField) overrides[login.usernameField.name] = options.username;
      const submit = login.form.fields.find(isSubmit);
      steps.push('login form');
      res = await submitForm(client, jar, login.form, formValues(login.form, submit, overrides));
      loggedIn = true;
      continue;
    }
    const consent = findConsentForm(forms);
    if (consent && !login) {
      steps.push('consent form');
      res = await submitForm(client, jar, consent.form, formValues(consent.form, consent.submit));
      continue;
    }
    break;
  }
  return { final: res, steps, loggedIn };
}

function submitForm(client: ProbeHttp, jar: CookieJar, form: HtmlForm, values: Record<string, string[]>): Promise<ProbeResponse> {
  if (form.method === 'post') return client.request(form.action, { form: values }, jar);
  const url = new URL(form.action);
  for (const [k, vs] of Object.entries(values)) for (const v of vs) url.searchParams.append(k, v);
  return client.request(url.href, {}, jar);
}
