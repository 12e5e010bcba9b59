// client_secret_basic and client_secret_post (RFC 6749 §2.3.1). Secrets are server-generated
// 256-bit values stored as a keyed digest and compared in constant time.
import { invalidClient } from '../../errors/oauth-error.js';
import { verifyClientSecret } from '../../crypto/client-secret.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';

export function verifySecretCredentials(ctx: AppContext, client: ClientRecord, secret: string): void {
  if (!client.secretDigest || !verifyClientSecret(ctx.masterKey, secret, client.secretDigest)) {
    throw invalidClient('client authentication failed', `bad secret for ${client.clientId}`);
  }
}
