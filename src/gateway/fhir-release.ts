// What may leave the gateway of an upstream FHIR answer (docs/SECURITY.md "PHI gateway: patient/
// scopes reach only the patient in context": the upstream's response is checked before it is
// released, and a search result Bundle never carries another patient's resources). Runs on the
// parsed JSON, before masking, after the plan was made.
//
// - A single resource must be what was asked for (type, id) and, under a patient/ scope, in
//   the patient's compartment; otherwise nothing is released (403, or 502 for a mismatch).
// - Bundle entries are filtered: each kept entry is either a match of the searched type under the
//   authorising scope, or a resource the token could read on its own (its type under some scope,
//   and the compartment for patient/ scopes). `total` is dropped when anything was removed
//   (SMART: results may be omitted).
// - Batch/transaction responses are checked entry by entry against the plan of that entry.
// - OperationOutcome is always released (no PHI by construction of the upstream contract).
import { findAuthorisingScope } from '../smart/scopes.js';
import { inPatientCompartment, withinPatients } from './compartment.js';
import { accessDenied, badGateway, GatewayDenial, notOnPanel } from './errors.js';
import type { ReleaseCheck } from './fhir-policy.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ReleaseContext {
  scopes: readonly string[];
  /** The token's patient, if any. */
  patient?: string;
  /** The patients the token's user/ scopes reach (src/gateway/fhir-policy.ts PolicyOptions.userReach). */
  userReach?: ReadonlySet<string>;
  bases: readonly string[];
}

export interface ReleaseResult {
  /** Bundle entries withheld. */
  filtered: number;
}

/** Checks (and filters in place) a parsed upstream body; throws GatewayDenial when nothing may be released. */
export function releaseFhirBody(body: unknown, check: ReleaseCheck, rc: ReleaseContext): ReleaseResult {
  if (body === undefined) return { filtered: 0 };
  if (!isObject(body) || typeof body.resourceType !== 'string') throw badGateway('ERR_UPSTREAM_FORMAT');
  if (body.resourceType === 'OperationOutcome') return { filtered: 0 };
  switch (check.kind) {
    case 'capabilities':
      if (body.resourceType !== 'CapabilityStatement') throw badGateway('ERR_UPSTREAM_MISMATCH');
      return { filtered: 0 };
    case 'resource':
      checkResource(body, check, rc);
      return { filtered: 0 };
    case 'bundle':
      if (body.resourceType !== 'Bundle') throw badGateway('ERR_UPSTREAM_MISMATCH');
      return { filtered: filterBundle(body, check, rc) };
    case 'batch':
      return { filtered: filterBatchResponse(body, check, rc) };
  }
}

function checkResource(body: Json, check: Extract<ReleaseCheck, { kind: 'resource' }>, rc: ReleaseContext): void {
  if (body.resourceType !== check.resourceType || (check.id !== undefined && body.id !== check.id)) throw badGateway('ERR_UPSTREAM_MISMATCH');
  if (check.compartment !== undefined && !inPatientCompartment(body, check.compartment, rc.bases)) {
    // Also when the id was guessed: the upstream's answer is withheld, not just filtered.
    throw accessDenied('patient scopes reach only the patient in context', 'ERR_PATIENT_COMPARTMENT');
  }
  if (check.reach !== undefined && !withinPatients(body, check.reach, rc.bases)) {
    // A guessed id of a patient off the panel: withheld, like the compartment above.
    throw notOnPanel();
  }
}

/** Could the token read this resource on its own? */
function readableAlone(resource: Json, rc: ReleaseContext): boolean {
  const type = resource.resourceType;
  if (typeof type !== 'string') return false;
  if (type === 'OperationOutcome') return true;
  if (findAuthorisingScope(rc.scopes, { level: 'system', resourceType: type, interaction: 'read' })) return true;
  if (findAuthorisingScope(rc.scopes, { level: 'user', resourceType: type, interaction: 'read' })
    && (rc.userReach === undefined || withinPatients(resource, rc.userReach, rc.bases))) return true;
  return rc.patient !== undefined
    && findAuthorisingScope(rc.scopes, { level: 'patient', resourceType: type, interaction: 'read' }) !== undefined
    && inPatientCompartment(resource, rc.patient, rc.bases);
}

function filterBundle(bundle: Json, check: Extract<ReleaseCheck, { kind: 'bundle' }>, rc: ReleaseContext): number {
  if (bundle.entry === undefined) return 0;
  if (!Array.isArray(bundle.entry)) throw badGateway('ERR_UPSTREAM_FORMAT');
  const kept = bundle.entry.filter((entry: unknown) => {
    if (!isObject(entry)) return false;
    const resource = entry.resource;
    if (resource === undefined) return true; // e.g. a deleted version in a history Bundle
    if (!isObject(resource)) return false;
    const mode = isObject(entry.search) ? entry.search.mode : undefined;
    if (check.primaryType !== undefined && resource.resourceType === check.primaryType && mode !== 'include') {
      if (check.primaryLevel === 'user' && check.reach !== undefined) {
        const onPanel = withinPatients(resource, check.reach, rc.bases);
        if (!onPanel && check.strict) throw notOnPanel();
        return onPanel;
      }
      if (check.primaryLevel !== 'patient') return true;
      const own = rc.patient !== undefined && inPatientCompartment(resource, rc.patient, rc.bases);
      if (!own && check.strict) throw accessDenied('patient scopes reach only the patient in context', 'ERR_PATIENT_COMPARTMENT');
      return own;
    }
    return readableAlone(resource, rc);
  });
  const removed = bundle.entry.length - kept.length;
  if (removed > 0) {
    bundle.entry = kept;
    delete bundle.total;
  }
  return removed;
}

function filterBatchResponse(body: Json, check: Extract<ReleaseCheck, { kind: 'batch' }>, rc: ReleaseContext): number {
  if (body.resourceType !== 'Bundle' || typeof body.type !== 'string' || !body.type.endsWith('-response')) throw badGateway('ERR_UPSTREAM_MISMATCH');
  const entries = body.entry ?? [];
  if (!Array.isArray(entries) || entries.length !== check.entries.length) throw badGateway('ERR_UPSTREAM_MISMATCH');
  let withheld = 0;
  entries.forEach((entry: unknown, i: number) => {
    if (!isObject(entry) || entry.resource === undefined) return;
    try {
      withheld += releaseFhirBody(entry.resource, check.entries[i]!, rc).filtered;
    } catch (err) {
      if (!(err instanceof GatewayDenial)) throw err;
      // This entry's resource is withheld; the others are released.
      entries[i] = { response: { status: err.status === 403 ? '403 Forbidden' : '502 Bad Gateway' } };
      withheld += 1;
    }
  });
  return withheld;
}
