// Token issuance shared by the user grants: access token, optional refresh token and ID token.
import { issueAccessToken } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { issueRefreshToken, type RefreshGrantData } from '../tokens/refresh-token.js';
import { formatScope } from '../checks/scope.js';
import { loadAgentPolicy } from '../clients.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord, LaunchContext, UserRecord } from '../../storage/types.js';
import { launchResponseFields } from '../../smart/launch-context.js';
import { ownPatientId } from '../../identity/patients.js';
import { FHIR_ID_SOURCE } from '../../util/fhir-id.js';
import type { TokenResponse } from './types.js';

export interface UserTokenInput {
  client: ClientRecord;
  grantId: string;
  data: RefreshGrantData;
  /** The user, when the caller has already read it. */
  user?: UserRecord;
  /** Scopes for this access token (may be narrower than data.scope on refresh). */
  scopes: string[];
  /** Keep the family's absolute expiry on rotation. */
  absoluteExpiresAt?: number;
  nonce?: string | null;
  withIdToken: boolean;
  /** The DPoP proof key of this request: the access token is bound to it (RFC 9449 §6). */
  dpopJkt?: string;
  /** The grant's SMART launch context (patient, encounter, fhirContext, …; break-glass purpose). */
  launch?: LaunchContext | null;
}

/**
 * Refresh-grant data with the DPoP binding of a public client's refresh tokens (RFC 9449 §5:
 * "Refresh tokens issued to public clients … MUST be bound to the DPoP proof public key"). It is
 * sealed with the rest, so each rotation carries it on.
 */
export type BoundRefreshGrantData = RefreshGrantData & { dpopJkt?: string };

/**
 * Grants made before launch contexts were stored (migration 006) keep their patient on refresh: a
 * user linked to a FHIR Patient who holds patient/ scopes has that patient as context. Only the id
 * travels (e.g. "123" for Patient/123).
 */
function legacyPatientContext(user: UserRecord | undefined, scopes: readonly string[]): string | undefined {
  if (!user || !scopes.some((s) => s.startsWith('patient/'))) return undefined;
  return ownPatientId(user);
}

const FHIR_USER = new RegExp(`^(Patient|Practitioner|RelatedPerson|Person)/${FHIR_ID_SOURCE}$`);

/**
 * SMART App Launch 2.2 (scopes-and-launch-context, fhirUser): the ID token's fhirUser claim is the
 * absolute URL of the user's FHIR resource on the resource server, e.g. https://ehr/fhir/Patient/123.
 */
export function fhirUserUrl(user: UserRecord | undefined, fhirBase: string): string | undefined {
  if (!user?.fhirUser || !FHIR_USER.test(user.fhirUser)) return undefined;
  return `${fhirBase.replace(/\/$/, '')}/${user.fhirUser}`;
}

export async function issueUserTokens(ctx: AppContext, input: UserTokenInput): Promise<{ response: TokenResponse; jti: string }> {
  const scope = formatScope(input.scopes);
  // One read of the user for every identifier the tokens may carry (the refresh grant passes it in).
  const user = input.user ?? await ctx.storage.users.getById(input.data.userId);
  const launch = input.launch ?? null;
  // The grant's launch context decides the patient; grants from before it existed fall back to the patient user's own record.
  const patient = launch?.patient ?? legacyPatientContext(user, input.scopes);
  // Break-glass (45 CFR 164.312(a)(2)(ii)): short-lived, never refreshed, marked with its purpose of use.
  const emergency = launch?.purposeOfUse !== undefined;
  // A self-registered AI agent: the shortest token lifetime, refresh tokens only when approved.
  const policy = await loadAgentPolicy(ctx, input.client);
  const at = await issueAccessToken(ctx, {
    clientId: input.client.clientId,
    subject: input.data.userId,
    audience: input.data.resource,
    scope,
    grantId: input.grantId,
    patient,
    dpopJkt: input.dpopJkt,
    ...(policy ? { lifetimeSeconds: policy.accessTokenTtl } : {}),
    ...(emergency ? { purposeOfUse: launch.purposeOfUse, lifetimeSeconds: ctx.config.breakglass.token_ttl_seconds } : {}),
  });
  const response: TokenResponse = {
    access_token: at.token, token_type: input.dpopJkt ? 'DPoP' : 'Bearer', expires_in: at.expiresIn, scope,
    // SMART App Launch 2.2 §"Launch context arrives with your access_token": patient, encounter, fhirContext, banner, style.
    ...launchResponseFields(launch),
  };
  if (patient !== undefined) response.patient = patient;
  const granted = input.data.scope.split(' ');
  // RFC 9700 §4.14.2: the AS decides per client whether refresh tokens are issued at all.
  if (!emergency && (!policy || policy.refreshTokens) && granted.includes('offline_access') && input.client.grantTypes.includes('refresh_token')) {
    // Confidential clients' refresh tokens are bound by client authentication instead (§5).
    const data: BoundRefreshGrantData = { ...input.data };
    if (input.client.tokenEndpointAuthMethod === 'none' && input.dpopJkt) data.dpopJkt = input.dpopJkt;
    response.refresh_token = await issueRefreshToken(ctx, {
      grantId: input.grantId,
      clientId: input.client.clientId,
      data,
      absoluteExpiresAt: input.absoluteExpiresAt,
    });
  }
  if (input.withIdToken && input.scopes.includes('openid')) {
    response.id_token = await issueIdToken(ctx, {
      clientId: input.client.clientId,
      userId: input.data.userId,
      authTime: input.data.authTime,
      nonce: input.nonce ?? undefined,
      accessToken: at.token,
      amr: input.data.amr,
      acr: input.data.acr,
      fhirUser: input.scopes.includes('fhirUser') ? fhirUserUrl(user, input.data.resource) : undefined,
    });
  }
  return { response, jti: at.jti };
}
