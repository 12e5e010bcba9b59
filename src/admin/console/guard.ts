// Who may reach the console and how each console route is guarded:
// - the IP allow-list (admin_console.ip_allowlist) before anything else, for the console and the API;
// - a console session of an administrator (src/admin/console/session.ts), or a redirect to sign-in;
// - a CSRF token on every POST, bound to the session cookie (OWASP synchronizer token);
// - step-up for sensitive actions: the second factor again when the last check is older than
//   admin_console.step_up_max_age (45 CFR 164.312(d) person or entity authentication). The step-up
//   page re-posts the action's own fields with the code, so the action completes in one more step.
import { BlockList, isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { AuditEventInput } from '../../audit/events.js';
import type { AdminDeps } from '../clients.js';
import { csrfToken, csrfValid } from '../../interaction/csrf.js';
import { recordLoginFailure } from '../../interaction/login.js';
import { useRecoveryCode, verifyTotpCode } from '../../interaction/mfa/factors.js';
import { html, raw } from '../../http/html.js';
import { adminPage, csrfField } from './layout.js';
import { currentAdminSession, recordStepUp, stepUpFresh, type AdminSession } from './session.js';

/** What a console handler gets besides the request: the session, its CSRF token and the ledger's view of the administrator. */
export interface ConsoleRequest {
  session: AdminSession;
  csrf: string;
  /** The ledger actor id of the administrator (their user id), for src/admin services' `actor`. */
  actor: string;
  meta: { requestId: string; sourceAddress: string };
}

/**
 * The src/admin services' dependencies for one console action: the administrator as actor, and the
 * request id, address and details.console on every ledger event it writes.
 */
export function consoleDeps(ctx: AppContext, admin: ConsoleRequest): AdminDeps {
  return {
    storage: ctx.storage, masterKey: ctx.masterKey, now: () => ctx.now(), actor: admin.actor,
    audit: {
      record: (event: AuditEventInput) => ctx.audit.record({
        requestId: admin.meta.requestId, sourceAddress: admin.meta.sourceAddress, ...event, details: { ...event.details, console: 'admin' },
      }),
    },
  };
}

export type ConsoleHandler = (req: FastifyRequest, reply: FastifyReply, admin: ConsoleRequest) => Promise<unknown>;

/** Form fields of a urlencoded POST (the console's only body type); a repeated name keeps its last value. */
export type FormFields = Record<string, string>;

/** The POSTed form (src/server/app.ts parses urlencoded bodies to URLSearchParams); empty for anything else. */
export function formParams(req: FastifyRequest): URLSearchParams {
  return req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
}

export function formOf(req: FastifyRequest): FormFields {
  const out: FormFields = {};
  for (const [k, v] of formParams(req)) out[k] = v;
  return out;
}

/** Every value of a repeated form field (checkbox lists). */
export function formList(req: FastifyRequest, name: string): string[] {
  return formParams(req).getAll(name);
}

export const CONSOLE_CSRF_PURPOSE = 'admin-console';

/** The allow-list as a BlockList (node:net), or undefined when every address may come. */
export function addressAllowList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** Whether the address may use the console and the API (an IPv4-mapped IPv6 address counts as IPv4). */
export function addressAllowed(list: BlockList | undefined, address: string): boolean {
  if (!list) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return list.check(mapped, 'ipv4');
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** The session of the request, or a redirect to sign-in (303), with the page to come back to. */
async function sessionOrSignIn(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<ConsoleRequest | undefined> {
  const session = await currentAdminSession(ctx, req, reply);
  if (!session) {
    const path = req.url.split('?')[0]!;
    void reply.code(303).header('location', req.method === 'GET' && path !== '/admin' ? `/admin/login?next=${encodeURIComponent(req.url)}` : '/admin/login').send();
    return undefined;
  }
  return {
    session, csrf: csrfToken(ctx, CONSOLE_CSRF_PURPOSE, session.cookie), actor: session.user.id,
    meta: { requestId: String(req.id), sourceAddress: req.ip },
  };
}

export function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

/** A GET page of the console. */
export function consoleGet(app: FastifyInstance, ctx: AppContext, url: string, handler: ConsoleHandler): void {
  app.get(url, async (req, reply) => {
    const admin = await sessionOrSignIn(ctx, req, reply);
    if (!admin) return reply;
    return handler(req, reply, admin);
  });
}

/**
 * A POST action of the console: session, CSRF, and with `stepUp` a fresh second factor. Answer
 * with a redirect (303) to a page showing the result, so that a reload never repeats the action.
 */
export function consolePost(app: FastifyInstance, ctx: AppContext, url: string, handler: ConsoleHandler, options: { stepUp?: boolean } = {}): void {
  app.post(url, async (req, reply) => {
    const admin = await sessionOrSignIn(ctx, req, reply);
    if (!admin) return reply;
    const form = formOf(req);
    if (!csrfValid(ctx, CONSOLE_CSRF_PURPOSE, admin.session.cookie, form.csrf)) {
      return sendPage(reply, 403, adminPage({
        title: 'This form has expired', username: admin.session.user.username, csrf: admin.csrf,
        body: html`<p class="error" role="alert">The form could not be checked (it may be from an earlier session). Nothing was changed.</p><p><a href="/admin">Back to the console</a></p>`,
      }));
    }
    if (options.stepUp && !stepUpFresh(ctx, admin.session)) {
      const code = form.step_up_code;
      if (code === undefined) return sendStepUp(reply, req, admin);
      const check = await checkSecondFactor(ctx, admin.session.user.id, code);
      if (!check.ok) {
        await recordLoginFailure(ctx, {
          username: admin.session.user.username, userId: admin.session.user.id, action: 'step_up', reason: check.reason, meta: admin.meta, counted: true,
        });
        return sendStepUp(reply, req, admin, 'That code is not correct. Use a current code from your authenticator app, or a recovery code.');
      }
      await recordStepUp(ctx, admin.session);
      await ctx.audit.record({
        type: 'login.succeeded', actor: { userId: admin.actor }, outcome: 'success', action: 'step_up',
        requestId: admin.meta.requestId, sourceAddress: admin.meta.sourceAddress, details: { console: 'admin', amr: 'otp' },
      });
    }
    return handler(req, reply, admin);
  });
}

/** A TOTP code (six digits) or a recovery code of the user. */
export async function checkSecondFactor(ctx: AppContext, userId: string, code: string): Promise<{ ok: true; method: 'otp' | 'recovery' } | { ok: false; reason: string }> {
  const trimmed = code.replace(/\s+/g, '');
  if (/^\d{6}$/.test(trimmed)) {
    const result = await verifyTotpCode(ctx, userId, trimmed);
    return result.ok ? { ok: true, method: 'otp' } : { ok: false, reason: result.reason };
  }
  const result = await useRecoveryCode(ctx, userId, trimmed);
  return result.ok ? { ok: true, method: 'recovery' } : { ok: false, reason: result.reason };
}

function sendStepUp(reply: FastifyReply, req: FastifyRequest, admin: ConsoleRequest, error?: string): FastifyReply {
  // Every field of the action, repeated ones included, re-posted as it was.
  const kept = [...formParams(req)].filter(([name]) => name !== 'step_up_code' && name !== 'csrf');
  return sendPage(reply, error ? 401 : 200, adminPage({
    title: 'Confirm it is you', username: admin.session.user.username, csrf: admin.csrf,
    body: html`<p>This action needs your second factor again (your last check was more than a few minutes ago).</p>
<form method="post" action="${req.url}">
${csrfField(admin.csrf)}
${kept.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<label for="step_up_code">Code from your authenticator app, or a recovery code</label>
<input type="text" id="step_up_code" name="step_up_code" inputmode="numeric" autocomplete="one-time-code" required${raw(error ? ' aria-invalid="true" aria-describedby="step_up_error"' : '')}>
${error ? html`<p class="error" id="step_up_error">${error}</p>` : ''}
<div class="actions"><button type="submit" class="primary">Confirm and continue</button></div>
</form>`,
  }));
}
