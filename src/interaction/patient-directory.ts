// Patient demographics for the people who use these pages: names and birth dates on the patient
// picker, the consent page and the account page, and the emergency-access search. They are read
// from the FHIR server behind the resource (a `fhir` gateway route) as the person who will see them
// (identity headers, signed when the route signs them; a patient reads with their own record in
// context), and every patient read is recorded in the ledger (phi.accessed, one event per patient so
// the accounting of disclosures finds it, 45 CFR 164.312(b), 164.528) before anything is shown:
// no audit, no access. A lookup never waits more than LOOKUP_TIMEOUT_MS.
//
// Demographics are shown on the page only: never logged, stored, put in a token or in a URL. The
// search criteria typed into the emergency-access form are PHI too: they travel in the request to
// the FHIR server and nowhere else.
import { gatewayIdentityKey, identityHeaders } from '../gateway/identity.js';
import type { AppContext } from '../context/app-context.js';
import { FHIR_ID } from '../util/fhir-id.js';

export const LOOKUP_TIMEOUT_MS = 2000;
const MAX_TEXT = 120;
/** The client named in the identity headers when Caduceus reads for its own pages (the account page). */
export const OWN_PAGES_CLIENT = 'caduceus';

/** Who the read is for: the signed-in person, the app they are deciding about, the request. */
export interface PatientReader {
  userId: string;
  /** The app of the authorization being decided; absent on Caduceus's own pages. */
  clientId?: string;
  /** A patient reading their own record: that record is the patient in context of the read. */
  patient?: string;
  requestId: string;
  sourceAddress: string;
}

/** What the pages show of a Patient resource. */
export interface PatientSummary {
  id: string;
  /** "Given Family" (or the name's text); absent when the record has no usable name. */
  name?: string;
  /** YYYY, YYYY-MM or YYYY-MM-DD. */
  birthDate?: string;
  /** The medical record number (identifier of type MR, else the first identifier), when there is one. */
  recordNumber?: string;
}

export type PatientLookup =
  /** more: further patients matched beyond the limit (neither shown nor recorded). */
  | { ok: true; patients: PatientSummary[]; more?: boolean }
  /** no_route: no FHIR route serves the resource; unavailable: the FHIR server or the ledger did not answer. */
  | { ok: false; problem: 'no_route' | 'unavailable' };

export interface FhirPatient {
  resourceType?: unknown;
  id?: unknown;
  birthDate?: unknown;
  name?: Array<{ text?: unknown; family?: unknown; given?: unknown }>;
  identifier?: Array<{ value?: unknown; type?: { coding?: Array<{ code?: unknown }> } }>;
}

const BIRTH_DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

function summaryOf(patient: FhirPatient & { id: string }): PatientSummary {
  const name = Array.isArray(patient.name) ? patient.name[0] : undefined;
  const given = Array.isArray(name?.given) ? name.given.filter((g): g is string => typeof g === 'string') : [];
  const text = typeof name?.text === 'string' ? name.text : [...given, typeof name?.family === 'string' ? name.family : ''].filter(Boolean).join(' ');
  const identifiers = Array.isArray(patient.identifier) ? patient.identifier : [];
  const mrn = identifiers.find((i) => i.type?.coding?.some((c) => c.code === 'MR')) ?? identifiers[0];
  return {
    id: patient.id,
    ...(text ? { name: text.slice(0, MAX_TEXT) } : {}),
    ...(typeof patient.birthDate === 'string' && BIRTH_DATE.test(patient.birthDate) ? { birthDate: patient.birthDate } : {}),
    ...(typeof mrn?.value === 'string' && mrn.value ? { recordNumber: mrn.value.slice(0, MAX_TEXT) } : {}),
  };
}

/** "Given Family (born YYYY-MM-DD)", or undefined when the record has no name. */
export function patientLabel(patient: PatientSummary): string | undefined {
  if (!patient.name) return undefined;
  return patient.birthDate ? `${patient.name} (born ${patient.birthDate})` : patient.name;
}

/**
 * Runs one Patient search on the FHIR server behind `resource` as `reader`, keeps the patients
 * `keep` accepts (at most `limit`), and records the read of each kept patient in the ledger with
 * `purpose` before resolving them. Patients not kept are neither shown nor recorded.
 */
export async function readPatients(
  ctx: AppContext,
  input: {
    resource: string; reader: PatientReader; query: URLSearchParams; purpose: string; limit?: number;
    /** Whether a returned patient is one asked for (a server may ignore a search parameter it does not support). */
    keep?: (patient: FhirPatient) => boolean;
  },
): Promise<PatientLookup> {
  const route = ctx.config.gateway.routes.find((r) => r.type === 'fhir' && r.audience === input.resource);
  if (!route) return { ok: false, problem: 'no_route' };
  const { reader } = input;
  try {
    const base = new URL(route.upstream);
    const pathAndQuery = `/Patient?${input.query.toString()}`;
    const wirePath = `${base.pathname.replace(/\/$/, '')}${pathAndQuery}`;
    const scopes = reader.patient !== undefined ? ['patient/Patient.rs'] : ['user/Patient.rs'];
    const identity = { subject: reader.userId, clientId: reader.clientId ?? OWN_PAGES_CLIENT, scopes, requestId: reader.requestId, ...(reader.patient !== undefined ? { patient: reader.patient } : {}) };
    const headers = {
      accept: 'application/fhir+json',
      // A server that cannot honour a search parameter must refuse rather than ignore it (FHIR R4 §3.1.1.4.1 handling=strict).
      prefer: 'handling=strict',
      ...identityHeaders(route.identity.header_prefix, identity, { method: 'GET', pathAndQuery: wirePath, timestamp: Math.floor(ctx.now() / 1000) },
        route.identity.sign ? gatewayIdentityKey(ctx.masterKey) : undefined),
    };
    const res = await fetch(`${base.origin}${wirePath}`, { headers, redirect: 'error', signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      return { ok: false, problem: 'unavailable' };
    }
    const bundle = await res.json() as { entry?: Array<{ resource?: FhirPatient }> };
    const found = new Map<string, PatientSummary>();
    let more = false;
    for (const entry of Array.isArray(bundle.entry) ? bundle.entry : []) {
      const patient = entry.resource;
      if (patient?.resourceType !== 'Patient' || typeof patient.id !== 'string' || !FHIR_ID.test(patient.id) || found.has(patient.id)) continue;
      if (input.keep && !input.keep(patient)) continue;
      if (input.limit !== undefined && found.size >= input.limit) {
        more = true;
        break;
      }
      found.set(patient.id, summaryOf(patient as FhirPatient & { id: string }));
    }
    await Promise.all([...found.keys()].map((id) => ctx.audit.record({
      type: 'phi.accessed', actor: { userId: reader.userId, ...(reader.clientId !== undefined ? { clientId: reader.clientId } : {}) },
      patient: `Patient/${id}`, resource: `Patient/${id}`, action: 'search-type', outcome: 'success', requestId: reader.requestId,
      sourceAddress: reader.sourceAddress, details: { purpose: input.purpose, route: route.prefix, upstream_status: res.status },
    })));
    return { ok: true, patients: [...found.values()], ...(more ? { more } : {}) };
  } catch {
    return { ok: false, problem: 'unavailable' };
  }
}

/** The patients with these ids (one search), for display; ids the server does not know are left out. */
export function patientsById(
  ctx: AppContext, input: { resource: string; reader: PatientReader; ids: readonly string[]; purpose: string },
): Promise<PatientLookup> {
  const wanted = new Set(input.ids.filter((id) => FHIR_ID.test(id)));
  if (wanted.size === 0) return Promise.resolve({ ok: true, patients: [] });
  return readPatients(ctx, {
    resource: input.resource, reader: input.reader, purpose: input.purpose, query: new URLSearchParams({ _id: [...wanted].join(',') }),
    // A server that ignored _id would answer with other patients: only the ones asked for are kept.
    keep: (p) => wanted.has(p.id as string),
  });
}
