// The storage entry point: opens the SQL driver for a `storage` URL (sqlite:PATH or postgres://…),
// applies the numbered migrations and assembles one Storage of every store (src/storage/types.ts).
import { runMigrations } from './migrations/index.js';
import { createAccessTokenStore } from './repositories/access-tokens.js';
import { createAuthorizationCodeStore } from './repositories/authorization-codes.js';
import { createClientStore } from './repositories/clients.js';
import { createClientPolicyStore } from './repositories/client-policies.js';
import { createDpopCodeBindingStore } from './repositories/dpop-code-bindings.js';
import { createPushedRequestStore } from './repositories/pushed-requests.js';
import { createConsentStore } from './repositories/consents.js';
import { createGrantStore } from './repositories/grants.js';
import { createInteractionStore } from './repositories/interactions.js';
import { createMfaFactorStore } from './repositories/mfa-factors.js';
import { createPendingLoginStore } from './repositories/pending-logins.js';
import { createRecoveryCodeStore } from './repositories/recovery-codes.js';
import { createRefreshTokenStore } from './repositories/refresh-tokens.js';
import { createReplayStore } from './repositories/replay.js';
import { createSessionStore } from './repositories/sessions.js';
import { createSigningKeyStore } from './repositories/signing-keys.js';
import { createThrottleStore } from './repositories/throttle.js';
import { createRateLimitCountStore } from './repositories/rate-limit-counts.js';
import { createUserStore } from './repositories/users.js';
import { createLaunchContextStore } from './repositories/launch-contexts.js';
import { createBreakGlassStore } from './repositories/break-glass.js';
import { createAgentDecisionStore } from './repositories/agent-decisions.js';
import { createAdminSessionStore, createPasswordSetLinkStore } from './repositories/admin-sessions.js';
import { openSqlDriver, type SqlDriver, type SqlDriverOptions } from './sql.js';
import type { Storage } from './types.js';

export type * from './types.js';
export type { Dialect, SqlDriver, SqlDriverOptions, SqlExecutor, SqlTransaction, SqlValue } from './sql.js';
export { driverOptionsOf } from './sql.js';
export { runMigrations, migrations, type Migration } from './migrations/index.js';

export interface OpenStorageOptions {
  /** Apply pending migrations before resolving (default true). */
  migrate?: boolean;
  /** Pool size and timeouts of a PostgreSQL connection (see SqlDriverOptions). */
  driver?: SqlDriverOptions;
}

/** Opens the storage at url; on failure the driver is closed again and the error rethrown. */
export async function openStorage(url: string, opts: OpenStorageOptions = {}): Promise<Storage> {
  const driver = await openSqlDriver(url, opts.driver);
  try {
    if (opts.migrate ?? true) await runMigrations(driver);
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  return createStorage(driver);
}

/** Every store over one already open driver (migrations are the caller's business). close() closes the driver. */
export function createStorage(driver: SqlDriver): Storage {
  return {
    clients: createClientStore(driver),
    users: createUserStore(driver),
    signingKeys: createSigningKeyStore(driver),
    codes: createAuthorizationCodeStore(driver),
    grants: createGrantStore(driver),
    refreshTokens: createRefreshTokenStore(driver),
    accessTokens: createAccessTokenStore(driver),
    consents: createConsentStore(driver),
    sessions: createSessionStore(driver),
    interactions: createInteractionStore(driver),
    replay: createReplayStore(driver),
    throttle: createThrottleStore(driver),
    rateLimitCounts: createRateLimitCountStore(driver),
    clientPolicies: createClientPolicyStore(driver),
    pushedRequests: createPushedRequestStore(driver),
    dpopCodeBindings: createDpopCodeBindingStore(driver),
    mfaFactors: createMfaFactorStore(driver),
    recoveryCodes: createRecoveryCodeStore(driver),
    pendingLogins: createPendingLoginStore(driver),
    launchContexts: createLaunchContextStore(driver),
    breakGlass: createBreakGlassStore(driver),
    agentDecisions: createAgentDecisionStore(driver),
    adminSessions: createAdminSessionStore(driver),
    passwordSetLinks: createPasswordSetLinkStore(driver),
    sql: driver,
    close: () => driver.close(),
  };
}
