// A small FHIR R4 server (RESTful API, https://hl7.org/fhir/R4/http.html) over plain HTTP on
// loopback, holding synthetic demo data in memory. It stands behind the PHI gateway in the dev
// stack and in tests; it does no authentication or authorisation of its own (that is the
// gateway's job), so it refuses to listen on anything but a loopback address.
//
// Supported: capabilities (GET /metadata), read, vread, instance history, type search by
// `_id`, `patient` and `subject`, and for Patient also `family`, `given`, `name` (string: starts
// with, case-insensitive), `birthdate` (a whole date) and `identifier` (token: `[system|]value`)
// (GET and POST _search) returning searchset Bundles, create,
// update (also as create, If-Match honoured), delete, Patient/{id}/$everything, and batch/transaction Bundles
// (entries processed one by one; transactions are not atomic here).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { InternalError } from '../errors/internal-error.js';
import { FHIR_ID } from '../util/fhir-id.js';
import { generateDemoData, DEMO_SEED, type FhirResource } from './data.js';

export const DEMO_RESOURCE_TYPES = ['Patient', 'Observation', 'Condition', 'MedicationRequest', 'Encounter'] as const;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface ObservedRequest {
  method: string;
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body?: string;
}

export interface DemoFhirServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Loopback only; default 127.0.0.1. */
  host?: string;
  seed?: number;
  /** Called with every request as received (tests inspect what the gateway forwarded). */
  observe?: (req: ObservedRequest) => void;
}

export interface DemoFhirServer {
  /** Base URL, e.g. http://127.0.0.1:40123 (no trailing slash). */
  url: string;
  store: DemoStore;
  close(): Promise<void>;
}

/** Versions of every resource, newest last; a deleted version is null. */
export class DemoStore {
  readonly #versions = new Map<string, Map<string, Array<FhirResource | null>>>();
  #nextId = 1;

  constructor(resources: readonly FhirResource[]) {
    for (const r of resources) this.#byType(r.resourceType).set(r.id, [structuredClone(r)]);
  }

  #byType(type: string): Map<string, Array<FhirResource | null>> {
    let m = this.#versions.get(type);
    if (!m) this.#versions.set(type, (m = new Map()));
    return m;
  }

  history(type: string, id: string): Array<FhirResource | null> | undefined {
    return this.#versions.get(type)?.get(id);
  }

  current(type: string, id: string): FhirResource | null | undefined {
    return this.history(type, id)?.at(-1);
  }

  all(type: string): FhirResource[] {
    return [...(this.#versions.get(type)?.values() ?? [])].map((v) => v.at(-1)).filter((r): r is FhirResource => !!r);
  }

  put(type: string, id: string, resource: FhirResource, now: string): FhirResource {
    const versions = this.#byType(type).get(id) ?? [];
    const stored = { ...structuredClone(resource), resourceType: type, id, meta: { versionId: String(versions.length + 1), lastUpdated: now } };
    versions.push(stored);
    this.#byType(type).set(id, versions);
    return stored;
  }

  remove(type: string, id: string): boolean {
    const versions = this.#byType(type).get(id);
    if (!versions || versions.at(-1) === null) return false;
    versions.push(null);
    return true;
  }

  newId(): string {
    return `new-${this.#nextId++}`;
  }
}

const outcome = (code: string, text: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] });

function patientRefOf(resource: FhirResource): string | undefined {
  if (resource.resourceType === 'Patient') return `Patient/${resource.id}`;
  const ref = (resource.subject ?? resource.patient) as { reference?: unknown } | undefined;
  return typeof ref?.reference === 'string' ? ref.reference : undefined;
}

/** `demo-1`, `Patient/demo-1` and `<base>/Patient/demo-1` all name the same patient. */
function referenceMatches(actual: string | undefined, wanted: string): boolean {
  if (!actual) return false;
  const id = wanted.includes('/') ? wanted.slice(wanted.lastIndexOf('Patient/') + 8) : wanted;
  return actual === `Patient/${id}` || actual.endsWith(`/Patient/${id}`);
}

type PatientName = { family?: unknown; given?: unknown; text?: unknown };

/** FHIR string search (https://hl7.org/fhir/R4/search.html#string): starts with, case-insensitive. */
const startsWith = (value: unknown, wanted: string) => typeof value === 'string' && value.toLowerCase().startsWith(wanted.toLowerCase());

/** Patient search parameters of FHIR R4 (https://hl7.org/fhir/R4/patient.html#search) the demo needs. */
const PATIENT_PARAMS = new Set(['family', 'given', 'name', 'birthdate', 'identifier']);

function patientMatches(r: FhirResource, name: string, wanted: string): boolean {
  const names = (Array.isArray(r.name) ? r.name : []) as PatientName[];
  const given = (n: PatientName) => (Array.isArray(n.given) ? n.given : []) as unknown[];
  switch (name) {
    case 'family': return names.some((n) => startsWith(n.family, wanted));
    case 'given': return names.some((n) => given(n).some((g) => startsWith(g, wanted)));
    case 'name': return names.some((n) => [n.family, n.text, ...given(n)].some((part) => startsWith(part, wanted)));
    case 'birthdate': return r.birthDate === wanted;
    case 'identifier': {
      const [system, value] = wanted.includes('|') ? wanted.split('|', 2) as [string, string] : [undefined, wanted];
      const ids = (Array.isArray(r.identifier) ? r.identifier : []) as Array<{ system?: unknown; value?: unknown }>;
      return ids.some((i) => i.value === value && (system === undefined || system === '' || i.system === system));
    }
    default: return false;
  }
}

function search(store: DemoStore, type: string, params: URLSearchParams): FhirResource[] {
  let results = store.all(type);
  for (const [name, value] of params) {
    const alternatives = value.split(',');
    if (type === 'Patient' && PATIENT_PARAMS.has(name)) {
      results = results.filter((r) => alternatives.some((a) => patientMatches(r, name, a)));
    } else if (name === '_id') results = results.filter((r) => alternatives.includes(r.id));
    else if (name === 'patient' || name === 'subject') {
      results = type === 'Patient'
        ? results.filter((r) => alternatives.some((a) => referenceMatches(`Patient/${r.id}`, a)))
        : results.filter((r) => alternatives.some((a) => referenceMatches(patientRefOf(r), a)));
    }
  }
  const count = params.get('_count');
  if (count !== null && /^\d{1,6}$/.test(count)) results = results.slice(0, Number(count));
  return results;
}

export async function buildDemoFhirApp(options: DemoFhirServerOptions = {}): Promise<{ app: FastifyInstance; store: DemoStore; setBase(url: string): void }> {
  const store = new DemoStore(generateDemoData(options.seed ?? DEMO_SEED));
  let base = '';
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/fhir+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('invalid JSON'), { statusCode: 400 }), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, new URLSearchParams(body as string)));
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  if (options.observe) {
    const observe = options.observe;
    app.addHook('preHandler', async (req) => {
      const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : req.body instanceof URLSearchParams ? req.body.toString() : JSON.stringify(req.body);
      observe({ method: req.method, url: req.url, headers: { ...req.headers }, ...(body !== undefined ? { body } : {}) });
    });
  }
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('content-type') || String(reply.getHeader('content-type')).startsWith('application/json')) reply.type(FHIR_JSON);
    return payload;
  });
  app.setErrorHandler(async (err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.code(status).type(FHIR_JSON).send(outcome(status < 500 ? 'invalid' : 'exception', status < 500 ? 'the request could not be read' : 'internal error'));
  });
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send(outcome('not-found', 'no such endpoint')));

  const now = () => new Date().toISOString();
  const known = (type: string) => (DEMO_RESOURCE_TYPES as readonly string[]).includes(type);
  const fullUrl = (r: FhirResource) => `${base}/${r.resourceType}/${r.id}`;
  const bundle = (type: 'searchset' | 'history', selfUrl: string, resources: readonly (FhirResource | null)[]) => ({
    resourceType: 'Bundle', type, total: resources.length, link: [{ relation: 'self', url: `${base}${selfUrl}` }],
    entry: resources.map((r) => (r ? { fullUrl: fullUrl(r), resource: r, ...(type === 'searchset' ? { search: { mode: 'match' } } : {}) } : { request: { method: 'DELETE', url: '' } })),
  });
  type P = { type: string; id: string; vid: string; op: string };
  const unknownType = (reply: FastifyReply, type: string) => reply.code(404).send(outcome('not-supported', `resource type ${type} is not supported`));

  app.get('/metadata', async () => ({
    resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
    software: { name: 'Caduceus demo FHIR server' },
    rest: [{
      mode: 'server',
      resource: DEMO_RESOURCE_TYPES.map((type) => ({
        type,
        interaction: ['read', 'vread', 'history-instance', 'search-type', 'create', 'update', 'delete'].map((code) => ({ code })),
        searchParam: [{ name: '_id', type: 'token' }, ...(type === 'Patient'
          ? [{ name: 'family', type: 'string' }, { name: 'given', type: 'string' }, { name: 'name', type: 'string' }, { name: 'birthdate', type: 'date' }, { name: 'identifier', type: 'token' }]
          : [{ name: 'patient', type: 'reference' }, { name: 'subject', type: 'reference' }])],
        ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
      })),
      interaction: [{ code: 'batch' }, { code: 'transaction' }],
    }],
  }));

  const doSearch = (req: FastifyRequest<{ Params: P }>, reply: FastifyReply, params: URLSearchParams) => {
    const { type } = req.params;
    if (!known(type)) return unknownType(reply, type);
    const q = params.toString();
    return reply.send(bundle('searchset', `/${type}${q ? `?${q}` : ''}`, search(store, type, params)));
  };
  app.get<{ Params: P }>('/:type', async (req, reply) => doSearch(req, reply, new URLSearchParams(req.url.split('?')[1] ?? '')));
  app.post<{ Params: P }>('/:type/_search', async (req, reply) => {
    const params = new URLSearchParams(req.url.split('?')[1] ?? '');
    if (req.body instanceof URLSearchParams) for (const [k, v] of req.body) params.append(k, v);
    return doSearch(req, reply, params);
  });

  const read = (type: string, id: string, reply: FastifyReply) => {
    if (!known(type)) return unknownType(reply, type);
    const current = store.current(type, id);
    if (current === undefined) return reply.code(404).send(outcome('not-found', `${type}/${id} is not known`));
    if (current === null) return reply.code(410).send(outcome('deleted', `${type}/${id} was deleted`));
    return reply.header('etag', `W/"${current.meta?.versionId}"`).send(current);
  };
  app.get<{ Params: P }>('/:type/:id', async (req, reply) => read(req.params.type, req.params.id, reply));
  app.get<{ Params: P }>('/:type/:id/_history', async (req, reply) => {
    const { type, id } = req.params;
    if (!known(type)) return unknownType(reply, type);
    const versions = store.history(type, id);
    if (!versions) return reply.code(404).send(outcome('not-found', `${type}/${id} is not known`));
    return reply.send(bundle('history', `/${type}/${id}/_history`, [...versions].reverse()));
  });
  app.get<{ Params: P }>('/:type/:id/_history/:vid', async (req, reply) => {
    const { type, id, vid } = req.params;
    if (!known(type)) return unknownType(reply, type);
    const version = store.history(type, id)?.[Number(vid) - 1];
    if (!version) return reply.code(404).send(outcome('not-found', `${type}/${id}/_history/${vid} is not known`));
    return reply.header('etag', `W/"${vid}"`).send(version);
  });
  app.get<{ Params: P }>('/:type/:id/:op', async (req, reply) => {
    const { type, id, op } = req.params;
    if (type !== 'Patient' || op !== '$everything') return reply.code(404).send(outcome('not-supported', 'unknown operation'));
    const patient = store.current('Patient', id);
    if (!patient) return reply.code(404).send(outcome('not-found', `Patient/${id} is not known`));
    const related = DEMO_RESOURCE_TYPES.filter((t) => t !== 'Patient').flatMap((t) => store.all(t).filter((r) => referenceMatches(patientRefOf(r), id)));
    return reply.send(bundle('searchset', `/Patient/${id}/$everything`, [patient, ...related]));
  });

  const bodyResource = (req: FastifyRequest, type: string): FhirResource | undefined => {
    const body = req.body as FhirResource | undefined;
    return body && typeof body === 'object' && body.resourceType === type ? body : undefined;
  };
  app.post<{ Params: P }>('/:type', async (req, reply) => {
    const { type } = req.params;
    if (!known(type)) return unknownType(reply, type);
    const resource = bodyResource(req, type);
    if (!resource) return reply.code(400).send(outcome('invalid', `the body must be a ${type} resource`));
    const stored = store.put(type, store.newId(), resource, now());
    return reply.code(201).header('location', `${base}/${type}/${stored.id}/_history/1`).header('etag', 'W/"1"').send(stored);
  });
  // Version-aware writes (https://hl7.org/fhir/R4/http.html#concurrency): If-Match must name the current version.
  const versionConflict = (req: FastifyRequest, type: string, id: string): boolean => {
    const ifMatch = req.headers['if-match'];
    if (typeof ifMatch !== 'string') return false;
    const current = store.current(type, id);
    return !current || ifMatch !== `W/"${current.meta?.versionId}"`;
  };
  app.put<{ Params: P }>('/:type/:id', async (req, reply) => {
    const { type, id } = req.params;
    if (!known(type)) return unknownType(reply, type);
    if (versionConflict(req, type, id)) return reply.code(412).send(outcome('conflict', 'the resource has changed (If-Match)'));
    if (!FHIR_ID.test(id)) return reply.code(400).send(outcome('invalid', 'invalid id'));
    const resource = bodyResource(req, type);
    if (!resource || (resource.id !== undefined && resource.id !== id)) return reply.code(400).send(outcome('invalid', `the body must be a ${type} resource with id ${id}`));
    const created = !store.current(type, id);
    const stored = store.put(type, id, resource, now());
    return reply.code(created ? 201 : 200).header('etag', `W/"${stored.meta?.versionId}"`).send(stored);
  });
  app.delete<{ Params: P }>('/:type/:id', async (req, reply) => {
    const { type, id } = req.params;
    if (!known(type)) return unknownType(reply, type);
    if (versionConflict(req, type, id)) return reply.code(412).send(outcome('conflict', 'the resource has changed (If-Match)'));
    store.remove(type, id);
    return reply.code(204).send();
  });

  // Batch/transaction (https://hl7.org/fhir/R4/http.html#transaction): each entry is run through
  // this same server, so an entry behaves exactly like the equivalent single request.
  app.post('/', async (req, reply) => {
    const b = req.body as { resourceType?: string; type?: string; entry?: Array<{ resource?: unknown; request?: { method?: string; url?: string } }> } | undefined;
    if (!b || b.resourceType !== 'Bundle' || (b.type !== 'batch' && b.type !== 'transaction')) return reply.code(400).send(outcome('invalid', 'POST / takes a batch or transaction Bundle'));
    const entries = [];
    for (const e of b.entry ?? []) {
      const method = String(e.request?.method ?? '').toUpperCase();
      const url = String(e.request?.url ?? '');
      if (!['GET', 'POST', 'PUT', 'DELETE'].includes(method) || url.startsWith('/') || url.includes('://')) {
        entries.push({ response: { status: '400 Bad Request', outcome: outcome('invalid', 'unsupported entry request') } });
        continue;
      }
      const res = await app.inject({ method: method as 'GET', url: `/${url}`, ...(e.resource !== undefined ? { payload: e.resource as object, headers: { 'content-type': 'application/fhir+json' } } : {}) });
      const body = res.body ? JSON.parse(res.body) : undefined;
      entries.push({ ...(body && res.statusCode < 400 ? { resource: body } : {}), response: { status: String(res.statusCode), ...(res.headers.location ? { location: String(res.headers.location) } : {}), ...(body && res.statusCode >= 400 ? { outcome: body } : {}) } });
    }
    return reply.send({ resourceType: 'Bundle', type: `${b.type}-response`, entry: entries });
  });

  return { app, store, setBase: (url: string) => { base = url; } };
}

/** Starts the demo FHIR server on loopback (plain HTTP). */
export async function startDemoFhirServer(options: DemoFhirServerOptions = {}): Promise<DemoFhirServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) throw new InternalError('ERR_CONFIG', `the demo FHIR server listens on loopback only, not ${host}`);
  const { app, store, setBase } = await buildDemoFhirApp(options);
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 0;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  setBase(url);
  return { url, store, close: () => app.close() };
}
