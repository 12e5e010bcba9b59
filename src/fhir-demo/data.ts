// Synthetic FHIR R4 data for the demo stack, generated in code from a fixed seed: the same
// patients on every start, no real person behind any of them (names are drawn from short lists
// of common words, identifiers from a reserved demo namespace, phone numbers from 555-01xx).

export type FhirResource = { resourceType: string; id: string; meta?: { versionId?: string; lastUpdated?: string }; [k: string]: unknown };

export const DEMO_PATIENT_COUNT = 20;
export const DEMO_SEED = 0x5eed_c0de;
const LAST_UPDATED = '2026-01-01T00:00:00Z';

/** mulberry32: a tiny deterministic PRNG; not for anything secret. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GIVEN = ['Alder', 'Briar', 'Cedar', 'Dune', 'Ember', 'Fern', 'Grove', 'Heath', 'Iris', 'Juniper', 'Kestrel', 'Linden', 'Moss', 'Nova', 'Oak', 'Pine', 'Quill', 'Rowan', 'Sage', 'Tarn'];
const FAMILY = ['Demo', 'Sample', 'Testcase', 'Fixture', 'Synthetic', 'Placeholder', 'Example', 'Mock'];

const VITALS = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', low: 55, high: 110 },
  { code: '29463-7', display: 'Body weight', unit: 'kg', low: 45, high: 120 },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', low: 36, high: 39 },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', low: 10, high: 24 },
] as const;
const CONDITIONS = [
  { code: '38341003', display: 'Hypertensive disorder' },
  { code: '44054006', display: 'Diabetes mellitus type 2' },
  { code: '195967001', display: 'Asthma' },
  { code: '35489007', display: 'Depressive disorder' },
  { code: '239873007', display: 'Osteoarthritis of knee' },
] as const;
const MEDICATIONS = [
  { code: '197361', display: 'Amlodipine 5 MG Oral Tablet' },
  { code: '860975', display: 'Metformin 500 MG Oral Tablet' },
  { code: '745752', display: 'Albuterol 0.09 MG/ACTUAT Inhaler' },
  { code: '312938', display: 'Sertraline 50 MG Oral Tablet' },
] as const;

const meta = () => ({ versionId: '1', lastUpdated: LAST_UPDATED });
const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * The demo data set: Patients demo-1..demo-20 and, per patient p, Encounters enc-p-1..2,
 * Observations obs-p-1..4, Conditions cond-p-1..2 and MedicationRequests medreq-p-1..2, each
 * pointing at its patient through `subject`. demo-1 is the demo user's patient.
 */
export function generateDemoData(seed = DEMO_SEED, patients = DEMO_PATIENT_COUNT): FhirResource[] {
  const rand = seededRandom(seed);
  const out: FhirResource[] = [];
  for (let p = 1; p <= patients; p++) {
    const id = `demo-${p}`;
    const subject = { reference: `Patient/${id}` };
    const year = 1940 + Math.floor(rand() * 65);
    out.push({
      resourceType: 'Patient', id, meta: meta(),
      identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5.99999.1', value: `DEMO-${pad(p, 6)}` }],
      active: true,
      name: [{ use: 'official', family: pick(rand, FAMILY), given: [GIVEN[(p - 1) % GIVEN.length]!] }],
      telecom: [{ system: 'phone', value: `555-01${pad(p % 100, 2)}`, use: 'home' }],
      gender: rand() < 0.5 ? 'female' : 'male',
      birthDate: `${year}-${pad(1 + Math.floor(rand() * 12), 2)}-${pad(1 + Math.floor(rand() * 28), 2)}`,
    });
    for (let e = 1; e <= 2; e++) {
      out.push({
        resourceType: 'Encounter', id: `enc-${p}-${e}`, meta: meta(), status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        subject, period: { start: `2025-${pad(e * 3, 2)}-${pad(1 + Math.floor(rand() * 28), 2)}T09:00:00Z` },
      });
    }
    for (let o = 1; o <= 4; o++) {
      const v = VITALS[(o - 1) % VITALS.length]!;
      out.push({
        resourceType: 'Observation', id: `obs-${p}-${o}`, meta: meta(), status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: v.code, display: v.display }] },
        subject, encounter: { reference: `Encounter/enc-${p}-${1 + ((o - 1) % 2)}` },
        effectiveDateTime: `2025-${pad(o * 2, 2)}-15T10:00:00Z`,
        valueQuantity: { value: Math.round((v.low + rand() * (v.high - v.low)) * 10) / 10, unit: v.unit, system: 'http://unitsofmeasure.org', code: v.unit },
      });
    }
    for (let c = 1; c <= 2; c++) {
      const cond = pick(rand, CONDITIONS);
      out.push({
        resourceType: 'Condition', id: `cond-${p}-${c}`, meta: meta(),
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        code: { coding: [{ system: 'http://snomed.info/sct', code: cond.code, display: cond.display }] },
        subject,
      });
    }
    for (let m = 1; m <= 2; m++) {
      const med = pick(rand, MEDICATIONS);
      out.push({
        resourceType: 'MedicationRequest', id: `medreq-${p}-${m}`, meta: meta(), status: 'active', intent: 'order',
        medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: med.code, display: med.display }] },
        subject, authoredOn: `2025-0${m + 1}-01`,
      });
    }
  }
  return out;
}
