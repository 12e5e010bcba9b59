// The static rule catalogue, in report order. Each rule lives in its own module; ids are stable.
import type { Rule } from '../types.js';
import { accessTokenLifetime } from './access-token-lifetime.js';
import { refreshTokenExpiry } from './refresh-token-expiry.js';
import { backendRefreshTokens } from './backend-refresh-tokens.js';
import { broadScopes } from './broad-scopes.js';
import { backendWriteScopes } from './backend-write-scopes.js';
import { malformedScopes } from './malformed-scopes.js';
import { audienceRestriction } from './audience-restriction.js';
import { redirectUris } from './redirect-uris.js';
import { sharedRedirectUris } from './shared-redirect-uris.js';
import { pkceRequired } from './pkce.js';
import { legacyGrants } from './legacy-grants.js';
import { clientAuthentication } from './client-authentication.js';
import { clientSecrets } from './client-secrets.js';
import { signingAlgorithms } from './signing-algorithms.js';
import { signingKeyRotation } from './signing-key-rotation.js';
import { tlsVersion } from './tls-version.js';
import { tlsCipherSuites } from './tls-cipher-suites.js';
import { hsts } from './hsts.js';
import { tlsCertificate } from './tls-certificate.js';
import { ledgerWitness } from './ledger-witness.js';
import { ledgerVerification } from './ledger-verification.js';
import { ledgerRetention } from './ledger-retention.js';
import { mfaRequired } from './mfa.js';
import { sessionTimeout } from './session-timeout.js';
import { unsafeSwitches } from './unsafe-switches.js';
import { masterKey } from './master-key.js';
import { databaseTls } from './database-tls.js';
import { adminListener } from './admin-listener.js';
import { breakGlassWebhook } from './break-glass-webhook.js';

export const STATIC_RULES: readonly Rule[] = [
  accessTokenLifetime,
  refreshTokenExpiry,
  backendRefreshTokens,
  broadScopes,
  backendWriteScopes,
  malformedScopes,
  audienceRestriction,
  redirectUris,
  sharedRedirectUris,
  pkceRequired,
  legacyGrants,
  clientAuthentication,
  clientSecrets,
  signingAlgorithms,
  signingKeyRotation,
  tlsVersion,
  tlsCipherSuites,
  hsts,
  tlsCertificate,
  ledgerWitness,
  ledgerVerification,
  ledgerRetention,
  mfaRequired,
  sessionTimeout,
  breakGlassWebhook,
  unsafeSwitches,
  masterKey,
  databaseTls,
  adminListener,
];
