// ClientPolicyStore over SQL: the two per-client flags of migration 004, columns of `clients`.
import type { ClientPolicyStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromFlag, toFlag } from './rows.js';

type PolicyRow = { dpop_bound_access_tokens: number; require_pushed_authorization_requests: number };

export function createClientPolicyStore(sql: SqlExecutor): ClientPolicyStore {
  return {
    async get(clientId) {
      const row = await sql.get<PolicyRow>(
        'SELECT dpop_bound_access_tokens, require_pushed_authorization_requests FROM clients WHERE client_id = $1',
        [clientId],
      );
      return row && {
        dpopBoundAccessTokens: fromFlag(row.dpop_bound_access_tokens),
        requirePushedAuthorizationRequests: fromFlag(row.require_pushed_authorization_requests),
      };
    },
    async set(clientId, policy) {
      const changed = await sql.run(
        'UPDATE clients SET dpop_bound_access_tokens = $1, require_pushed_authorization_requests = $2 WHERE client_id = $3',
        [toFlag(policy.dpopBoundAccessTokens), toFlag(policy.requirePushedAuthorizationRequests), clientId],
      );
      return changed > 0;
    },
  };
}
