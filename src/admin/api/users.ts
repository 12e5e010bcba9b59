// /admin/api/users: the console's Users section as JSON (src/admin/console/users.ts), through the
// same services (src/admin/users.ts) and the same ledger events, with the API client as actor
// (`client:<client_id>`) and details.api. A new account's password link is in the response that
// made it, once (Cache-Control: no-store), and never again.
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import { OAuthError } from '../../errors/oauth-error.js';
import { lockoutOf } from '../console/users.js';
import type { AdminConsoleOptions } from '../console/services.js';
import {
  addUserWithPasswordLink, describeUser, passwordLinkUrl, resetUserMfa, searchUsers, sendPasswordLink, setUserBreakGlass, setUserDisabled,
  setUserPatientPanel, setUserRole, unlockUser, type PasswordLink,
} from '../users.js';
import { apiDeps, refusalsAsInvalidRequest, type AdminApiRouter } from './router.js';

const noSuchUser = () => new OAuthError('not_found', 'no account has this username');

function found<T>(value: T | undefined): T {
  if (value === undefined) throw noSuchUser();
  return value;
}

const linkOut = (ctx: AppContext, link: PasswordLink) => ({ password_link: passwordLinkUrl(ctx.config.issuer, link.token), expires_at: new Date(link.expiresAt).toISOString() });

const username = z.string().min(1).max(128);
const patientList = z.array(z.string().max(80)).max(1000);

export function registerUserRoutes(router: AdminApiRouter, ctx: AppContext, _options: AdminConsoleOptions): void {
  const userOf = async (name: string) => found(await ctx.storage.users.getByUsername(name));

  router.route({
    method: 'GET', path: '/users', tag: 'users', summary: 'List accounts by username, optionally those whose username contains q',
    query: z.strictObject({ q: z.string().max(128).optional(), page: z.string().regex(/^[1-9]\d{0,5}$/, 'a page number from 1').optional() }),
    responses: { 200: 'users (id, username, role, disabled, fhir_user, patient_panel, break_glass, created_at), page, more' },
    handler: async ({ query }) => {
      const page = Number(query.page ?? '1');
      const { users, more } = await searchUsers(ctx, { query: query.q, page });
      return { users: users.map(describeUser), page, more };
    },
  });

  router.route({
    method: 'POST', path: '/users', tag: 'users',
    summary: 'Add an account; its owner chooses the password through the one-time link in the response',
    description: 'The link is in this response only (never stored, never shown again) and lasts admin_console.password_link_ttl. Recorded as user.changed create and password_link.',
    body: z.strictObject({
      username, role: z.enum(['patient', 'practitioner', 'administrator']).optional(),
      fhir_user: z.string().max(100).optional(), patient_panel: patientList.optional(),
    }),
    responses: { 201: 'user, password_link (shown once), expires_at' },
    handler: async ({ body, caller, reply }) => {
      const { user, link } = await refusalsAsInvalidRequest(() => addUserWithPasswordLink(apiDeps(ctx, caller), {
        username: body.username, role: body.role, fhirUser: body.fhir_user, patientPanel: body.patient_panel,
      }, ctx.config.admin_console.password_link_ttl));
      reply.code(201);
      return { user: describeUser(user), ...linkOut(ctx, link) };
    },
  });

  router.route({
    method: 'GET', path: '/users/:username', tag: 'users', summary: 'One account, with its lockout and second factors',
    responses: { 200: 'user, locked, second_factors (kinds), recovery_codes_left' },
    handler: async ({ params }) => {
      const user = await userOf(params.username!);
      const [locked, factors, recovery] = await Promise.all([
        lockoutOf(ctx).locked(user.username), ctx.storage.mfaFactors.listByUser(user.id), ctx.storage.recoveryCodes.countUnused(user.id),
      ]);
      return { user: describeUser(user), locked, second_factors: factors.map((f) => f.kind), recovery_codes_left: recovery };
    },
  });

  router.route({
    method: 'PUT', path: '/users/:username/role', tag: 'users',
    summary: 'Change the role; a practitioner who leaves the role loses panel and emergency access, a new administrator loses clinical consents',
    body: z.strictObject({ role: z.enum(['patient', 'practitioner', 'administrator']) }),
    responses: { 200: 'user, consents_revoked' },
    handler: async ({ params, body, caller }) => {
      const result = found(await refusalsAsInvalidRequest(() => setUserRole(apiDeps(ctx, caller), params.username!, body.role, 'role')));
      return { user: describeUser(result.user), consents_revoked: result.consentsRevoked };
    },
  });

  router.route({
    method: 'PUT', path: '/users/:username/patient-panel', tag: 'users', summary: 'Replace a practitioner\'s patient panel (FHIR Patient ids or references; empty clears it)',
    body: z.strictObject({ patients: patientList }),
    responses: { 200: 'before, after (FHIR Patient ids)' },
    handler: async ({ params, body, caller }) => found(await refusalsAsInvalidRequest(() => setUserPatientPanel(apiDeps(ctx, caller), params.username!, body.patients))),
  });

  router.route({
    method: 'PUT', path: '/users/:username/break-glass', tag: 'users', summary: 'Allow (practitioners only) or withdraw emergency access',
    body: z.strictObject({ allowed: z.boolean() }),
    responses: { 200: 'before, after' },
    handler: async ({ params, body, caller }) => found(await refusalsAsInvalidRequest(() => setUserBreakGlass(apiDeps(ctx, caller), params.username!, body.allowed))),
  });

  router.route({
    method: 'POST', path: '/users/:username/unlock', tag: 'users', summary: 'End the sign-in lockout and forget the failed attempts',
    responses: { 200: 'was_locked' },
    handler: async ({ params, caller }) => {
      const result = found(await unlockUser(apiDeps(ctx, caller), params.username!, lockoutOf(ctx)));
      return { was_locked: result.wasLocked };
    },
  });

  router.route({
    method: 'POST', path: '/users/:username/mfa-reset', tag: 'users', summary: 'Remove every second factor and recovery code of the account',
    responses: { 200: 'factors, recovery_codes (how many were removed)' },
    handler: async ({ params, caller }) => {
      const result = found(await resetUserMfa(apiDeps(ctx, caller), params.username!));
      return { factors: result.factors, recovery_codes: result.recoveryCodes };
    },
  });

  router.route({
    method: 'PUT', path: '/users/:username/disabled', tag: 'users',
    summary: 'Disable (revokes every grant and token, ends console sessions, drops password links) or enable the account',
    body: z.strictObject({ disabled: z.boolean() }),
    responses: { 200: 'user' },
    handler: async ({ params, body, caller }) => {
      if (!(await refusalsAsInvalidRequest(() => setUserDisabled(apiDeps(ctx, caller), params.username!, body.disabled)))) throw noSuchUser();
      return { user: describeUser(await userOf(params.username!)) };
    },
  });

  router.route({
    method: 'POST', path: '/users/:username/password-link', tag: 'users', summary: 'A new one-time password link for the account; older links stop working',
    description: 'The link is in this response only. The current password keeps working until the user sets a new one.',
    responses: { 201: 'password_link (shown once), expires_at' },
    handler: async ({ params, caller, reply }) => {
      const link = found(await refusalsAsInvalidRequest(() => sendPasswordLink(apiDeps(ctx, caller), params.username!, ctx.config.admin_console.password_link_ttl)));
      reply.code(201);
      return linkOut(ctx, link);
    },
  });
}
