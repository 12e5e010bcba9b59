// RFC 9700 §2.5: "It is RECOMMENDED to use asymmetric cryptography for client authentication";
// FAPI 2.0 §5.3.2.1 (tokens and secrets with at least 128 bits of entropy); Caduceus requires
// 256-bit (32-byte) client secrets. 45 CFR 164.312(d).
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

export const CLIENT_SECRET_MIN_BYTES = 32;

const id = 'CAD-CLI-002';
const finding = findingsOf(id);

export const clientSecrets: Rule = {
  id,
  title: 'Weak or symmetric client secrets',
  severity: 'error',
  citations: ['45 CFR 164.312(d)', 'RFC 9700 §2.5', 'SMART App Launch 2.2 client-confidential-symmetric'],
  description:
    `A configuration client's secret (the environment variable named by client_secret_env) must hold at least ${CLIENT_SECRET_MIN_BYTES} bytes; an unset variable is a warning (serve refuses to start). Shared secrets are noted: private_key_jwt keeps no secret on the server at all.`,
  check(input) {
    const out: Finding[] = [];
    for (const c of clientViews(input)) {
      if (c.clientSecretEnv !== undefined) {
        const bytes = input.files.clientSecretBytes?.[c.clientSecretEnv];
        if (bytes === undefined) {
          out.push(finding('warning', `clients[${c.configIndex ?? '?'}].client_secret_env`, `Environment variable ${c.clientSecretEnv} (secret of client ${c.clientId}) is not set here.`, `Set ${c.clientSecretEnv} to at least ${CLIENT_SECRET_MIN_BYTES} random bytes (openssl rand -base64 32) wherever Caduceus runs.`));
        } else if (bytes < CLIENT_SECRET_MIN_BYTES) {
          out.push(finding('error', `clients[${c.configIndex ?? '?'}].client_secret_env`, `The secret of client ${c.clientId} (${c.clientSecretEnv}) is ${bytes} bytes; at least ${CLIENT_SECRET_MIN_BYTES} are required.`, `Replace it with at least ${CLIENT_SECRET_MIN_BYTES} random bytes (openssl rand -base64 32).`));
        }
      }
      if (c.tokenEndpointAuthMethod.startsWith('client_secret')) {
        out.push(finding('note', c.location, `Client ${c.clientId} authenticates with a shared secret (${c.tokenEndpointAuthMethod}).`, 'Prefer private_key_jwt: the server then holds only the client\'s public key.'));
      }
    }
    return out;
  },
};
