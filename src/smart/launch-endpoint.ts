// The EHR launch API (SMART App Launch 2.2 app-launch.md §"EHR launch"): an EHR that is a
// registered confidential client with the `caduceus:launch` scope creates a launch context for an
// app and receives the opaque `launch` value to put in the app's launch URL. The app's
// authorization request redeems it once (src/smart/launch-context.ts).
//
//   POST /smart/launch   (application/x-www-form-urlencoded, client authentication as at /token)
//     target_client_id   the app being launched (must be registered with the `launch` scope)
//     patient, encounter FHIR ids (or Patient/…, Encounter/… references)
//     fhirContext        JSON array, e.g. [{"reference":"Appointment/5"}]
//     need_patient_banner, smart_style_url
//     user               optional: the username of the account the app is launched for; only that
//                        account may then redeem the launch (the EHR's signed-in user)
//   → 201 {"launch": "…", "expires_in": 300, "iss": "<FHIR base URL>"}
import type { FastifyInstance } from 'fastify';
import { invalidClient, invalidRequest, invalidScope, OAuthError } from '../errors/oauth-error.js';
import { formParams, requestMeta } from '../http/request-info.js';
import { enforceTokenEndpointRateLimit } from '../http/request-rate-limits.js';
import { authenticateClient } from '../oauth/client-auth/index.js';
import { presentedClientId } from '../oauth/client-auth/throttle.js';
import { parseScope } from '../oauth/checks/scope.js';
import type { AppContext } from '../context/app-context.js';
import { createLaunch, parseLaunchContextInput } from './launch-context.js';

/** The scope an EHR client needs to create launch contexts. */
export const LAUNCH_API_SCOPE = 'caduceus:launch';

export function registerLaunchEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/smart/launch`;
  app.post('/smart/launch', async (req, reply) => {
    const params = formParams(req);
    // Counted with the token endpoints (rate_limits.token_endpoints), before client authentication.
    await enforceTokenEndpointRateLimit(ctx, req, reply, presentedClientId(req.headers.authorization, params), 'launch');
    const ehr = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint, ...requestMeta(req) });
    if (ehr.tokenEndpointAuthMethod === 'none') throw invalidClient('the launch API requires client authentication');
    if (!parseScope(ehr.scope).includes(LAUNCH_API_SCOPE)) {
      throw new OAuthError('unauthorized_client', `this client is not registered with the ${LAUNCH_API_SCOPE} scope`);
    }
    const targetId = params.target_client_id;
    if (!targetId) throw invalidRequest('target_client_id is required: the client_id of the app being launched');
    const target = await ctx.storage.clients.get(targetId);
    if (!target) throw invalidRequest('target_client_id is not a registered client');
    if (!target.grantTypes.includes('authorization_code')) throw invalidRequest('the target client does not use the authorization code flow');
    if (!parseScope(target.scope).includes('launch')) throw invalidScope('the target client is not registered with the "launch" scope');
    let fhirContext: unknown;
    if (params.fhirContext !== undefined) {
      try {
        fhirContext = JSON.parse(params.fhirContext);
      } catch {
        throw invalidRequest('fhirContext must be a JSON array, e.g. [{"reference":"Appointment/123"}]');
      }
    }
    const banner = params.need_patient_banner;
    if (banner !== undefined && banner !== 'true' && banner !== 'false') throw invalidRequest('need_patient_banner must be true or false');
    const context = parseLaunchContextInput({
      patient: params.patient, encounter: params.encounter, fhirContext,
      need_patient_banner: banner === undefined ? undefined : banner === 'true', smart_style_url: params.smart_style_url,
    });
    if (context.patient === undefined && context.encounter === undefined && !context.fhirContext?.length) {
      throw invalidRequest('a launch needs a patient, an encounter or a fhirContext');
    }
    if (params.user !== undefined) {
      const user = params.user === '' ? undefined : await ctx.storage.users.getByUsername(params.user);
      if (!user || user.disabled) throw invalidRequest('user must be the username of an active account: the one the app is launched for');
      context.forUser = user.id;
    }
    const { launch, expiresIn } = await createLaunch(ctx, { clientId: target.clientId, createdBy: ehr.clientId, context });
    const meta = requestMeta(req);
    await ctx.audit.record({
      type: 'launch.created', actor: { clientId: ehr.clientId }, outcome: 'success', requestId: meta.requestId, sourceAddress: meta.sourceAddress,
      ...(context.patient ? { patient: `Patient/${context.patient}` } : {}),
      details: {
        target_client_id: target.clientId, ...(context.encounter ? { encounter: `Encounter/${context.encounter}` } : {}),
        ...(context.forUser ? { for_user: context.forUser } : {}),
      },
    });
    reply.code(201).header('cache-control', 'no-store').header('pragma', 'no-cache');
    return { launch, expires_in: expiresIn, iss: target.resources[0] ?? ctx.config.issuer };
  });
}
