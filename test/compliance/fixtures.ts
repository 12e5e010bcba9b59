// A compliant CheckInput: every static rule passes on it. Rule tests change one thing at a time.
import { generateKeyPairSync } from 'node:crypto';
import { validateConfig } from '../../src/config/schema.js';
import { serverFacts } from '../../src/compliance/server-facts.js';
import type { CheckInput } from '../../src/compliance/types.js';
import type { ClientRecord, SigningKeyRecord } from '../../src/storage/types.js';

export const NOW = Date.parse('2026-06-01T12:00:00Z');
export const DAY = 86_400_000;
export const FHIR = 'https://fhir.example.org/r4';

const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const EC_PUBLIC_JWK = JSON.stringify({ ...publicKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig' });

export function signingKey(overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return { kid: 'key-1', alg: 'ES256', publicJwk: EC_PUBLIC_JWK, privateSealed: 'sealed', createdAt: NOW - 10 * DAY, activatesAt: NOW - 10 * DAY, retiredAt: null, expiresAt: null, ...overrides };
}

export function storedClient(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: 'stored-app', name: 'Stored App', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: ['https://stored.example.org/cb'],
    scope: 'openid patient/Observation.rs', resources: [FHIR], tokenEndpointAuthMethod: 'private_key_jwt', secretDigest: null,
    jwksUri: 'https://stored.example.org/jwks', jwks: null, source: 'admin', createdAt: NOW - DAY, updatedAt: NOW - DAY, ...overrides,
  };
}

export function compliantInput(): CheckInput {
  const config = validateConfig({
    issuer: 'https://auth.example.org',
    listen: { host: '127.0.0.1', port: 8443 },
    tls: { cert: '/etc/caduceus/tls.pem', key: '/etc/caduceus/tls-key.pem' },
    storage: 'postgres://caduceus@db.example.org/caduceus?sslmode=verify-full',
    master_key_file: '/etc/caduceus/master.key',
    resources: [{ uri: FHIR, name: 'FHIR', scopes: ['patient/Observation.rs', 'system/Observation.rs'] }],
    clients: [
      {
        client_id: 'patient-app', name: 'Patient App', grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: ['https://app.example.org/cb'], scope: 'openid offline_access patient/Observation.rs', resources: [FHIR],
        token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example.org/jwks',
      },
      {
        client_id: 'backend', name: 'Backend', grant_types: ['client_credentials'], scope: 'system/Observation.rs', resources: [FHIR],
        token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://backend.example.org/jwks',
      },
    ],
    audit: { witness_file: '/var/lib/caduceus/witness' },
  });
  return {
    config,
    clients: [storedClient()],
    users: [
      { id: 'u1', username: 'dr.a', passwordHash: 'x', disabled: false, fhirUser: 'Practitioner/1', createdAt: NOW - DAY, role: 'practitioner' },
      { id: 'u2', username: 'pat.b', passwordHash: 'x', disabled: false, fhirUser: 'Patient/2', createdAt: NOW - DAY, role: 'patient' },
    ],
    signingKeys: [signingKey()],
    ledger: {
      verified: { ok: true, size: 10, rootHash: 'ab'.repeat(32), checkpoints: 3, signaturesChecked: true, checkpointedSize: 10 },
      size: 10, latestCheckpointTime: NOW - 1000, latestCheckpointSize: 10,
    },
    files: {
      masterKeySource: 'file', masterKeyFile: '/etc/caduceus/master.key', masterKeyExists: true, masterKeyMode: 0o100600,
      tlsCertificate: { path: '/etc/caduceus/tls.pem', validFrom: NOW - 10 * DAY, validTo: NOW + 80 * DAY, keyType: 'ec', keyBits: 256, subject: 'CN=auth.example.org' },
      clientSecretBytes: {}, witnessFileExists: true,
    },
    server: { ...serverFacts(config), mfaSupported: true, mfaRequiredRoles: ['practitioner', 'administrator'] },
    now: NOW,
  };
}
