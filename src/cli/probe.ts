// `caduceus probe ISSUER_URL`: black-box compliance tests of a running authorization server, ours
// or anyone's (src/compliance/probe). Only the issuer's origin is ever contacted.
import { readFileSync } from 'node:fs';
import { exitCodeFor } from '../compliance/check.js';
import { parseChoice, parseFailOn, renderReport } from './compliance-options.js';
import { runProbe, type ProbeOptions } from '../compliance/probe/probe.js';
import { parseFlags } from './args.js';
import { onePositional } from './client.js';
import { EXIT_OK, UsageError, type CliCommand } from './command.js';

export const PROBE_SECRET_ENV = 'CADUCEUS_PROBE_CLIENT_SECRET';
export const PROBE_PASSWORD_ENV = 'CADUCEUS_PROBE_PASSWORD';

export const probeCommand: CliCommand = {
  name: 'probe',
  summary: 'test a running authorization server from outside (TLS, PKCE, redirects, tokens)',
  help: `Usage: caduceus probe ISSUER_URL [--client-id ID] [--client-secret SECRET] [--redirect-uri URI]
                      [--username NAME] [--password PASSWORD] [--resource URI] [--scope "SCOPES"]
                      [--ca FILE] [--format text|json|sarif] [--fail-on error|warning|note]

Tests a running OAuth 2.x / OpenID Connect server (Caduceus, Keycloak, node-oidc-provider, Hydra…)
from the outside. It only ever sends traffic to ISSUER_URL's origin: redirects to the client are
read, never followed, and endpoints on other origins are skipped.

Always: TLS versions and cipher suites (TLS 1.0/1.1, CBC, static RSA), HSTS, the metadata (PKCE
methods, grant and response types, RFC 9207 iss), private members in the JWKS, stack traces in
error responses.
With --client-id and --redirect-uri: authorization requests without PKCE, with plain PKCE, and
with altered redirect URIs (added path, query, port, case change).
With --username and --password too: a real login through the HTML login and consent forms, then
token lifetime and claims (PHI-looking claims), Cache-Control on token responses, code replay,
refresh-token rotation and reuse detection. Use a test account: the probe creates one grant and
revokes it by replaying its refresh token.

Options:
  --client-id ID          the client to test with
  --client-secret SECRET  its secret (client_secret_basic); better: set ${PROBE_SECRET_ENV}
  --redirect-uri URI      a redirect URI registered for the client
  --username NAME         a test user
  --password PASSWORD     its password; better: set ${PROBE_PASSWORD_ENV}
  --resource URI          the resource (RFC 8707) to ask tokens for
  --scope "SCOPES"        scopes to request (default "openid"; add offline_access for refresh checks)
  --ca FILE               a PEM CA certificate to trust for the server (private or development CA)
  --format FORMAT         text (default), json or sarif
  --fail-on LEVEL         exit 1 when a finding at or above LEVEL exists: error (default), warning, note
  --docs-url URL          base URL of docs/compliance.md for SARIF helpUri
  -h, --help              print this help

Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage error.
`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, {
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      resource: { type: 'string' },
      scope: { type: 'string' },
      ca: { type: 'string' },
      format: { type: 'string' },
      'fail-on': { type: 'string' },
      'docs-url': { type: 'string' },
    }, true);
    if (values.help) {
      io.stdout(probeCommand.help);
      return EXIT_OK;
    }
    for (const flag of ['config', 'data', 'json'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} does not apply to probe${flag === 'json' ? '; use --format json' : ''}`);
    }
    const issuer = onePositional(positionals, 'issuer URL', 'caduceus probe https://auth.example.org');
    if (!URL.canParse(issuer) || !/^https?:$/.test(new URL(issuer).protocol)) throw new UsageError(`ISSUER_URL ${issuer}: give an absolute http(s) URL, e.g. https://auth.example.org`);
    const format = parseChoice(values.format, 'format', ['text', 'json', 'sarif'] as const, 'text');
    const failOn = parseFailOn(values['fail-on']);
    const redirectUri = values['redirect-uri'];
    if (redirectUri !== undefined && !URL.canParse(redirectUri)) throw new UsageError(`--redirect-uri ${redirectUri}: give an absolute URI`);
    let ca: string | undefined;
    if (values.ca !== undefined) {
      try {
        ca = readFileSync(values.ca, 'utf8');
      } catch (err) {
        throw new UsageError(`--ca ${values.ca}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    const clientSecret = values['client-secret'] ?? (io.env[PROBE_SECRET_ENV] || undefined);
    const password = values.password ?? (io.env[PROBE_PASSWORD_ENV] || undefined);
    if ((values.username === undefined) !== (password === undefined)) throw new UsageError(`--username and --password (or ${PROBE_PASSWORD_ENV}) go together`);
    const options: ProbeOptions = {
      issuer,
      ...(values['client-id'] !== undefined ? { clientId: values['client-id'] } : {}),
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      ...(redirectUri !== undefined ? { redirectUri } : {}),
      ...(values.username !== undefined ? { username: values.username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(values.resource !== undefined ? { resource: values.resource } : {}),
      ...(values.scope !== undefined ? { scope: values.scope } : {}),
      ...(ca !== undefined ? { ca } : {}),
    };
    const { report } = await runProbe(options);
    io.stdout(renderReport(report, format, values['docs-url'] ? { docsUrl: values['docs-url'] } : {}));
    return exitCodeFor(report, failOn);
  },
};
