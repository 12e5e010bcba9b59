// Names for the practitioner's patient picker (SMART App Launch 2.2 standalone launch/patient):
// the consent page asks the FHIR server behind the request's resource (a `fhir` gateway route)
// for the panel's Patient names and birth dates, as the practitioner (identity headers, signed
// when the route signs them), and records the read in the ledger before showing anything
// (45 CFR 164.312(b)). Any failure, a slow answer included, falls back to the bare FHIR ids: the
// picker never waits more than LOOKUP_TIMEOUT_MS and never shows a name it could not audit.
// Names are shown on the page only: never logged, stored or put in a token.
import { gatewayIdentityKey, identityHeaders } from '../gateway/identity.js';
import type { AppContext } from '../context/app-context.js';

export const LOOKUP_TIMEOUT_MS = 2000;
const MAX_LABEL = 120;

interface FhirPatient {
  resourceType?: unknown;
  id?: unknown;
  birthDate?: unknown;
  name?: Array<{ text?: unknown; family?: unknown; given?: unknown }>;
}

function labelOf(patient: FhirPatient): string | undefined {
  const name = patient.name?.[0];
  const text = typeof name?.text === 'string' ? name.text
    : [...(Array.isArray(name?.given) ? name.given.filter((g): g is string => typeof g === 'string') : []), typeof name?.family === 'string' ? name.family : '']
      .filter(Boolean).join(' ');
  if (!text) return undefined;
  const born = typeof patient.birthDate === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(patient.birthDate) ? ` (born ${patient.birthDate})` : '';
  return `${text}${born}`.slice(0, MAX_LABEL);
}

/**
 * Display labels ("Given Family (born YYYY-MM-DD)") for the FHIR Patient ids, keyed by id; ids
 * without a label are left out. Resolves an empty map when there is no FHIR route for the
 * resource, or on any error.
 */
export async function patientLabels(
  ctx: AppContext,
  input: { resource: string; ids: readonly string[]; userId: string; clientId: string; requestId: string; sourceAddress: string },
): Promise<Map<string, string>> {
  const labels = new Map<string, string>();
  const route = ctx.config.gateway.routes.find((r) => r.type === 'fhir' && r.audience === input.resource);
  if (!route || input.ids.length === 0) return labels;
  try {
    const base = new URL(route.upstream);
    const pathAndQuery = `/Patient?_id=${input.ids.map(encodeURIComponent).join(',')}`;
    const wirePath = `${base.pathname.replace(/\/$/, '')}${pathAndQuery}`;
    const scopes = ['user/Patient.rs'];
    const headers = {
      accept: 'application/fhir+json',
      ...identityHeaders(route.identity.header_prefix, { subject: input.userId, clientId: input.clientId, scopes, requestId: input.requestId },
        { method: 'GET', pathAndQuery: wirePath, timestamp: Math.floor(ctx.now() / 1000) }, route.identity.sign ? gatewayIdentityKey(ctx.masterKey) : undefined),
    };
    const res = await fetch(`${base.origin}${wirePath}`, { headers, redirect: 'error', signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
    if (!res.ok) return labels;
    const bundle = await res.json() as { entry?: Array<{ resource?: FhirPatient }> };
    const wanted = new Set(input.ids);
    const found = new Map<string, string>();
    for (const entry of bundle.entry ?? []) {
      const patient = entry.resource;
      if (patient?.resourceType !== 'Patient' || typeof patient.id !== 'string' || !wanted.has(patient.id)) continue;
      const label = labelOf(patient);
      if (label) found.set(patient.id, label);
    }
    // No audit, no access: the names are shown only once each patient's read is in the ledger
    // (one event per patient, so the accounting of disclosures finds it).
    await Promise.all([...found.keys()].map((id) => ctx.audit.record({
      type: 'phi.accessed', actor: { userId: input.userId, clientId: input.clientId }, patient: `Patient/${id}`, resource: `Patient/${id}`,
      action: 'search-type', outcome: 'success', requestId: input.requestId, sourceAddress: input.sourceAddress,
      details: { purpose: 'patient_picker', route: route.prefix, upstream_status: res.status },
    })));
    return found;
  } catch {
    return labels;
  }
}
