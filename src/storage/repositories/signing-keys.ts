// SigningKeyStore over SQL: ES256 signing keys and their rollover times (RFC 7517 key rollover).
import { InternalError } from '../../errors/internal-error.js';
import type { SigningKeyRecord, SigningKeyStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type SigningKeyRow = {
  kid: string;
  alg: string;
  public_jwk: string;
  private_sealed: string;
  created_at: number;
  activates_at: number;
  retired_at: number | null;
  expires_at: number | null;
};

function toRecord(row: SigningKeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg as SigningKeyRecord['alg'],
    publicJwk: row.public_jwk,
    privateSealed: row.private_sealed,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    retiredAt: row.retired_at,
    expiresAt: row.expires_at,
  };
}

export function createSigningKeyStore(sql: SqlExecutor): SigningKeyStore {
  return {
    async add(key) {
      await insertNew(sql, 'signing_keys', {
        kid: key.kid,
        alg: key.alg,
        public_jwk: key.publicJwk,
        private_sealed: key.privateSealed,
        created_at: key.createdAt,
        activates_at: key.activatesAt,
        retired_at: key.retiredAt,
        expires_at: key.expiresAt,
      });
    },
    async list() {
      const rows = await sql.all<SigningKeyRow>(
        'SELECT kid, alg, public_jwk, private_sealed, created_at, activates_at, retired_at, expires_at FROM signing_keys ORDER BY created_at DESC, kid DESC',
      );
      return rows.map(toRecord);
    },
    async retire(kid, retiredAt, expiresAt) {
      const changed = await sql.run('UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE kid = $3', [retiredAt, expiresAt, kid]);
      if (changed === 0) throw new InternalError('ERR_NOT_FOUND', 'storage: signing_keys: no key with this kid');
    },
  };
}
