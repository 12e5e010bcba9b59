// The admin console (/admin) and the admin API (/admin/api), in one encapsulated plugin: the IP
// allow-list (admin_console.ip_allowlist) guards both before anything else, and console pages get
// `form-action 'self'` on top of the pages' CSP (their forms only ever post to this server).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { securityHeaders } from '../../http/security-headers.js';
import { html } from '../../http/html.js';
import { registerAdminApi } from '../api/index.js';
import { addressAllowed, addressAllowList, sendPage } from './guard.js';
import { ADMIN_STYLESHEET, ADMIN_STYLESHEET_PATH, adminPage } from './layout.js';
import { registerOverview } from './overview.js';
import { registerPasswordLinkPage } from './password-link.js';
import { CONSOLE_SECTIONS } from './sections.js';
import type { AdminConsoleOptions } from './services.js';
import { registerSignIn } from './sign-in.js';

export type { AdminConsoleOptions, ComplianceProvider, ConsoleFinding } from './services.js';

export async function registerAdminConsole(app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions = {}): Promise<void> {
  if (!ctx.config.admin_console.enabled) return;
  const allowList = addressAllowList(ctx.config.admin_console.ip_allowlist);
  const csp = securityHeaders('page', ctx.config.tls?.hsts_max_age ?? 63_072_000)['Content-Security-Policy']!;
  app.get(ADMIN_STYLESHEET_PATH, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8');
    return ADMIN_STYLESHEET;
  });
  registerPasswordLinkPage(app, ctx); // users set their password outside /admin: the allow-list never blocks them
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      if (addressAllowed(allowList, req.ip)) return;
      ctx.ops.logger.log('warn', 'admin console: request from an address outside admin_console.ip_allowlist refused', { request_id: String(req.id) });
      if (req.url.startsWith('/admin/api')) {
        await reply.code(403).type('application/json; charset=utf-8').send(JSON.stringify({ error: 'access_denied', error_description: 'the admin API is not reachable from this address' }));
      } else {
        await sendPage(reply, 403, adminPage({ title: 'Not available from here', body: html`<p>The admin console is not reachable from this network address.</p>` }));
      }
      return reply;
    });
    scope.addHook('onSend', async (_req, reply, payload) => {
      if (String(reply.getHeader('content-type') ?? '').startsWith('text/html')) reply.header('content-security-policy', csp);
      return payload;
    });
    registerSignIn(scope, ctx);
    registerOverview(scope, ctx, options);
    for (const register of CONSOLE_SECTIONS) register(scope, ctx, options);
    await registerAdminApi(scope, ctx, options);
  });
}
