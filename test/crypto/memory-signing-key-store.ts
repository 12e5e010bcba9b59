// A minimal in-memory SigningKeyStore for the crypto tests, following the contract in
// src/storage/types.ts (records copied in and out, list() newest first).

import type { SigningKeyRecord, SigningKeyStore } from '../../src/storage/types.js';

export class MemorySigningKeyStore implements SigningKeyStore {
  readonly records: SigningKeyRecord[] = [];
  listCalls = 0;

  async add(key: SigningKeyRecord): Promise<void> {
    if (this.records.some((record) => record.kid === key.kid)) {
      throw Object.assign(new Error(`duplicate kid ${key.kid}`), { code: 'ERR_CONFLICT' });
    }
    this.records.push({ ...key });
  }

  async list(): Promise<SigningKeyRecord[]> {
    this.listCalls += 1;
    return this.records
      .map((record, index) => ({ record, index }))
      .sort((a, b) => b.record.createdAt - a.record.createdAt || b.index - a.index)
      .map(({ record }) => ({ ...record }));
  }

  async retire(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    const record = this.records.find((candidate) => candidate.kid === kid);
    if (record === undefined) {
      throw new Error(`unknown kid ${kid}`);
    }
    record.retiredAt = retiredAt;
    record.expiresAt = expiresAt;
  }
}
