import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountingOfDisclosures, sixYearsBefore } from '../../src/audit/disclosures.js';
import type { AuditEvent, AuditEventInput } from '../../src/audit/events.js';
import { toFhirAuditEvent } from '../../src/audit/fhir.js';
import { Ledger } from '../../src/audit/ledger.js';
import { searchEvents } from '../../src/audit/search.js';
import { AUDIT_EVENT_TYPES } from '../../src/audit/stored-event.js';
import { ORIGIN, openLedgerDb, TEST_SEED, testAdapters, type LedgerDb } from './ledger-db.js';

const adapters = await testAdapters();
const T0 = Date.UTC(2025, 2, 1);
const DAY = 86_400_000;

const phi = (patient: string, userId: string, clientId: string, over: Partial<AuditEventInput> = {}): AuditEventInput => ({
  type: 'phi.accessed',
  actor: { userId, clientId },
  patient,
  resource: `Observation/${patient.split('/')[1]}-1`,
  action: 'read',
  outcome: 'success',
  scopes: { used: 'patient/Observation.rs' },
  requestId: 'req-1',
  details: { purposeOfUse: 'TREAT' },
  ...over,
});

describe.each(adapters)('searching the ledger on $name', (adapter) => {
  let db: LedgerDb;
  let ledger: Ledger;
  let now = T0;

  beforeAll(async () => {
    db = await openLedgerDb(adapter);
    ledger = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, clock: () => now, checkpointIntervalMs: 60_000 });
    const at = async (time: number, event: AuditEventInput): Promise<void> => {
      now = time;
      await ledger.record(event);
    };
    await at(T0 - 7 * 365 * DAY, phi('Patient/1', 'u1', 'app-a')); // older than six years
    await at(T0 + 1 * DAY, phi('Patient/1', 'u1', 'app-a'));
    await at(T0 + 2 * DAY, phi('Patient/1', 'u2', 'app-b', { action: 'search-type', resource: 'Observation', details: {} }));
    await at(T0 + 3 * DAY, phi('Patient/1', 'u2', 'app-b', { type: 'phi.denied', outcome: 'denied', reason: 'insufficient_scope' }));
    await at(T0 + 4 * DAY, phi('Patient/2', 'u1', 'app-a'));
    await at(T0 + 5 * DAY, { type: 'token.issued', actor: { userId: 'u1', clientId: 'app-a' }, outcome: 'success', jti: 'jti-1', scopes: { granted: ['openid', 'patient/*.rs'] } });
    await at(T0 + 6 * DAY, { type: 'login.failed', actor: {}, outcome: 'denied', reason: 'bad_credentials', sourceAddress: '192.0.2.7' });
    now = T0 + 10 * DAY;
  });

  afterAll(async () => {
    await ledger?.close({ checkpoint: false });
    await db?.cleanup();
  });

  const seqs = (events: AuditEvent[]): number[] => events.map((e) => e.seq);

  it('filters by patient, actor, client, type, outcome and time, newest first', async () => {
    expect(seqs(await searchEvents(db.driver, { patient: 'Patient/1' }))).toEqual([3, 2, 1, 0]);
    expect(seqs(await searchEvents(db.driver, { actor: 'u1' }))).toEqual([5, 4, 1, 0]);
    expect(seqs(await searchEvents(db.driver, { client: 'app-b' }))).toEqual([3, 2]);
    expect(seqs(await searchEvents(db.driver, { type: 'token.issued' }))).toEqual([5]);
    expect(seqs(await searchEvents(db.driver, { type: ['login.failed', 'phi.denied'] }))).toEqual([6, 3]);
    expect(seqs(await searchEvents(db.driver, { outcome: 'denied' }))).toEqual([6, 3]);
    expect(seqs(await searchEvents(db.driver, { since: T0 + 2 * DAY, until: T0 + 5 * DAY }))).toEqual([4, 3, 2]);
    expect(seqs(await searchEvents(db.driver, { patient: 'Patient/1', actor: 'u2', outcome: 'success' }))).toEqual([2]);
    expect(seqs(await searchEvents(db.driver, { limit: 2 }))).toEqual([6, 5]);
    expect(seqs(await searchEvents(db.driver, { limit: 2, beforeSeq: 5 }))).toEqual([4, 3]);
    expect(await searchEvents(db.driver, { patient: 'Patient/404' })).toEqual([]);
  });

  it('returns the stored events as recorded', async () => {
    const [event] = await searchEvents(db.driver, { type: 'token.issued' });
    expect(event).toEqual({ type: 'token.issued', actor: { userId: 'u1', clientId: 'app-a' }, outcome: 'success', jti: 'jti-1', scopes: { granted: ['openid', 'patient/*.rs'] }, seq: 5, time: T0 + 5 * DAY });
  });

  it('refuses a limit out of range, naming the filter', async () => {
    await expect(searchEvents(db.driver, { limit: 0 })).rejects.toThrow('filters.limit');
    await expect(searchEvents(db.driver, { since: -1 })).rejects.toThrow('filters.since');
  });

  it('lists the accounting of disclosures of one patient over the last six years, oldest first', async () => {
    const rows = await accountingOfDisclosures(db.driver, 'Patient/1', undefined, T0 + 10 * DAY);
    expect(rows).toEqual([
      { seq: 1, time: T0 + DAY, date: new Date(T0 + DAY).toISOString(), userId: 'u1', clientId: 'app-a', resource: 'Observation/1-1', action: 'read', scope: 'patient/Observation.rs', purposeOfUse: 'TREAT', outcome: 'success', requestId: 'req-1' },
      { seq: 2, time: T0 + 2 * DAY, date: new Date(T0 + 2 * DAY).toISOString(), userId: 'u2', clientId: 'app-b', resource: 'Observation', action: 'search-type', scope: 'patient/Observation.rs', purposeOfUse: null, outcome: 'success', requestId: 'req-1' },
    ]);
    expect((await accountingOfDisclosures(db.driver, 'Patient/1', T0 - 8 * 365 * DAY, T0 + 10 * DAY)).map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(sixYearsBefore(Date.UTC(2025, 2, 1))).toBe(Date.UTC(2019, 2, 1));
  });
});

describe('FHIR R4 AuditEvent export', () => {
  const base = { seq: 42, time: Date.UTC(2025, 0, 2, 3, 4, 5) };

  it('maps a PHI read to the BALP PatientRead pattern', () => {
    const event: AuditEvent = { ...base, ...phi('Patient/7', 'u1', 'app-a'), jti: 'jti-9', sourceAddress: '192.0.2.1' };
    const fhir = toFhirAuditEvent(event, { observer: 'caduceus.example', issuer: 'https://caduceus.example', serverAddress: 'caduceus.example' });
    expect(fhir).toMatchObject({
      resourceType: 'AuditEvent',
      id: '42',
      meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead'] },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      action: 'R',
      recorded: '2025-01-02T03:04:05.000Z',
      outcome: '0',
      purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] }],
      source: { observer: { display: 'caduceus.example' } },
    });
    expect(fhir.subtype).toEqual([
      { system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' },
      { system: 'urn:caduceus:audit-event-type', code: 'phi.accessed' },
    ]);
    const [user, client, server] = fhir.agent;
    expect(user).toMatchObject({ type: { coding: [{ code: 'IRCP' }] }, who: { identifier: { system: 'https://caduceus.example', value: 'u1' } }, requestor: true, policy: ['jti-9'] });
    expect(client).toMatchObject({ type: { coding: [{ code: '110152', display: 'Destination Role ID' }] }, who: { identifier: { value: 'app-a' } }, requestor: false, network: { address: '192.0.2.1', type: '2' } });
    expect(server).toMatchObject({ type: { coding: [{ code: '110153', display: 'Source Role ID' }] }, requestor: false, network: { address: 'caduceus.example', type: '1' } });
    expect(fhir.entity).toEqual(expect.arrayContaining([
      { what: { reference: 'Patient/7' }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' } },
      expect.objectContaining({ what: { reference: 'Observation/7-1' }, role: expect.objectContaining({ code: '4' }) }),
      { what: { identifier: { value: 'req-1' } }, type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' } },
    ]));
  });

  it('claims no BALP profile for a denied access and reports it as a minor failure', () => {
    const fhir = toFhirAuditEvent({ ...base, ...phi('Patient/7', 'u1', 'app-a', { type: 'phi.denied', outcome: 'denied', reason: 'insufficient_scope' }), sourceAddress: '192.0.2.1' }, { serverAddress: 'x' });
    expect(fhir.meta).toBeUndefined();
    expect(fhir).toMatchObject({ outcome: '4', outcomeDesc: 'insufficient_scope' });
  });

  it('maps token issuance to IUA ITI-71 and a failed login to DCM User Authentication / Login', () => {
    const token = toFhirAuditEvent({ ...base, type: 'token.issued', actor: { clientId: 'svc' }, outcome: 'success', jti: 'j' });
    expect(token).toMatchObject({ type: { code: '110114' }, action: 'E' });
    expect(token.subtype[0]).toEqual({ system: 'urn:ihe:event-type-code', code: 'ITI-71', display: 'Get Access Token' });
    expect(token.agent[0]).toMatchObject({ type: { coding: [{ code: '110150', display: 'Application' }] }, requestor: true });
    const login = toFhirAuditEvent({ ...base, type: 'login.failed', actor: {}, outcome: 'error' });
    expect(login).toMatchObject({ type: { code: '110114' }, outcome: '8' });
    expect(login.subtype[0]).toMatchObject({ code: '110122', display: 'Login' });
    expect(login.agent).toHaveLength(1);
    expect(login.agent[0]!.requestor).toBe(true);
  });

  it('maps every event type to an AuditEvent with a type, an action, a requestor and an observer', () => {
    for (const type of Object.keys(AUDIT_EVENT_TYPES) as AuditEvent['type'][]) {
      const fhir = toFhirAuditEvent({ ...base, type, actor: { userId: 'u' }, outcome: 'success' });
      expect(fhir.type.code, type).toBeTruthy();
      expect(['C', 'R', 'U', 'D', 'E']).toContain(fhir.action);
      expect(fhir.agent.some((a) => a.requestor), type).toBe(true);
      expect(fhir.subtype.at(-1)).toEqual({ system: 'urn:caduceus:audit-event-type', code: type });
    }
  });
});
