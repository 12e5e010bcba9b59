// The whole path a patient app takes: authorise with PKCE, get a token carrying the patient
// context, read its own record through the PHI gateway, and be refused another patient's record.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fetch } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, relyingParty, type Rp } from '../support/flows.js';
import { searchEvents } from '../../src/audit/search.js';

let stack: TestStack;
let rp: Rp;
beforeAll(async () => {
  stack = await startTestStack();
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const fhir = (path: string, token?: string) => fetch(`${stack.issuer}/fhir/${path}`, {
  headers: token ? { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } : { accept: 'application/fhir+json' },
  dispatcher: rp.dispatcher,
});

test('a token from the code flow reads its own patient through the gateway and is refused another patient', async () => {
  const flow = await codeFlow(rp);
  expect(flow.tokens.patient).toBe('demo-1');
  const own = await fhir('Patient/demo-1', flow.tokens.access_token);
  expect(own.status).toBe(200);
  const patient = (await own.json()) as { id: string; identifier?: unknown };
  expect(patient.id).toBe('demo-1');
  expect(patient.identifier).toBeUndefined(); // masked: the token lacks phi.identifiers

  const other = await fhir('Patient/demo-2', flow.tokens.access_token);
  expect(other.status).toBe(403);

  const search = await fhir('Observation', flow.tokens.access_token);
  expect(search.status).toBe(200);
  const bundle = (await search.json()) as { entry?: { resource: { subject?: { reference?: string } } }[] };
  expect(bundle.entry?.length).toBeGreaterThan(0);
  for (const e of bundle.entry ?? []) expect(e.resource.subject?.reference).toBe('Patient/demo-1');

  const noToken = await fhir('Patient/demo-1');
  expect(noToken.status).toBe(401);
  expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/);

  const events = await searchEvents(stack.ctx.storage.sql, { patient: 'Patient/demo-1', type: ['phi.accessed', 'phi.denied'] });
  expect(events.some((e) => e.type === 'phi.accessed' && e.action === 'read' && e.scopes?.used === 'patient/Patient.rs')).toBe(true);
  const denied = await searchEvents(stack.ctx.storage.sql, { type: 'phi.denied' });
  expect(denied.some((e) => e.actor.clientId === stack.demo.client_id)).toBe(true);
});

test('the FHIR base serves SMART discovery as JSON with S256 only and honest capabilities', async () => {
  const res = await fetch(`${stack.issuer}/fhir/.well-known/smart-configuration`, { headers: { accept: 'text/html' }, dispatcher: rp.dispatcher });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc.code_challenge_methods_supported).toEqual(['S256']);
  expect(doc.grant_types_supported).toEqual(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']);
  expect(doc.token_endpoint).toBe(`${stack.issuer}/token`);
  expect(doc.management_endpoint).toBe(`${stack.issuer}/account`);
  expect(doc.capabilities).toContain('launch-standalone');
  expect(doc.capabilities).toContain('launch-ehr');
  for (const [k, v] of Object.entries(doc)) if (k.endsWith('_endpoint') || k.endsWith('_uri')) expect(String(v)).toMatch(/^https:\/\//);
});
