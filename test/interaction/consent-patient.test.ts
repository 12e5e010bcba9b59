// The consent page names the patient it is about, as the picker does: a patient's own record and
// the patient an EHR opened are shown by name and birth date, read from the FHIR server as the
// person deciding and recorded in the ledger first (purpose consent_patient), with the id as
// fallback when the name cannot be read. A clinician is asked about access to a patient's record,
// never about "your information". Over real TLS, frozen clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addClient } from '../../src/admin/clients.js';
import { searchEvents } from '../../src/audit/search.js';
import { LAUNCH_API_SCOPE } from '../../src/smart/launch-endpoint.js';
import { frontChannel, post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, createUser } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();
let ehr: { id: string; secret: string };

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.mfa.required_roles = []; } });
  rp = await relyingParty(stack);
  const app = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
  await stack.ctx.storage.clients.upsert({ ...app, scope: `${app.scope} launch launch/patient` });
  const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test', masterKey: stack.ctx.masterKey };
  const created = await addClient(deps, {
    client_id: 'ehr-labels', name: 'EHR', grant_types: ['client_credentials'], redirect_uris: [], scope: LAUNCH_API_SCOPE,
    resources: [stack.demo.resource], token_endpoint_auth_method: 'client_secret_basic',
  }, [stack.demo.resource]);
  ehr = { id: 'ehr-labels', secret: created.secret! };
});
afterAll(async () => stack?.close());

const consentPageOf = (fc: Awaited<ReturnType<typeof frontChannel>>) => fc.pages.find((p) => p.body.includes('name="decision"'))!;
const reads = async (userId: string) =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: userId, limit: 20 })).filter((e) => e.details?.purpose === 'consent_patient');

describe('the patient on the consent page', () => {
  test('a patient sees their own record by name and birth date, read as them and recorded in the ledger first', async () => {
    const user = await createUser(stack, 'pat.named', 'patient');
    const fc = await frontChannel(rp, { username: 'pat.named', password: PASSWORD, decision: 'deny', extra: { prompt: 'consent' } });
    const page = consentPageOf(fc);
    expect(page.body).toContain('<h1>Allow Demo Patient App to access your information?</h1>');
    expect(page.body).toMatch(/<p class="patient-context">Your own health record:<br><strong>Alder Synthetic \(born \d{4}-\d\d-\d\d\)<br><span class="scope-name">Patient demo-1<\/span><\/strong><\/p>/);
    const [read] = await reads(user.id);
    expect(read).toMatchObject({ patient: 'Patient/demo-1', action: 'search-type', outcome: 'success', actor: { userId: user.id, clientId: stack.demo.client_id } });
  });

  test('a clinician opening a patient from the EHR is asked about that patient\'s record, named, not about "your information"', async () => {
    const doctor = await createUser(stack, 'dr.labels', 'practitioner');
    await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1', 'demo-2']);
    const launch = await post(rp, `${stack.issuer}/smart/launch`, { target_client_id: stack.demo.client_id, patient: 'demo-2' }, ehr);
    expect(launch.status).toBe(201);
    const fc = await frontChannel(rp, {
      scope: 'openid launch patient/Observation.rs', username: 'dr.labels', password: PASSWORD, decision: 'deny', extra: { launch: launch.json.launch },
    });
    const page = consentPageOf(fc);
    expect(page.body).toContain('<h1>Allow Demo Patient App to access this patient&#39;s record?</h1>');
    expect(page.body).not.toContain('your information');
    expect(page.body).toMatch(/The patient opened in your EHR:<br><strong>Briar Synthetic \(born \d{4}-\d\d-\d\d\)<br><span class="scope-name">Patient demo-2<\/span><\/strong>/);
    // Permissions are described for the patient, not for the clinician's own record.
    expect(page.body).toContain('Read, search Observation records for the selected patient only.');
    const [read] = await reads(doctor.id);
    expect(read).toMatchObject({ patient: 'Patient/demo-2', actor: { userId: doctor.id, clientId: stack.demo.client_id } });
  });

  test('when the FHIR server cannot be asked, the id is shown and no read is recorded', async () => {
    const user = await createUser(stack, 'pat.offline', 'patient');
    const route = stack.ctx.config.gateway.routes[0]!;
    const upstream = route.upstream;
    route.upstream = 'http://127.0.0.1:9';
    try {
      const fc = await frontChannel(rp, { username: 'pat.offline', password: PASSWORD, decision: 'deny', extra: { prompt: 'consent' } });
      expect(consentPageOf(fc).body).toContain('<p class="patient-context">Your own health record:<br><strong>Patient demo-1</strong></p>');
      expect(await reads(user.id)).toEqual([]);
    } finally {
      route.upstream = upstream;
    }
  });
});
