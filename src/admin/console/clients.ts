// The console's Clients section (issue 15): list and search the registered clients, add one (the
// validation of the CLI and of the configuration file), edit its redirect URIs, scopes, resources
// and session limits, disable or enable it, rotate its secret, and read its recent activity in the
// ledger. Every rule is in src/admin/clients.ts, shared with the admin API and the CLI; this module
// only reads forms and renders pages. Clients of the configuration file are read-only here.
//
// Step-up (45 CFR 164.312(d)): rotating a secret, and disabling or enabling a client (disabling
// revokes every grant of the client, which cannot be undone; enabling re-establishes its access,
// 164.308(a)(4)(ii)(C)). A new secret is shown once, in the answer to the POST itself, never again.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { ConfigError } from '../../config/schema.js';
import { isInternalError } from '../../errors/internal-error.js';
import { html, raw, type Raw } from '../../http/html.js';
import type { ClientPolicyRecord, ClientRecord } from '../../storage/types.js';
import {
  addClient, configProblems, readClientActivity, rotateClientSecret, searchClients, setClientDisabled, updateClient,
  type ClientChange, type NewClientInput,
} from '../clients.js';
import { consoleDeps, consoleGet, consolePost, formList, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminPage, csrfField } from './layout.js';
import { eventsTable } from './overview.js';
import { formatTime, userLabels } from './view.js';

const SECTION = '/clients';
const PAGE_SIZE = 50;
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

/** The `?done=` keywords of the result pages and their fixed messages (never user data in a URL). */
const DONE: Record<string, string> = {
  created: 'The client was added.',
  updated: 'The changes were saved.',
  unchanged: 'Nothing was changed.',
  disabled: 'The client was disabled: it is refused everywhere, and its grants and tokens were revoked.',
  enabled: 'The client was enabled. Grants revoked when it was disabled stay revoked.',
  already_disabled: 'The client was already disabled.',
  already_enabled: 'The client was already enabled.',
};


/** Problems of a form keyed by field name ('' for the whole form). */
type FieldErrors = Map<string, string[]>;

function fieldErrors(err: ConfigError): FieldErrors {
  const out: FieldErrors = new Map();
  for (const { field, message } of configProblems(err)) out.set(field, [...(out.get(field) ?? []), message]);
  return out;
}

export function registerClientPages(app: FastifyInstance, ctx: AppContext): void {
  const knownResources = () => ctx.config.resources.map((r) => r.uri);

  consoleGet(app, ctx, '/admin/clients', async (req, reply, admin) => {
    const query = queryOf(req);
    const q = (query.get('q') ?? '').slice(0, 200);
    const pageNumber = pageOf(query.get('page'));
    const { clients, total } = await searchClients(ctx.storage, { query: q, offset: (pageNumber - 1) * PAGE_SIZE, limit: PAGE_SIZE });
    const link = (n: number) => `/admin/clients?${new URLSearchParams({ ...(q ? { q } : {}), page: String(n) }).toString()}`;
    return sendPage(reply, 200, adminPage({
      title: 'Clients', username: admin.session.user.username, csrf: admin.csrf, section: SECTION, notice: DONE[query.get('done') ?? ''],
      body: html`<p><a href="/admin/new-client">Add a client</a></p>
<form method="get" action="/admin/clients" class="filters" role="search">
<div><label for="q">Client id or name contains</label><input type="search" id="q" name="q" value="${q}" maxlength="200"></div>
<button type="submit" class="secondary">Search</button>
</form>
<p class="muted">${total === 0 ? 'No client matches.' : `${total} client${total === 1 ? '' : 's'}${total > PAGE_SIZE ? `, page ${pageNumber} of ${Math.ceil(total / PAGE_SIZE)}` : ''}.`}</p>
${clients.length ? html`<table><caption class="muted">Registered clients</caption><thead><tr><th scope="col">Client id</th><th scope="col">Name</th><th scope="col">Source</th><th scope="col">Authentication</th><th scope="col">Status</th></tr></thead><tbody>
${clients.map((c) => html`<tr><td class="mono"><a href="${clientPath(c.clientId)}">${c.clientId}</a></td><td>${c.name}</td><td>${SOURCE_LABEL[c.source]}</td><td class="mono">${c.tokenEndpointAuthMethod}</td><td>${statusBadge(c)}</td></tr>`)}
</tbody></table>` : ''}
<nav class="pager" aria-label="Pages">${pageNumber > 1 ? html`<a href="${link(pageNumber - 1)}">Previous page</a>` : ''}${pageNumber * PAGE_SIZE < total ? html`<a href="${link(pageNumber + 1)}">Next page</a>` : ''}</nav>`,
    }));
  });

  consoleGet(app, ctx, '/admin/new-client', async (_req, reply, admin) => sendPage(reply, 200, addPage(admin, knownResources(), {}, new Map())));

  consolePost(app, ctx, '/admin/new-client', async (req, reply, admin) => {
    const form = formOf(req);
    const values = addFormValues(req);
    const errors: FieldErrors = new Map();
    let jwks: NewClientInput['jwks'];
    if (values.jwks.trim()) {
      try {
        jwks = JSON.parse(values.jwks) as NewClientInput['jwks'];
      } catch {
        errors.set('jwks', ['must be a JSON Web Key Set, e.g. {"keys": [{"kty": "EC", …}]}']);
      }
    }
    const input: NewClientInput = {
      client_id: (form.client_id ?? '').trim(), name: (form.name ?? '').trim(), grant_types: values.grantTypes, redirect_uris: lines(values.redirectUris),
      scope: values.scope.trim().split(/\s+/).filter(Boolean).join(' '), resources: values.resources, token_endpoint_auth_method: values.auth,
      ...(values.jwksUri.trim() ? { jwks_uri: values.jwksUri.trim() } : {}),
      ...(jwks !== undefined ? { jwks } : {}),
      dpop_bound_access_tokens: values.dpop, require_pushed_authorization_requests: values.par,
    };
    const idle = secondsField(values.idle);
    const absolute = secondsField(values.absolute);
    if (idle !== null || absolute !== null) input.session = { ...(idle !== null ? { idle_timeout: idle } : {}), ...(absolute !== null ? { absolute_timeout: absolute } : {}) };
    if (errors.size) return sendPage(reply, 400, addPage(admin, knownResources(), values, errors));
    let added: Awaited<ReturnType<typeof addClient>>;
    try {
      added = await addClient(consoleDeps(ctx, admin), input, knownResources());
    } catch (err) {
      if (err instanceof ConfigError) return sendPage(reply, 400, addPage(admin, knownResources(), values, fieldErrors(err)));
      if (isInternalError(err, 'ERR_CONFLICT')) return sendPage(reply, 400, addPage(admin, knownResources(), values, new Map([['client_id', ['a client with this client_id already exists; pick another']]])));
      throw err;
    }
    if (added.secret === undefined) return reply.code(303).header('location', `${clientPath(added.client.clientId)}?done=created`).send();
    return sendSecret(reply, admin, added.client, added.secret, 'added');
  }, { stepUp: true });

  consoleGet(app, ctx, '/admin/clients/:clientId', async (req, reply, admin) => {
    const clientId = paramOf(req);
    const client = await ctx.storage.clients.get(clientId);
    const policy = client && await ctx.storage.clientPolicies.get(clientId);
    if (!client || !policy) return notFound(reply, admin);
    const events = (await readClientActivity(consoleDeps(ctx, admin), clientId, admin.meta)) ?? [];
    const labels = await userLabels(ctx, events.map((e) => e.actor.userId));
    const action = (path: string, label: string, className: string) => html`<form method="post" action="${clientPath(clientId)}/${path}" class="inline">${csrfField(admin.csrf)}<button type="submit" class="${className}">${label}</button></form>`;
    return sendPage(reply, 200, adminPage({
      title: `Client ${clientId}`, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, notice: DONE[queryOf(req).get('done') ?? ''],
      body: html`${sourceNote(client)}
${clientFacts(client, policy)}
<h2>Actions</h2>
<div class="actions">
${client.source === 'config' ? '' : html`<a class="button secondary" href="${clientPath(clientId)}/edit">Edit redirect URIs, scopes, resources and session limits</a>`}
${client.disabled ? action('enable', 'Enable this client', 'secondary') : action('disable', 'Disable this client', 'danger')}
${client.source !== 'config' && client.tokenEndpointAuthMethod.startsWith('client_secret') ? action('rotate-secret', 'Rotate the client secret', 'danger') : ''}
</div>
<p class="muted">Disabling refuses the client everywhere and revokes all its grants and tokens. Disabling, enabling and rotating the secret ask for your second factor again when your last check is more than a few minutes old.</p>
<h2>Recent activity</h2>
<p class="muted">The latest ${events.length} ledger events in which this client acted, newest first. This read is recorded in the ledger.</p>
${eventsTable(events, labels)}
<p><a href="/admin/clients">All clients</a></p>`,
    }));
  });

  consoleGet(app, ctx, '/admin/clients/:clientId/edit', async (req, reply, admin) => {
    const clientId = paramOf(req);
    const client = await ctx.storage.clients.get(clientId);
    const policy = client && await ctx.storage.clientPolicies.get(clientId);
    if (!client || !policy) return notFound(reply, admin);
    return sendPage(reply, 200, editPage(admin, client, knownResources(), editValuesOf(client, policy), new Map()));
  });

  consolePost(app, ctx, '/admin/clients/:clientId/edit', async (req, reply, admin) => {
    const clientId = paramOf(req);
    const client = await ctx.storage.clients.get(clientId);
    if (!client) return notFound(reply, admin);
    const form = formOf(req);
    const values: EditValues = {
      redirectUris: form.redirect_uris ?? '', scope: form.scope ?? '', resources: formList(req, 'resources'),
      idle: form.session_idle_timeout ?? '', absolute: form.session_absolute_timeout ?? '',
    };
    const change: ClientChange = {
      redirect_uris: lines(values.redirectUris), scope: values.scope.trim().split(/\s+/).filter(Boolean).join(' '), resources: values.resources,
      session: { idle_timeout: secondsField(values.idle), absolute_timeout: secondsField(values.absolute) },
    };
    let updated: Awaited<ReturnType<typeof updateClient>>;
    try {
      updated = await updateClient(consoleDeps(ctx, admin), clientId, change, knownResources());
    } catch (err) {
      if (err instanceof ConfigError) return sendPage(reply, client.source === 'config' ? 409 : 400, editPage(admin, client, knownResources(), values, fieldErrors(err)));
      throw err;
    }
    if (!updated) return notFound(reply, admin);
    return reply.code(303).header('location', `${clientPath(clientId)}?done=${updated.changes.length ? 'updated' : 'unchanged'}`).send();
  }, { stepUp: true });

  for (const [path, disabled] of [['disable', true], ['enable', false]] as const) {
    consolePost(app, ctx, `/admin/clients/:clientId/${path}`, async (req, reply, admin) => {
      const clientId = paramOf(req);
      const result = await setClientDisabled(consoleDeps(ctx, admin), clientId, disabled);
      if (!result) return notFound(reply, admin);
      const done = result.changed ? (disabled ? 'disabled' : 'enabled') : disabled ? 'already_disabled' : 'already_enabled';
      return reply.code(303).header('location', `${clientPath(clientId)}?done=${done}`).send();
    }, { stepUp: true });
  }

  consolePost(app, ctx, '/admin/clients/:clientId/rotate-secret', async (req, reply, admin) => {
    const clientId = paramOf(req);
    let rotated: Awaited<ReturnType<typeof rotateClientSecret>>;
    try {
      rotated = await rotateClientSecret(consoleDeps(ctx, admin), clientId);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return sendPage(reply, 409, adminPage({
        title: 'The secret cannot be rotated here', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
        body: html`<p class="error" role="alert">${configProblems(err).map((p) => p.message).join(' ')}</p><p><a href="${clientPath(clientId)}">Back to the client</a></p>`,
      }));
    }
    if (!rotated) return notFound(reply, admin);
    return sendSecret(reply, admin, rotated.client, rotated.secret, 'rotated');
  }, { stepUp: true });
}

const SOURCE_LABEL: Record<ClientRecord['source'], string> = {
  config: 'configuration file', admin: 'console or CLI', dynamic: 'self-registered agent', metadata_document: 'metadata document',
};

export function clientPath(clientId: string): string {
  return `/admin/clients/${encodeURIComponent(clientId)}`;
}

function statusBadge(c: ClientRecord): Raw {
  return c.disabled ? html`<span class="badge bad">disabled</span>` : html`<span class="badge ok">enabled</span>`;
}

function sourceNote(c: ClientRecord): Raw {
  if (c.source === 'config') {
    return html`<p class="notice">This client is declared in the configuration file, which is its source (<code>clients</code> entry with <code>client_id: ${c.clientId}</code>). It is read-only here: change it in the file and restart. It can still be disabled here in an emergency; the flag survives restarts.</p>`;
  }
  if (c.source === 'dynamic') return html`<p class="notice">This client is a self-registered AI agent. Approve or refuse it on <a href="/admin/agents/agent?client_id=${encodeURIComponent(c.clientId)}">its AI agent page</a>.</p>`;
  return html``;
}

function clientFacts(c: ClientRecord, p: ClientPolicyRecord): Raw {
  const list = (items: readonly string[]) => (items.length ? html`<ul>${items.map((i) => html`<li class="mono">${i}</li>`)}</ul>` : html`<span class="muted">none</span>`);
  const seconds = (s: number | undefined) => (s === undefined ? html`<span class="muted">the global limit</span>` : `${s} seconds`);
  return html`<dl class="facts">
<dt>Client id</dt><dd class="mono">${c.clientId}</dd>
<dt>Name</dt><dd>${c.name}</dd>
<dt>Status</dt><dd>${statusBadge(c)}</dd>
<dt>Source</dt><dd>${SOURCE_LABEL[c.source]}</dd>
<dt>Authentication</dt><dd class="mono">${c.tokenEndpointAuthMethod}</dd>
<dt>Grant types</dt><dd>${list(c.grantTypes)}</dd>
<dt>Redirect URIs</dt><dd>${list(c.redirectUris)}</dd>
<dt>Scopes</dt><dd>${list(c.scope.split(' ').filter(Boolean))}</dd>
<dt>Resources</dt><dd>${list(c.resources)}</dd>
<dt>DPoP required</dt><dd>${p.dpopBoundAccessTokens ? 'yes' : 'no'}</dd>
<dt>PAR required</dt><dd>${p.requirePushedAuthorizationRequests ? 'yes' : 'no'}</dd>
<dt>Session idle limit</dt><dd>${seconds(p.sessionIdleTimeout)}</dd>
<dt>Session absolute limit</dt><dd>${seconds(p.sessionAbsoluteTimeout)}</dd>
<dt>Added</dt><dd>${formatTime(c.createdAt)}</dd>
<dt>Last changed</dt><dd>${formatTime(c.updatedAt)}</dd>
</dl>`;
}

/** The page of a new secret: shown in the answer to the POST only, never stored by a cache, never shown again. */
function sendSecret(reply: FastifyReply, admin: ConsoleRequest, client: ClientRecord, secret: string, why: 'added' | 'rotated'): FastifyReply {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  return sendPage(reply, 200, adminPage({
    title: why === 'added' ? 'Client added' : 'New client secret', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`<p>The secret of <code>${client.clientId}</code> (${client.name}):</p>
<p><code class="secret" id="client-secret">${secret}</code></p>
<p class="notice" role="status">This secret is shown only this once: Caduceus keeps only a keyed digest of it. Put it in the client's secret store now.${why === 'rotated' ? ' The previous secret no longer works.' : ''}</p>
<p><a href="${clientPath(client.clientId)}">Continue to the client</a></p>`,
  }));
}

function notFound(reply: FastifyReply, admin: ConsoleRequest): FastifyReply {
  return sendPage(reply, 404, adminPage({
    title: 'No such client', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`<p>No client has this client id.</p><p><a href="/admin/clients">All clients</a></p>`,
  }));
}

interface AddValues {
  clientId: string;
  name: string;
  auth: string;
  grantTypes: string[];
  redirectUris: string;
  scope: string;
  resources: string[];
  jwksUri: string;
  jwks: string;
  dpop: boolean;
  par: boolean;
  idle: string;
  absolute: string;
}

function addFormValues(req: FastifyRequest): AddValues {
  const form = formOf(req);
  return {
    clientId: form.client_id ?? '', name: form.name ?? '', auth: form.token_endpoint_auth_method ?? 'client_secret_basic',
    grantTypes: formList(req, 'grant_types'), redirectUris: form.redirect_uris ?? '', scope: form.scope ?? '', resources: formList(req, 'resources'),
    jwksUri: form.jwks_uri ?? '', jwks: form.jwks ?? '', dpop: form.dpop_bound_access_tokens === 'on', par: form.require_pushed_authorization_requests === 'on',
    idle: form.session_idle_timeout ?? '', absolute: form.session_absolute_timeout ?? '',
  };
}

/**
 * A labelled control with its problems beside it (aria-describedby), as the interaction pages do.
 * `field` is the name problems use (configProblems), `name` the form's when it differs.
 */
function field(f: { field: string; name?: string; label: string; hint?: string }, control: (attributes: Raw) => Raw, errors: FieldErrors): Raw {
  const problems = errors.get(f.field) ?? [];
  const id = (f.name ?? f.field).replace(/[^A-Za-z_]/g, '_');
  const described = [f.hint ? `${id}-hint` : '', problems.length ? `${id}-error` : ''].filter(Boolean).join(' ');
  const attributes = raw(`id="${id}" name="${f.name ?? f.field}"${described ? ` aria-describedby="${described}"` : ''}${problems.length ? ' aria-invalid="true"' : ''}`);
  return html`<div${raw(problems.length ? ' class="field-error"' : '')}><label for="${id}">${f.label}</label>
${f.hint ? html`<p class="muted" id="${id}-hint">${f.hint}</p>` : ''}${control(attributes)}
${problems.length ? html`<p class="error" id="${id}-error">${problems.join(' ')}</p>` : ''}</div>`;
}

/** A group of checkboxes in a fieldset, with its problems. */
function checkboxes(name: string, legend: string, options: readonly string[], checked: readonly string[], errors: FieldErrors): Raw {
  const problems = errors.get(name) ?? [];
  return html`<fieldset class="picker"${raw(problems.length ? ` aria-describedby="${name}-error"` : '')}><legend>${legend}</legend>
${options.length ? options.map((o, i) => html`<label class="choice" for="${name}-${i}"><input type="checkbox" id="${name}-${i}" name="${name}" value="${o}"${raw(checked.includes(o) ? ' checked' : '')}> <span class="mono">${o}</span></label>`) : html`<p class="muted">None configured.</p>`}
${problems.length ? html`<p class="error" id="${name}-error">${problems.join(' ')}</p>` : ''}</fieldset>`;
}

/** The summary above a form that was refused, with the problems no field of the form shows. */
function formProblems(errors: FieldErrors, fields: readonly string[]): Raw {
  if (errors.size === 0) return html``;
  const unplaced = [...errors].filter(([key]) => !fields.includes(key)).flatMap(([, messages]) => messages);
  return html`<p class="error" role="alert">Nothing was saved.${unplaced.length ? unplaced.map((m) => ` ${m}`).join('') : ' Correct the fields marked below.'}</p>`;
}

const ADD_FIELDS = ['client_id', 'name', 'token_endpoint_auth_method', 'grant_types', 'redirect_uris', 'scope', 'resources', 'jwks_uri', 'jwks', 'session.idle_timeout', 'session.absolute_timeout'];
const EDIT_FIELDS = ['redirect_uris', 'scope', 'resources', 'session.idle_timeout', 'session.absolute_timeout'];

function addPage(admin: ConsoleRequest, resources: readonly string[], v: Partial<AddValues>, errors: FieldErrors): string {
  const auth = v.auth ?? 'client_secret_basic';
  return adminPage({
    title: 'Add a client', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`${formProblems(errors, ADD_FIELDS)}
<form method="post" action="/admin/new-client">
${csrfField(admin.csrf)}
${field({ field: 'client_id', label: 'Client id', hint: '3 to 128 letters, digits, ".", "_", "~" or "-".' }, (a) => html`<input type="text" ${a} value="${v.clientId ?? ''}" required maxlength="128" autocomplete="off">`, errors)}
${field({ field: 'name', label: 'Name shown on the consent page' }, (a) => html`<input type="text" ${a} value="${v.name ?? ''}" required maxlength="200">`, errors)}
${field({ field: 'token_endpoint_auth_method', label: 'Client authentication', hint: 'client_secret_basic and client_secret_post get a generated secret, shown once.' }, (a) => html`<select ${a}>${AUTH_METHODS.map((m) => html`<option value="${m}"${raw(m === auth ? ' selected' : '')}>${m}</option>`)}</select>`, errors)}
${checkboxes('grant_types', 'Grant types', GRANT_TYPES, v.grantTypes ?? ['authorization_code', 'refresh_token'], errors)}
${field({ field: 'redirect_uris', label: 'Redirect URIs', hint: 'One per line; https, or http on a loopback address.' }, (a) => html`<textarea ${a} rows="3">${v.redirectUris ?? ''}</textarea>`, errors)}
${field({ field: 'scope', label: 'Scopes', hint: 'Separated by spaces, e.g. openid offline_access patient/Observation.rs' }, (a) => html`<input type="text" ${a} value="${v.scope ?? ''}">`, errors)}
${checkboxes('resources', 'Resources (RFC 8707) the client may ask tokens for', resources, v.resources ?? [], errors)}
${field({ field: 'jwks_uri', label: 'JWKS URI (private_key_jwt)' }, (a) => html`<input type="text" ${a} value="${v.jwksUri ?? ''}">`, errors)}
${field({ field: 'jwks', label: 'Public keys as a JWKS (private_key_jwt, instead of a JWKS URI)' }, (a) => html`<textarea ${a} rows="3">${v.jwks ?? ''}</textarea>`, errors)}
<fieldset class="picker"><legend>Security requirements</legend>
<label class="choice" for="dpop"><input type="checkbox" id="dpop" name="dpop_bound_access_tokens"${raw(v.dpop ? ' checked' : '')}> DPoP proofs required at the token endpoint (RFC 9449)</label>
<label class="choice" for="par"><input type="checkbox" id="par" name="require_pushed_authorization_requests"${raw(v.par ? ' checked' : '')}> Pushed authorization requests required (RFC 9126)</label>
</fieldset>
${sessionFields(v.idle ?? '', v.absolute ?? '', errors)}
<div class="actions"><button type="submit" class="primary">Add the client</button></div>
</form>`,
  });
}

function sessionFields(idle: string, absolute: string, errors: FieldErrors): Raw {
  return html`${field({ field: 'session.idle_timeout', name: 'session_idle_timeout', label: 'Session idle limit for this client (seconds)', hint: 'Empty: the global limit only. A value above the global limit is capped by it.' }, (a) => html`<input type="text" ${a} value="${idle}" inputmode="numeric">`, errors)}
${field({ field: 'session.absolute_timeout', name: 'session_absolute_timeout', label: 'Session absolute limit for this client (seconds)' }, (a) => html`<input type="text" ${a} value="${absolute}" inputmode="numeric">`, errors)}`;
}

interface EditValues {
  redirectUris: string;
  scope: string;
  resources: string[];
  idle: string;
  absolute: string;
}

function editValuesOf(c: ClientRecord, p: ClientPolicyRecord): EditValues {
  return {
    redirectUris: c.redirectUris.join('\n'), scope: c.scope, resources: c.resources,
    idle: p.sessionIdleTimeout === undefined ? '' : String(p.sessionIdleTimeout), absolute: p.sessionAbsoluteTimeout === undefined ? '' : String(p.sessionAbsoluteTimeout),
  };
}

function editPage(admin: ConsoleRequest, client: ClientRecord, known: readonly string[], v: EditValues, errors: FieldErrors): string {
  const title = `Edit client ${client.clientId}`;
  if (client.source === 'config') {
    return adminPage({ title, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, body: html`${sourceNote(client)}<p><a href="${clientPath(client.clientId)}">Back to the client</a></p>` });
  }
  // Resources the client holds that are no longer configured stay listed, so that they can be removed.
  const resources = [...known, ...client.resources.filter((r) => !known.includes(r))];
  return adminPage({
    title, username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`${formProblems(errors, EDIT_FIELDS)}
<form method="post" action="${clientPath(client.clientId)}/edit">
${csrfField(admin.csrf)}
${field({ field: 'redirect_uris', label: 'Redirect URIs', hint: 'One per line; https, or http on a loopback address.' }, (a) => html`<textarea ${a} rows="4">${v.redirectUris}</textarea>`, errors)}
${field({ field: 'scope', label: 'Scopes', hint: 'Separated by spaces.' }, (a) => html`<input type="text" ${a} value="${v.scope}">`, errors)}
${checkboxes('resources', 'Resources (RFC 8707) the client may ask tokens for', resources, v.resources, errors)}
${sessionFields(v.idle, v.absolute, errors)}
<div class="actions"><button type="submit" class="primary">Save the changes</button><a class="button secondary" href="${clientPath(client.clientId)}">Cancel</a></div>
</form>
<p class="muted">Saved changes are recorded in the ledger with their before and after values.</p>`,
  });
}

/** A seconds field: empty is null (no limit of its own); anything else is given to the schema as a number (text that is not one fails there, named). */
function secondsField(text: string): number | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : Number(trimmed);
}

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

/** The request's query string (the console reads its few parameters itself). */
export function queryOf(req: FastifyRequest): URLSearchParams {
  return new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
}

/** A 1-based page number from the query, 1 when absent or not one. */
export function pageOf(text: string | null): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 1 && n <= 100_000 ? n : 1;
}

function paramOf(req: FastifyRequest): string {
  return (req.params as { clientId: string }).clientId;
}
