// The issuer's root page: where a newcomer who opens https://host/ finds the discovery documents,
// the protected resources, the account page and, on the development stack, the /demo walkthrough.
// Public and static: it names endpoints only, never a client, user or patient.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context/app-context.js';
import { html, page } from '../http/html.js';
import { protectedResources, resourceMetadataUrl } from '../oauth/endpoints/protected-resource-metadata.js';

export function homePage(ctx: Pick<AppContext, 'config'>, options: { demo: boolean }): string {
  const iss = ctx.config.issuer;
  const fhirRoutes = ctx.config.gateway.routes.filter((r) => r.type === 'fhir');
  const link = (href: string, text: string) => html`<li><a href="${href}">${text}</a></li>`;
  return page('Caduceus', html`
<h1>Caduceus authorization server</h1>
<p>OAuth 2.1, OpenID Connect and SMART App Launch for the protected health information behind this server.</p>
${options.demo ? html`<p><a href="${iss}/demo">Try it: the guided walkthrough</a> signs in as a demo patient and reads a record through the gateway.</p>` : ''}
<h2>Discovery</h2>
<ul>
${link(`${iss}/.well-known/openid-configuration`, 'OpenID Connect discovery')}
${link(`${iss}/.well-known/oauth-authorization-server`, 'OAuth 2.0 authorization server metadata (RFC 8414)')}
${fhirRoutes.map((r) => link(`${iss}${r.prefix}/.well-known/smart-configuration`, `SMART configuration of ${r.prefix}`))}
${protectedResources(ctx.config).map((r) => link(resourceMetadataUrl(r.resource), `Protected resource metadata of ${r.resource} (RFC 9728)`))}
${link(`${iss}/jwks`, 'Token signing keys (JWKS)')}
</ul>
<h2>People</h2>
<ul>
${link(`${iss}/account`, 'Your account: the apps and agents you allowed, and your second factors')}
</ul>`);
}

export function registerHomePage(app: FastifyInstance, ctx: AppContext, options: { demo: boolean }): void {
  const body = homePage(ctx, options);
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body));
}
