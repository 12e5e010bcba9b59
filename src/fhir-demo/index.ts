// The demo FHIR R4 server of the dev stack: synthetic data only, loopback only.
export { startDemoFhirServer, buildDemoFhirApp, DemoStore, DEMO_RESOURCE_TYPES, type DemoFhirServer, type DemoFhirServerOptions, type ObservedRequest } from './server.js';
export { generateDemoData, seededRandom, DEMO_PATIENT_COUNT, DEMO_SEED, type FhirResource } from './data.js';
