// What a FHIR request may do with a given token, decided before anything reaches the upstream:
// the SMART scope that authorises it (SMART App Launch 2.2 scopes-and-launch-context, "Scopes for
// requesting FHIR Resources"), the patient compartment it is bound to ("Scopes for requesting
// context data"; docs/SECURITY.md "PHI gateway: patient/ scopes reach only the patient in
// context"), and exactly what is forwarded. Pure: no I/O. The response side is
// src/gateway/fhir-release.ts.
//
// Scope choice: scopes combine as a union (SMART "Scope Equivalence"); a system/ scope that
// authorises the request is preferred (no limit), then a user/ scope (bound to the user's patients,
// below). Otherwise a patient/ scope needs the token's patient and binds the request to that
// patient's compartment.
//
// A user/ scope reaches what the user may reach: for a practitioner, the patients on their panel
// (options.userReach, 45 CFR 164.502(b) minimum necessary). A request about a patient-compartment
// type that a user/ scope authorises is bound to those patients: Patient/{id} off the panel is
// refused before the upstream is asked, answers are checked (reads) or filtered (searches), writes
// must be about a panel patient. Types outside the compartment are not limited.
//
// With a patient/ scope the gateway deliberately refuses what it cannot check beforehand:
// patch, type and system history, system search, conditional writes, update and delete inside
// batches, and any type outside PATIENT_COMPARTMENT.
import { findAuthorisingScope, INTERACTION_PERMISSION, tryParseSmartScope, type Interaction, type ScopeLevel } from '../smart/scopes.js';
import { constrainSearchToPatient, inCompartmentTypes, inPatientCompartment, PATIENT_COMPARTMENT, singlePatientOf, withinPatients } from './compartment.js';
import { accessDenied, GatewayDenial, insufficientScope, notOnPanel } from './errors.js';
import { actionName, classifyFhirRequest, fhirPath, type FhirRequest } from './fhir-request.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';

/** How the upstream's answer must be checked before it is released (src/gateway/fhir-release.ts). */
export type ReleaseCheck =
  | { kind: 'capabilities' }
  | { kind: 'resource'; resourceType: string; id?: string; compartment?: string; reach?: ReadonlySet<string> }
  | {
      kind: 'bundle';
      primaryType?: string;
      primaryLevel?: ScopeLevel;
      /** With primaryLevel user: primary entries must belong to these patients (the others are withheld). */
      reach?: ReadonlySet<string>;
      /** Refuse the whole answer (instead of filtering) when a primary entry is another patient's: instance history. */
      strict?: boolean;
    }
  | { kind: 'batch'; entries: ReleaseCheck[] };

export type ForwardBody = { json: unknown; contentType?: string } | { form: URLSearchParams };

export interface FhirPlan {
  /** Ledger `action`: read, vread, search, history, create, update, patch, delete, operation:$x, batch, transaction. */
  action: string;
  /** Ledger `resource`: "Observation/obs-1", or the type for type-level interactions, or "Bundle". */
  resource: string;
  /** The granted scope(s) that authorise the request (space-separated for batches). */
  scopeUsed?: string;
  /** Set when a patient/ scope authorises: everything released must be in this patient's compartment. */
  compartment?: string;
  /** Set when a user/ scope authorises a compartment-type request: it must stay with these patients (the pre-read of a write checks it). */
  reach?: ReadonlySet<string>;
  /** For the ledger: the patient the request names, when it names exactly one. */
  patientHint?: string;
  forward: { method: string; path: string; query: URLSearchParams; body?: ForwardBody };
  /** Read this first and refuse unless it is in the compartment (writes under patient/ scopes). */
  preRead?: { path: string; resourceType: string; id: string };
  release: ReleaseCheck;
}

export interface PolicyOptions {
  /** Base URLs under which absolute references are understood (upstream and public). */
  bases: readonly string[];
  /**
   * The patients a user/ scope of this token reaches: the token subject's panel (empty for an
   * account with none, or unknown). Undefined when the token carries no user/ scope.
   */
  userReach?: ReadonlySet<string>;
}

/** Most entries in a batch or transaction Bundle. */
export const MAX_BUNDLE_ENTRIES = 200;

type InteractionRequest = Extract<FhirRequest, { kind: 'interaction' }>;
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const READ_LIKE: ReadonlySet<Interaction> = new Set(['read', 'vread', 'history-instance']);

/** The scope an insufficient_scope challenge names (RFC 6750 §3 `scope`). */
function requiredScope(token: VerifiedAccessToken, resourceType: string, interaction: Interaction): string {
  const firstLevel = token.scopes.map(tryParseSmartScope).find((s) => s?.kind === 'resource');
  const level = token.patient ? 'patient' : firstLevel?.kind === 'resource' ? firstLevel.level : 'user';
  return `${level}/${resourceType}.${INTERACTION_PERMISSION[interaction]}`;
}

interface Chosen {
  scope: string;
  level: ScopeLevel;
  params: URLSearchParams;
}

function chooseScope(token: VerifiedAccessToken, resourceType: string, interaction: Interaction, params: URLSearchParams): Chosen {
  for (const level of ['system', 'user'] as const) {
    const scope = findAuthorisingScope(token.scopes, { level, resourceType, interaction, searchParams: params });
    if (scope) return { scope, level, params };
  }
  // Is there a patient/ scope for this type and permission at all (granular constraints aside)?
  const letter = INTERACTION_PERMISSION[interaction];
  const patientScopes = token.scopes.map(tryParseSmartScope).filter((s) => s?.kind === 'resource' && s.level === 'patient'
    && s.permissions.includes(letter) && (s.resourceType === '*' || s.resourceType === resourceType));
  if (patientScopes.length === 0) throw insufficientScope(requiredScope(token, resourceType, interaction));
  // SMART App Launch 2.2 ("Scopes for requesting context data"): a patient/ scope needs a patient
  // in context ("the EHR SHALL establish a patient in context").
  if (!token.patient) throw accessDenied('patient scopes need a patient in context, and this token has none', 'ERR_NO_PATIENT_CONTEXT');
  if (resourceType === '*' || !inCompartmentTypes(resourceType)) {
    throw accessDenied(resourceType === '*' ? 'patient scopes cannot search or read across all types' : `${resourceType} is not reachable with patient scopes`, resourceType === '*' ? 'ERR_INTERACTION_NOT_ALLOWED' : 'ERR_NOT_IN_COMPARTMENT_TYPES');
  }
  const constrained = interaction === 'search-type' ? constrainSearchToPatient(resourceType, params, token.patient) : params;
  const scope = findAuthorisingScope(token.scopes, { level: 'patient', resourceType, interaction, searchParams: constrained });
  if (!scope) throw insufficientScope(requiredScope(token, resourceType, interaction));
  return { scope, level: 'patient', params: constrained };
}

function bodyResource(req: InteractionRequest): Json {
  const r = req.resource;
  if (!r || r.resourceType !== req.resourceType) {
    throw new GatewayDenial('invalid_request', `the body must be a ${req.resourceType} resource in JSON`, 'ERR_BODY_INVALID');
  }
  if (req.interaction === 'update' && r.id !== req.id) {
    throw new GatewayDenial('invalid_request', 'the resource id in the body must match the id in the URL', 'ERR_BODY_INVALID');
  }
  return r;
}

function searchPatientHint(params: URLSearchParams, type: string): string | undefined {
  const values = type === 'Patient' ? params.getAll('_id') : [...params.getAll('patient'), ...params.getAll('subject')];
  const ids = new Set(values.flatMap((v) => v.split(',')).map((v) => v.replace(/^Patient\//, '')));
  return ids.size === 1 ? [...ids][0] : undefined;
}

function planInteraction(req: InteractionRequest, token: VerifiedAccessToken, options: PolicyOptions, inBundle: boolean): FhirPlan {
  const { interaction, resourceType: type, id } = req;
  const chosen = chooseScope(token, type, interaction, req.params);
  const patient = chosen.level === 'patient' ? token.patient! : undefined;
  const reach = chosen.level === 'user' && options.userReach && (type === '*' || inCompartmentTypes(type)) ? options.userReach : undefined;
  const plan: FhirPlan = {
    action: actionName(req),
    resource: id ? `${type}/${id}` : type,
    scopeUsed: chosen.scope,
    ...(patient ? { compartment: patient } : {}),
    ...(reach ? { reach } : {}),
    forward: { method: interaction === 'search-type' || interaction === 'search-system' ? (req.viaPost ? 'POST' : 'GET') : methodOf(interaction), path: fhirPath(req), query: chosen.params },
    release: { kind: 'resource', resourceType: type, ...(id ? { id } : {}), ...(patient ? { compartment: patient } : {}), ...(reach ? { reach } : {}) },
  };
  if (req.viaPost) {
    plan.forward.body = { form: chosen.params };
    plan.forward.query = new URLSearchParams();
  }
  const ownPatient = () => {
    // Patient/{other} under a patient/ scope: refused before the upstream is asked.
    if (patient && type === 'Patient' && id !== patient) throw accessDenied('patient scopes reach only the patient in context', 'ERR_PATIENT_COMPARTMENT');
    // Patient/{id} off the practitioner's panel under a user/ scope: likewise.
    if (reach && type === 'Patient' && (id === undefined || !reach.has(id))) throw notOnPanel();
  };

  switch (interaction) {
    case 'read':
    case 'vread':
      ownPatient();
      break;
    case 'history-instance':
      ownPatient();
      // The versions of one resource: another patient's resource is refused, not shown empty.
      plan.release = { kind: 'bundle', primaryType: type, primaryLevel: chosen.level, strict: true, ...(reach ? { reach } : {}) };
      break;
    case 'search-type':
    case 'search-system':
    case 'history-type':
    case 'history-system':
      if (patient && interaction !== 'search-type') throw accessDenied('patient scopes cannot use system search or type/system history', 'ERR_INTERACTION_NOT_ALLOWED');
      plan.release = { kind: 'bundle', ...(type !== '*' ? { primaryType: type } : {}), primaryLevel: chosen.level, ...(reach ? { reach } : {}) };
      break;
    case 'create': {
      const body = bodyResource(req);
      if (patient && (type === 'Patient' || !inPatientCompartment(body, patient, options.bases))) {
        throw accessDenied('patient scopes can only create resources for the patient in context', 'ERR_PATIENT_COMPARTMENT');
      }
      if (reach && !withinPatients(body, reach, options.bases)) throw notOnPanel();
      plan.forward.body = { json: body };
      // The server assigns the id: the answer must be a resource of this type (in the compartment).
      plan.release = { kind: 'resource', resourceType: type, ...(patient ? { compartment: patient } : {}), ...(reach ? { reach } : {}) };
      break;
    }
    case 'update': {
      const body = bodyResource(req);
      ownPatient();
      if (patient && !inPatientCompartment(body, patient, options.bases)) {
        throw accessDenied('patient scopes can only write resources of the patient in context', 'ERR_PATIENT_COMPARTMENT');
      }
      if (reach && !withinPatients(body, reach, options.bases)) throw notOnPanel();
      plan.forward.body = { json: body };
      if ((patient || reach) && type !== 'Patient') {
        if (inBundle) throw accessDenied(`${patient ? 'patient' : 'panel-limited user'} scopes cannot update inside a batch or transaction`, 'ERR_INTERACTION_NOT_ALLOWED');
        plan.preRead = { path: `/${type}/${id}`, resourceType: type, id: id! };
      }
      break;
    }
    case 'delete':
      ownPatient();
      if ((patient || reach) && type !== 'Patient') {
        if (inBundle) throw accessDenied(`${patient ? 'patient' : 'panel-limited user'} scopes cannot delete inside a batch or transaction`, 'ERR_INTERACTION_NOT_ALLOWED');
        plan.preRead = { path: `/${type}/${id}`, resourceType: type, id: id! };
      }
      break;
    case 'patch':
      if (patient) throw accessDenied('patient scopes cannot patch (the result cannot be checked before it is written)', 'ERR_INTERACTION_NOT_ALLOWED');
      if (inBundle) throw accessDenied('patch is not supported inside a batch or transaction', 'ERR_INTERACTION_NOT_ALLOWED');
      if (req.patch === undefined) throw new GatewayDenial('invalid_request', 'a patch needs a JSON body', 'ERR_BODY_INVALID');
      ownPatient();
      if (reach && type !== 'Patient') {
        // The current version must be a panel patient's (read first, the write pinned to it), and
        // the patch must not move it to another patient: a JSON Patch that leaves the owning
        // element alone. A FHIRPath Patch cannot be checked that way and is refused.
        if (!Array.isArray(req.patch) || req.patch.some((op) => touchesOwner(op, type))) {
          throw accessDenied('panel-limited user scopes can patch only with a JSON Patch that leaves the patient reference alone', 'ERR_INTERACTION_NOT_ALLOWED');
        }
        plan.preRead = { path: `/${type}/${id}`, resourceType: type, id: id! };
      }
      // JSON Patch (an array) or FHIRPath Patch (a Parameters resource); re-serialised like every body.
      plan.forward.body = { json: req.patch, contentType: Array.isArray(req.patch) ? 'application/json-patch+json' : 'application/fhir+json' };
      break;
  }
  plan.patientHint = patient
    ?? (type === 'Patient' && id ? id : undefined)
    ?? (interaction === 'search-type' ? searchPatientHint(chosen.params, type) : undefined)
    ?? (READ_LIKE.has(interaction) ? undefined : singlePatientOf(req.resource, options.bases));
  return plan;
}

/** Could this JSON Patch operation change which patient the resource belongs to (or is it unreadable)? */
function touchesOwner(op: unknown, type: string): boolean {
  if (!isObject(op)) return true;
  const owners = PATIENT_COMPARTMENT[type] ?? [];
  return [op.path, op.from].some((p) => p !== undefined && (typeof p !== 'string' || p === '' || p === '/'
    || owners.some((e) => p === `/${e}` || p.startsWith(`/${e}/`))));
}

function methodOf(interaction: Interaction): string {
  switch (interaction) {
    case 'create': return 'POST';
    case 'update': return 'PUT';
    case 'patch': return 'PATCH';
    case 'delete': return 'DELETE';
    default: return 'GET';
  }
}

function planOperation(req: Extract<FhirRequest, { kind: 'operation' }>, token: VerifiedAccessToken, method: string, options: PolicyOptions): FhirPlan {
  // Only Patient/{id}/$everything is known; every other operation is denied (deny by default).
  if (req.name !== '$everything' || req.resourceType !== 'Patient' || !req.id || (method !== 'GET' && method !== 'HEAD')) {
    throw accessDenied(`the operation ${req.name} is not allowed through this gateway`, 'ERR_INTERACTION_NOT_ALLOWED');
  }
  const chosen = chooseScope(token, 'Patient', 'read', req.params);
  if (chosen.level === 'patient' && req.id !== token.patient) throw accessDenied('patient scopes reach only the patient in context', 'ERR_PATIENT_COMPARTMENT');
  if (chosen.level === 'user' && options.userReach && !options.userReach.has(req.id)) throw notOnPanel();
  return {
    action: actionName(req), resource: `Patient/${req.id}`, scopeUsed: chosen.scope, patientHint: req.id,
    ...(chosen.level === 'patient' ? { compartment: token.patient! } : {}),
    forward: { method: 'GET', path: fhirPath(req), query: req.params },
    // Every entry must be readable on its own (type scope, and the compartment for patient/ scopes).
    release: { kind: 'bundle' },
  };
}

// SMART App Launch 2.2 scopes-and-launch-context: "batch and transaction requests should be
// validated based on the actual requests within them."
function planBundle(req: Extract<FhirRequest, { kind: 'bundle' }>, token: VerifiedAccessToken, options: PolicyOptions): FhirPlan {
  const entries = req.bundle.entry ?? [];
  if (!Array.isArray(entries) || entries.length > MAX_BUNDLE_ENTRIES) {
    throw new GatewayDenial('invalid_request', `a ${req.bundleType} Bundle may hold at most ${MAX_BUNDLE_ENTRIES} entries`, 'ERR_BATCH_ENTRY');
  }
  const plans: FhirPlan[] = [];
  const forwarded = entries.map((entry: unknown, i: number) => {
    const fail = (e: GatewayDenial) => new GatewayDenial(e.error, `entry ${i}: ${e.description}`, e.reason, { status: e.status, ...(e.requiredScope ? { requiredScope: e.requiredScope } : {}), details: { entry: i } });
    try {
      const request = isObject(entry) && isObject(entry.request) ? entry.request : undefined;
      const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
      const url = typeof request?.url === 'string' ? request.url : '';
      if (!request || !['GET', 'POST', 'PUT', 'DELETE'].includes(method) || url === '' || url.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(url)) {
        throw accessDenied('each entry needs request.method and a relative request.url', 'ERR_BATCH_ENTRY');
      }
      const q = url.indexOf('?');
      const classified = classifyFhirRequest({
        method, path: `/${q < 0 ? url : url.slice(0, q)}`, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)), body: (entry as Json).resource,
      });
      if (classified.kind !== 'interaction' || classified.viaPost) throw accessDenied('only read, vread, search, history, create, update and delete entries are allowed', 'ERR_BATCH_ENTRY');
      const plan = planInteraction(classified, token, options, true);
      plans.push(plan);
      const query = plan.forward.query.toString();
      const out: Json = { ...(entry as Json), request: { ...request, method, url: `${plan.forward.path.slice(1)}${query ? `?${query}` : ''}` } };
      if (plan.forward.body && 'json' in plan.forward.body) out.resource = plan.forward.body.json;
      else delete out.resource;
      return out;
    } catch (e) {
      throw e instanceof GatewayDenial ? fail(e) : e;
    }
  });
  const scopes = [...new Set(plans.map((p) => p.scopeUsed).filter((s): s is string => !!s))];
  const compartment = plans.find((p) => p.compartment)?.compartment;
  const patients = new Set(plans.map((p) => p.patientHint).filter(Boolean));
  return {
    action: req.bundleType, resource: 'Bundle', ...(scopes.length ? { scopeUsed: scopes.join(' ') } : {}),
    ...(compartment ? { compartment } : {}), ...(patients.size === 1 ? { patientHint: [...patients][0] } : {}),
    forward: { method: 'POST', path: '/', query: new URLSearchParams(), body: { json: { ...req.bundle, entry: forwarded } } },
    release: { kind: 'batch', entries: plans.map((p) => p.release) },
  };
}

/**
 * The plan for a FHIR request made with a verified token; throws GatewayDenial for anything the
 * token may not do. `method` is the HTTP method as received (HEAD is planned as GET).
 */
export function planFhirRequest(req: FhirRequest, token: VerifiedAccessToken, method: string, options: PolicyOptions): FhirPlan {
  switch (req.kind) {
    case 'unsupported':
      throw accessDenied(req.description, 'ERR_PATH_NOT_ALLOWED');
    case 'capabilities':
      return { action: 'capabilities', resource: 'CapabilityStatement', forward: { method: 'GET', path: '/metadata', query: new URLSearchParams() }, release: { kind: 'capabilities' } };
    case 'operation':
      return planOperation(req, token, method, options);
    case 'bundle':
      return planBundle(req, token, options);
    case 'interaction':
      return planInteraction(req, token, options, false);
  }
}
