// FHIR R4 RESTful API (https://hl7.org/fhir/R4/http.html): which interaction an HTTP request is.
// A pure function of method, path, query and body. Anything outside the grammar below is
// 'unsupported' and the gateway denies it (deny by default).
//
//   GET    /metadata                          capabilities
//   GET    /  (with a query)                  search-system        POST /_search   search-system
//   GET    /_history                          history-system
//   POST   /  (Bundle batch|transaction)      bundle
//   GET    /Type                              search-type          POST /Type/_search  search-type
//   GET    /Type/_history                     history-type
//   POST   /Type                              create
//   GET    /Type/id                           read
//   PUT    /Type/id                           update
//   PATCH  /Type/id                           patch
//   DELETE /Type/id                           delete
//   GET    /Type/id/_history                  history-instance
//   GET    /Type/id/_history/vid              vread
//   *      /$op, /Type/$op, /Type/id/$op      operation
//
// Deliberately unsupported: conditional update/patch/delete (PUT/PATCH/DELETE /Type?search), whose
// target the gateway cannot know before the upstream acts; compartment search (/Patient/id/Type);
// percent-encoded or dot segments.
import type { Interaction } from '../smart/scopes.js';
import { FHIR_ID } from '../util/fhir-id.js';

export const FHIR_RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const OPERATION = /^\$[a-z][A-Za-z0-9-]{0,63}$/;
const PATH_CHARS = /^[A-Za-z0-9\-._~$/]*$/;

export type FhirRequest =
  | { kind: 'capabilities' }
  | {
      kind: 'interaction';
      interaction: Interaction;
      /** "*" for system-level search and history. */
      resourceType: string;
      id?: string;
      versionId?: string;
      /** Search parameters (query string, plus the form body for POST _search). */
      params: URLSearchParams;
      /** For create/update: the request body, parsed. */
      resource?: Record<string, unknown>;
      /** Search sent as POST …/_search (parameters travel in a form body). */
      viaPost?: boolean;
      /** For patch: the JSON body as sent (JSON Patch array or FHIRPath Parameters). */
      patch?: unknown;
    }
  | { kind: 'operation'; name: string; resourceType?: string; id?: string; params: URLSearchParams }
  | { kind: 'bundle'; bundleType: 'batch' | 'transaction'; bundle: Record<string, unknown> }
  | { kind: 'unsupported'; description: string };

export interface RawFhirRequest {
  method: string;
  /** Path below the route prefix: "" or "/…", without the query. */
  path: string;
  query: URLSearchParams;
  /** The parsed request body: a JSON value, URLSearchParams for a form, or undefined. */
  body?: unknown;
}

const unsupported = (description: string): FhirRequest => ({ kind: 'unsupported', description });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function classifyFhirRequest(raw: RawFhirRequest): FhirRequest {
  const method = raw.method === 'HEAD' ? 'GET' : raw.method;
  if (!PATH_CHARS.test(raw.path)) return unsupported('the path contains characters a FHIR path does not use');
  const segments = raw.path === '' || raw.path === '/' ? [] : raw.path.replace(/^\//, '').split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return unsupported('the path has empty or dot segments');
  const params = raw.query;
  const form = raw.body instanceof URLSearchParams ? raw.body : undefined;
  const searchParams = () => {
    const merged = new URLSearchParams(params);
    if (form) for (const [k, v] of form) merged.append(k, v);
    return merged;
  };
  const body = isObject(raw.body) ? raw.body : undefined;
  const [a, b, c, d] = segments;

  if (segments.length === 0) {
    if (method === 'POST') {
      if (!body || body.resourceType !== 'Bundle' || (body.type !== 'batch' && body.type !== 'transaction')) {
        return unsupported('POST to the base takes a batch or transaction Bundle');
      }
      return { kind: 'bundle', bundleType: body.type, bundle: body };
    }
    if (method === 'GET' && [...params.keys()].length > 0) return { kind: 'interaction', interaction: 'search-system', resourceType: '*', params };
    return unsupported('the base URL alone is not an interaction');
  }
  if (segments.length === 1 && a === 'metadata') return method === 'GET' ? { kind: 'capabilities' } : unsupported('metadata is read-only');
  if (segments.length === 1 && a === '_history') return method === 'GET' ? { kind: 'interaction', interaction: 'history-system', resourceType: '*', params } : unsupported('history is read-only');
  if (segments.length === 1 && a === '_search') return method === 'POST' ? { kind: 'interaction', interaction: 'search-system', resourceType: '*', params: searchParams(), viaPost: true } : unsupported('use GET / for a system search');
  if (a !== undefined && OPERATION.test(a)) return segments.length === 1 ? { kind: 'operation', name: a, params } : unsupported('unknown path');
  if (a === undefined || !FHIR_RESOURCE_TYPE.test(a)) return unsupported('the first segment is not a FHIR resource type');
  const type = a;

  if (segments.length === 1) {
    if (method === 'GET') return { kind: 'interaction', interaction: 'search-type', resourceType: type, params };
    if (method === 'POST') return { kind: 'interaction', interaction: 'create', resourceType: type, params, ...(body ? { resource: body } : {}) };
    return unsupported('conditional update, patch and delete are not supported through the gateway');
  }
  if (b === '_search') return segments.length === 2 && method === 'POST' ? { kind: 'interaction', interaction: 'search-type', resourceType: type, params: searchParams(), viaPost: true } : unsupported('unknown path');
  if (b === '_history') return segments.length === 2 && method === 'GET' ? { kind: 'interaction', interaction: 'history-type', resourceType: type, params } : unsupported('unknown path');
  if (b !== undefined && OPERATION.test(b)) return segments.length === 2 ? { kind: 'operation', name: b, resourceType: type, params } : unsupported('unknown path');
  if (b === undefined || !FHIR_ID.test(b)) return unsupported('the second segment is not a FHIR id');
  const id = b;

  if (segments.length === 2) {
    switch (method) {
      case 'GET': return { kind: 'interaction', interaction: 'read', resourceType: type, id, params };
      case 'PUT': return { kind: 'interaction', interaction: 'update', resourceType: type, id, params, ...(body ? { resource: body } : {}) };
      case 'PATCH': return { kind: 'interaction', interaction: 'patch', resourceType: type, id, params, ...(raw.body !== undefined && !(raw.body instanceof URLSearchParams) ? { patch: raw.body } : {}) };
      case 'DELETE': return { kind: 'interaction', interaction: 'delete', resourceType: type, id, params };
      default: return unsupported(`${method} is not a FHIR interaction on an instance`);
    }
  }
  if (c !== undefined && OPERATION.test(c)) return segments.length === 3 ? { kind: 'operation', name: c, resourceType: type, id, params } : unsupported('unknown path');
  if (c === '_history' && method === 'GET') {
    if (segments.length === 3) return { kind: 'interaction', interaction: 'history-instance', resourceType: type, id, params };
    if (segments.length === 4 && d !== undefined && FHIR_ID.test(d)) return { kind: 'interaction', interaction: 'vread', resourceType: type, id, versionId: d, params };
  }
  return unsupported('the path is not a supported FHIR interaction');
}

/** The upstream path for a classified request, rebuilt from what was checked (never the raw path). */
export function fhirPath(req: Exclude<FhirRequest, { kind: 'unsupported' }>): string {
  switch (req.kind) {
    case 'capabilities': return '/metadata';
    case 'bundle': return '/';
    case 'operation': return `${req.resourceType ? `/${req.resourceType}` : ''}${req.id ? `/${req.id}` : ''}/${req.name}`;
    case 'interaction':
      switch (req.interaction) {
        case 'search-system': return req.viaPost ? '/_search' : '/';
        case 'history-system': return '/_history';
        case 'search-type': return req.viaPost ? `/${req.resourceType}/_search` : `/${req.resourceType}`;
        case 'history-type': return `/${req.resourceType}/_history`;
        case 'create': return `/${req.resourceType}`;
        case 'history-instance': return `/${req.resourceType}/${req.id}/_history`;
        case 'vread': return `/${req.resourceType}/${req.id}/_history/${req.versionId}`;
        default: return `/${req.resourceType}/${req.id}`;
      }
  }
}

/** The interaction name recorded in the ledger (`action`). */
export function actionName(req: FhirRequest): string {
  switch (req.kind) {
    case 'capabilities': return 'capabilities';
    case 'bundle': return req.bundleType;
    case 'operation': return `operation:${req.name}`;
    case 'unsupported': return 'unsupported';
    case 'interaction':
      if (req.interaction.startsWith('search')) return 'search';
      if (req.interaction.startsWith('history')) return 'history';
      return req.interaction;
  }
}

/** Ledger action, resource and named patient of a request, before any policy has run. */
export function describeFhirRequest(req: FhirRequest): { action: string; resource: string; patient?: string } {
  switch (req.kind) {
    case 'capabilities': return { action: 'capabilities', resource: 'CapabilityStatement' };
    case 'bundle': return { action: req.bundleType, resource: 'Bundle' };
    case 'unsupported': return { action: 'unsupported', resource: 'unknown' };
    case 'operation':
    case 'interaction': {
      const type = req.resourceType ?? '*';
      return {
        action: actionName(req), resource: req.id ? `${type}/${req.id}` : type,
        ...(type === 'Patient' && req.id ? { patient: req.id } : {}),
      };
    }
  }
}
