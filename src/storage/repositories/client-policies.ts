// ClientPolicyStore over SQL: the two per-client flags of migration 004 and the per-client session
// limits of migration 006, columns of `clients`.
import { InternalError } from '../../errors/internal-error.js';
import type { ClientPolicyRecord, ClientPolicyStore, ClientSessionLimits } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromFlag, toFlag } from './rows.js';

type PolicyRow = {
  dpop_bound_access_tokens: number;
  require_pushed_authorization_requests: number;
  session_idle_timeout: number | string | null;
  session_absolute_timeout: number | string | null;
};

/** A stored limit, or null to clear it; refuses anything but a positive whole number of seconds. */
function toLimit(value: number | undefined, name: string): number | null {
  if (value === undefined) return null;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InternalError('ERR_STORAGE', `storage: ${name} must be a positive whole number of seconds`);
  return value;
}

export function createClientPolicyStore(sql: SqlExecutor): ClientPolicyStore {
  return {
    async get(clientId) {
      const row = await sql.get<PolicyRow>(
        'SELECT dpop_bound_access_tokens, require_pushed_authorization_requests, session_idle_timeout, session_absolute_timeout FROM clients WHERE client_id = $1',
        [clientId],
      );
      if (!row) return undefined;
      const policy: ClientPolicyRecord = {
        dpopBoundAccessTokens: fromFlag(row.dpop_bound_access_tokens),
        requirePushedAuthorizationRequests: fromFlag(row.require_pushed_authorization_requests),
      };
      if (row.session_idle_timeout !== null) policy.sessionIdleTimeout = Number(row.session_idle_timeout);
      if (row.session_absolute_timeout !== null) policy.sessionAbsoluteTimeout = Number(row.session_absolute_timeout);
      return policy;
    },
    async set(clientId, policy) {
      const changed = await sql.run(
        'UPDATE clients SET dpop_bound_access_tokens = $1, require_pushed_authorization_requests = $2 WHERE client_id = $3',
        [toFlag(policy.dpopBoundAccessTokens), toFlag(policy.requirePushedAuthorizationRequests), clientId],
      );
      return changed > 0;
    },
    async setSessionLimits(clientId, limits: ClientSessionLimits) {
      const idle = toLimit(limits.sessionIdleTimeout, 'sessionIdleTimeout');
      const absolute = toLimit(limits.sessionAbsoluteTimeout, 'sessionAbsoluteTimeout');
      const changed = await sql.run(
        'UPDATE clients SET session_idle_timeout = $1, session_absolute_timeout = $2 WHERE client_id = $3',
        [idle, absolute, clientId],
      );
      return changed > 0;
    },
  };
}
