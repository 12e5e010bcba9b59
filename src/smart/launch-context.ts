// SMART App Launch 2.2 launch context (scopes-and-launch-context.md, app-launch.md §EHR launch).
//
// An EHR creates a launch context (patient, encounter, fhirContext, banner and style hints) through
// the launch API (src/smart/launch-endpoint.ts) and hands the app an opaque `launch` value. The
// authorization request redeems it once, for the client it was made for, before it expires. The
// chosen context is stored on the grant and comes back in the token response and in introspection.
// Identifiers only: FHIR ids and relative references, never demographics.
import { keyedDigest } from '../crypto/digest.js';
import { randomToken } from '../crypto/random.js';
import { invalidRequest } from '../errors/oauth-error.js';
import type { AppContext } from '../context/app-context.js';
import type { LaunchContext } from '../storage/types.js';
import { FHIR_ID, FHIR_ID_SOURCE } from '../util/fhir-id.js';

/** How long a launch value may wait for its authorization request. */
export const LAUNCH_TTL_SECONDS = 300;

const RELATIVE_REFERENCE = new RegExp(`^[A-Z][A-Za-z]{0,63}/${FHIR_ID_SOURCE}$`);
const LAUNCH_VALUE = /^[A-Za-z0-9_-]{43}$/;
const MAX_FHIR_CONTEXT = 10;

export function launchDigest(ctx: AppContext, launch: string): string {
  return keyedDigest(ctx.masterKey.digestKey('smart-launch'), launch);
}

/**
 * Validates launch context input from an EHR (JSON body of the launch API). Throws invalid_request
 * naming the field. Accepts `patient` and `encounter` as ids or as "Patient/123" references.
 */
export function parseLaunchContextInput(body: Record<string, unknown>): LaunchContext {
  const context: LaunchContext = {};
  const id = (field: string, type: string): string | undefined => {
    const value = body[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw invalidRequest(`${field} must be a string: a FHIR ${type} id`);
    const bare = value.startsWith(`${type}/`) ? value.slice(type.length + 1) : value;
    if (!FHIR_ID.test(bare)) throw invalidRequest(`${field} must be a FHIR ${type} id (letters, digits, "-" and ".", at most 64)`);
    return bare;
  };
  const patient = id('patient', 'Patient');
  if (patient !== undefined) context.patient = patient;
  const encounter = id('encounter', 'Encounter');
  if (encounter !== undefined) context.encounter = encounter;
  const fhirContext = body.fhirContext ?? body.fhir_context;
  if (fhirContext !== undefined) {
    if (!Array.isArray(fhirContext) || fhirContext.length > MAX_FHIR_CONTEXT) {
      throw invalidRequest(`fhirContext must be an array of at most ${MAX_FHIR_CONTEXT} objects like {"reference": "Appointment/123"}`);
    }
    context.fhirContext = fhirContext.map((item, i) => fhirContextItem(item, i));
  }
  const banner = body.need_patient_banner;
  if (banner !== undefined) {
    if (typeof banner !== 'boolean') throw invalidRequest('need_patient_banner must be true or false');
    context.needPatientBanner = banner;
  }
  const style = body.smart_style_url;
  if (style !== undefined) {
    if (typeof style !== 'string' || !isHttpsUrl(style)) throw invalidRequest('smart_style_url must be an absolute https URL');
    context.smartStyleUrl = style;
  }
  return context;
}

function fhirContextItem(item: unknown, i: number): { reference?: string; canonical?: string; type?: string; role?: string } {
  const where = `fhirContext[${i}]`;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalidRequest(`${where} must be an object`);
  const { reference, canonical, type, role, ...rest } = item as Record<string, unknown>;
  if (Object.keys(rest).length) throw invalidRequest(`${where} may only have reference, canonical, type and role`);
  const out: { reference?: string; canonical?: string; type?: string; role?: string } = {};
  if (reference !== undefined) {
    if (typeof reference !== 'string' || !RELATIVE_REFERENCE.test(reference)) throw invalidRequest(`${where}.reference must be a relative reference like "Appointment/123"`);
    out.reference = reference;
  }
  if (canonical !== undefined) {
    if (typeof canonical !== 'string' || !/^https?:\/\/\S{1,500}$/.test(canonical)) throw invalidRequest(`${where}.canonical must be a canonical URL`);
    out.canonical = canonical;
  }
  if (out.reference === undefined && out.canonical === undefined) throw invalidRequest(`${where} needs a reference or a canonical`);
  if (type !== undefined) {
    if (typeof type !== 'string' || !/^[A-Z][A-Za-z]{0,63}$/.test(type)) throw invalidRequest(`${where}.type must be a FHIR resource type`);
    out.type = type;
  }
  if (role !== undefined) {
    if (typeof role !== 'string' || !/^https?:\/\/\S{1,500}$|^[a-z][a-z0-9-]{0,63}$/.test(role)) throw invalidRequest(`${where}.role must be a URI or a short code`);
    out.role = role;
  }
  return out;
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:' && value.length <= 2000;
  } catch {
    return false;
  }
}

/** Stores a launch context for `clientId` and returns the opaque launch value (256 bits). */
export async function createLaunch(ctx: AppContext, input: { clientId: string; createdBy: string; context: LaunchContext }): Promise<{ launch: string; expiresIn: number }> {
  const launch = randomToken(32);
  const now = ctx.now();
  await ctx.storage.launchContexts.save({
    digest: launchDigest(ctx, launch), clientId: input.clientId, context: input.context, createdBy: input.createdBy,
    createdAt: now, expiresAt: now + LAUNCH_TTL_SECONDS * 1000, consumedAt: null,
  });
  return { launch, expiresIn: LAUNCH_TTL_SECONDS };
}

/**
 * Redeems the `launch` authorization parameter (EHR launch): once, by the client it was made for,
 * before it expires. The request must also ask for the `launch` scope (SMART 2.2: "launch":
 * permission to obtain launch context when the app is launched from an EHR).
 */
export async function redeemLaunch(ctx: AppContext, clientId: string, launch: string, scopes: readonly string[]): Promise<LaunchContext> {
  if (!scopes.includes('launch')) throw invalidRequest('the launch parameter needs the "launch" scope');
  if (!LAUNCH_VALUE.test(launch)) throw invalidRequest('launch is not a value issued by this server');
  const now = ctx.now();
  const consumed = await ctx.storage.launchContexts.consume(launchDigest(ctx, launch), now);
  if (consumed.status === 'unknown') throw invalidRequest('launch is not a value issued by this server');
  if (consumed.status === 'replayed') throw invalidRequest('launch was already used; launch the app again from the EHR');
  if (consumed.record.clientId !== clientId) throw invalidRequest('launch was issued for another application');
  if (consumed.record.expiresAt <= now) throw invalidRequest('launch has expired; launch the app again from the EHR');
  return consumed.record.context;
}

/** The SMART token response fields of a launch context (SMART 2.2 §"Launch context arrives with your access_token"). */
export function launchResponseFields(context: LaunchContext | null | undefined): Record<string, unknown> {
  if (!context) return {};
  return {
    ...(context.patient !== undefined ? { patient: context.patient } : {}),
    ...(context.encounter !== undefined ? { encounter: context.encounter } : {}),
    ...(context.fhirContext?.length ? { fhirContext: context.fhirContext } : {}),
    ...(context.needPatientBanner !== undefined ? { need_patient_banner: context.needPatientBanner } : {}),
    ...(context.smartStyleUrl !== undefined ? { smart_style_url: context.smartStyleUrl } : {}),
    ...(context.purposeOfUse !== undefined ? { purpose_of_use: context.purposeOfUse } : {}),
  };
}

/**
 * Keeps only what the granted scopes ask for: launch/encounter for the encounter (SMART App Launch
 * 2.2, "Scopes for requesting context data").
 */
export function contextForScopes(context: LaunchContext, scopes: readonly string[]): LaunchContext {
  const out: LaunchContext = { ...context };
  if (!scopes.includes('launch') && !scopes.includes('launch/encounter')) delete out.encounter;
  if (!scopes.includes('launch')) delete out.fhirContext;
  return out;
}
