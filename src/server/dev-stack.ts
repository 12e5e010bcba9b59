// The quickstart stack (`caduceus dev`): a development CA and localhost certificate, a master key
// file (0600), an embedded SQLite database, signing keys, a demo confidential client, a demo
// backend client and a demo user — all under one git-ignored data folder.
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureDevCertificates } from '../crypto/dev-ca.js';
import { createMasterKeyFile } from '../crypto/master-key.js';
import { randomToken } from '../crypto/random.js';
import { loadConfigObject } from '../config/load.js';
import type { CaduceusConfig } from '../config/schema.js';
import { LAUNCH_API_SCOPE } from '../smart/launch-endpoint.js';
import { addClient } from '../admin/clients.js';
import { addUser } from '../admin/users.js';
import { ADMIN_API_SCOPE, adminApiAudience } from '../admin/api/index.js';
import { enrollTotp, newTotpSecret } from '../interaction/mfa/factors.js';
import { base32Decode, totp } from '../interaction/mfa/totp.js';
import type { AppContext } from '../context/app-context.js';
import { WALKTHROUGH_CALLBACK_PATH, type WalkthroughClient } from '../demo/registry.js';

export interface DevStackOptions {
  dataDir: string;
  port: number;
  /** Listen address; loopback only. */
  host?: string;
  /** Host name in the issuer URL. */
  issuerHost?: string;
  /** Overrides the embedded SQLite database (e.g. a PostgreSQL URL in tests). */
  storage?: string;
  /** URL of the demo FHIR server: when given, the gateway fronts it at ${issuer}/fhir. */
  fhirUpstream?: string;
}

export interface DemoCredentials {
  issuer: string;
  ca_file: string;
  client_id: string;
  client_secret: string;
  redirect_uri: string;
  scope: string;
  username: string;
  password: string;
  resource: string;
  /** The FHIR MCP server (MCP Streamable HTTP) and the resource its tokens are issued for; absent without the demo FHIR server. */
  mcp_url?: string;
  cc_client_id: string;
  cc_client_secret: string;
  cc_scope: string;
  /** The /demo walkthrough's own confidential client (redirect_uri ${issuer}/demo/callback). */
  walkthrough_client_id?: string;
  walkthrough_client_secret?: string;
  /** A practitioner with five demo patients on their panel (the consent page's patient picker) and break-glass. */
  practitioner_username?: string;
  practitioner_password?: string;
  /** An EHR client allowed to create SMART launch contexts (POST /smart/launch). */
  ehr_client_id?: string;
  ehr_client_secret?: string;
  /** The demo administrator of the admin console (/admin): password plus a code of this TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s). */
  admin_username?: string;
  admin_password?: string;
  admin_totp_secret?: string;
  /** A client_credentials client of the admin API (/admin/api, scope caduceus:admin). */
  admin_client_id?: string;
  admin_client_secret?: string;
}

/**
 * The demo client's first redirect URI: a loopback address a local app can listen on (RFC 8252
 * §7.3: any port of 127.0.0.1 is accepted), so the redirect lands in the developer's own program.
 */
export const DEMO_REDIRECT_URI = 'http://127.0.0.1:8765/callback';
export const DEMO_SCOPE = 'openid offline_access patient/Patient.rs patient/Observation.rs';
export const DEMO_CC_SCOPE = 'system/Patient.rs system/Observation.rs';
/** What the demo app may ask for beyond DEMO_SCOPE: SMART launch context and fhirUser. */
const DEMO_APP_EXTRA_SCOPE = 'fhirUser launch launch/patient launch/encounter';
/** Where the dev stack serves the FHIR MCP server. */
export const MCP_PATH = '/mcp';
const DEMO_RESOURCE_SCOPES = [
  'patient/Patient.rs', 'patient/Observation.rs', 'patient/Condition.rs', 'patient/*.rs',
  'system/Patient.rs', 'system/Observation.rs',
];

export async function devConfig(options: DevStackOptions): Promise<{ config: CaduceusConfig; caFile: string }> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tls = await ensureDevCertificates(join(dataDir, 'tls'));
  const keyFile = join(dataDir, 'master.key');
  if (!existsSync(keyFile)) createMasterKeyFile(keyFile);
  const issuer = `https://${options.issuerHost ?? 'localhost'}:${options.port}`;
  const { config } = loadConfigObject({
    issuer,
    listen: { host: options.host ?? 'localhost', port: options.port },
    tls: { cert: tls.certFile, key: tls.keyFile },
    storage: options.storage ?? `sqlite:${join(dataDir, 'caduceus.db')}`,
    master_key_file: keyFile,
    resources: [
      { uri: `${issuer}/fhir`, name: 'Demo FHIR server', scopes: DEMO_RESOURCE_SCOPES },
      // The FHIR MCP server in front of the same gateway route (src/agents/mcp/): its own audience.
      { uri: `${issuer}${MCP_PATH}`, name: 'Demo FHIR MCP server', scopes: DEMO_RESOURCE_SCOPES },
      // The admin API (src/admin/api/): service clients with the caduceus:admin scope.
      { uri: adminApiAudience(issuer), name: 'Caduceus admin API', scopes: [ADMIN_API_SCOPE] },
    ],
    audit: { witness_file: join(dataDir, 'checkpoints.witness') },
    // An agent under development may serve its client ID metadata document from this machine.
    unsafe: { allow_loopback_client_metadata: true },
    // The MCP server needs the /fhir gateway route, so it is on whenever the demo FHIR server is.
    agents: { mcp: { enabled: options.fhirUpstream !== undefined, path: MCP_PATH, fhir_route: '/fhir' } },
    ...(options.fhirUpstream ? {
      gateway: {
        routes: [{
          prefix: '/fhir', upstream: options.fhirUpstream, audience: `${issuer}/fhir`, type: 'fhir',
          // Demo of minimum necessary: identifiers are removed unless the token carries this scope.
          mask: [{ path: 'Patient.identifier', unless_scope: 'phi.identifiers' }],
        }],
      },
    } : {}),
  }, dataDir, {});
  return { config, caFile: tls.caFile };
}

/**
 * Creates the demo client, backend client and user on first start, and keeps their credentials in
 * demo-credentials.json (mode 0600, development only) so `caduceus dev --json` can print them again.
 */
export async function seedDemo(ctx: AppContext, dataDir: string, caFile: string): Promise<DemoCredentials> {
  const file = join(resolve(dataDir), 'demo-credentials.json');
  const issuer = ctx.config.issuer;
  const resource = `${issuer}/fhir`;
  const mcpUrl = `${issuer}${ctx.config.agents.mcp.path}`;
  const mcp = ctx.config.agents.mcp.enabled ? { mcp_url: mcpUrl } : {};
  const deps = { storage: ctx.storage, masterKey: ctx.masterKey, audit: ctx.audit, now: ctx.now, actor: 'dev-stack' };
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials;
    if (saved.issuer === issuer && (await ctx.storage.clients.get(saved.client_id))) {
      let credentials = saved;
      if (!saved.walkthrough_client_id || !saved.walkthrough_client_secret || !(await ctx.storage.clients.get(saved.walkthrough_client_id))) {
        // A data folder from before the /demo page: add its client and keep the other credentials.
        credentials = { ...credentials, ...(await addWalkthroughClient(deps, issuer, randomBytes(3).toString('hex'))) };
      }
      if (saved.redirect_uri !== DEMO_REDIRECT_URI && (await ctx.storage.clients.get(saved.client_id))?.redirectUris.includes(DEMO_REDIRECT_URI)) {
        // A data folder from before the loopback redirect URI came first: the demo client has it already.
        credentials = { ...credentials, redirect_uri: DEMO_REDIRECT_URI };
      }
      if (!saved.admin_client_id || !(await ctx.storage.clients.get(saved.admin_client_id))) {
        // A data folder from before the admin console: add its administrator and API client.
        credentials = { ...credentials, ...(await addAdminDemo(ctx, deps, randomBytes(3).toString('hex'))) };
      }
      if (!saved.ehr_client_id || !(await ctx.storage.clients.get(saved.ehr_client_id))) {
        // A data folder from before SMART launch: add the practitioner and the EHR client.
        credentials = { ...credentials, ...(await addLaunchDemo(deps, resource, randomBytes(3).toString('hex'))) };
      }
      if (credentials !== saved) {
        writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
        chmodSync(file, 0o600);
      }
      return { ...credentials, ...mcp, ca_file: caFile };
    }
  }
  const suffix = randomBytes(3).toString('hex');
  // The demo app may also ask for a token for the MCP server (its own audience).
  const appResources = ctx.config.resources.map((r) => r.uri).filter((uri) => uri === resource || uri === mcpUrl);
  const app = await addClient(deps, {
    client_id: `demo-app-${suffix}`, name: 'Demo Patient App', grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [DEMO_REDIRECT_URI, 'https://app.example.test/cb'], scope: `${DEMO_SCOPE} ${DEMO_APP_EXTRA_SCOPE}`, resources: appResources,
    token_endpoint_auth_method: 'client_secret_basic',
  }, appResources);
  const backend = await addClient(deps, {
    client_id: `demo-backend-${suffix}`, name: 'Demo Backend Service', grant_types: ['client_credentials'], redirect_uris: [],
    scope: DEMO_CC_SCOPE, resources: [resource], token_endpoint_auth_method: 'client_secret_basic',
  }, [resource]);
  const password = randomToken(18);
  const username = `demo.patient.${suffix}`;
  await addUser(deps, { username, password, fhirUser: 'Patient/demo-1' });
  const credentials: DemoCredentials = {
    issuer, ca_file: caFile, client_id: app.client.clientId, client_secret: app.secret!, redirect_uri: DEMO_REDIRECT_URI,
    scope: DEMO_SCOPE, username, password, resource, cc_client_id: backend.client.clientId, cc_client_secret: backend.secret!,
    cc_scope: DEMO_CC_SCOPE, ...mcp, ...(await addWalkthroughClient(deps, issuer, suffix)), ...(await addLaunchDemo(deps, resource, suffix)),
    ...(await addAdminDemo(ctx, deps, suffix)),
  };
  writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600);
  return credentials;
}

/**
 * SMART launch in the dev stack: a practitioner (second factor set up at first sign-in) with five
 * demo patients on their panel and the break-glass permission, and an EHR client that may create
 * launch contexts. Development stack only.
 */
async function addLaunchDemo(deps: Parameters<typeof addClient>[0], resource: string, suffix: string): Promise<Pick<DemoCredentials, 'practitioner_username' | 'practitioner_password' | 'ehr_client_id' | 'ehr_client_secret'>> {
  const password = randomToken(18);
  const practitioner = await addUser(deps, { username: `demo.practitioner.${suffix}`, password, role: 'practitioner', fhirUser: 'Practitioner/demo-practitioner' });
  await deps.storage.users.setPatientPanel(practitioner.id, ['demo-1', 'demo-2', 'demo-3', 'demo-4', 'demo-5']);
  await deps.storage.users.setBreakGlass(practitioner.id, true);
  const ehr = await addClient(deps, {
    client_id: `demo-ehr-${suffix}`, name: 'Demo EHR (launch API)', grant_types: ['client_credentials'], redirect_uris: [],
    scope: LAUNCH_API_SCOPE, resources: [resource], token_endpoint_auth_method: 'client_secret_basic',
  }, [resource]);
  return { practitioner_username: practitioner.username, practitioner_password: password, ehr_client_id: ehr.client.clientId, ehr_client_secret: ehr.secret! };
}

/**
 * The admin console's demo administrator, with an authenticator app already enrolled (its secret is
 * in the credentials file: any TOTP app or `oathtool --totp -b SECRET` gives the codes), and an
 * admin API client. Development stack only.
 */
async function addAdminDemo(ctx: AppContext, deps: Parameters<typeof addClient>[0], suffix: string): Promise<Pick<DemoCredentials, 'admin_username' | 'admin_password' | 'admin_totp_secret' | 'admin_client_id' | 'admin_client_secret'>> {
  const password = randomToken(18);
  const admin = await addUser(deps, { username: `demo.admin.${suffix}`, password, role: 'administrator' });
  const secret = newTotpSecret();
  await enrollTotp(ctx, admin, secret, totp(base32Decode(secret), ctx.now()), { requestId: 'dev-stack', sourceAddress: '127.0.0.1' });
  const audience = adminApiAudience(ctx.config.issuer);
  const api = await addClient(deps, {
    client_id: `demo-admin-api-${suffix}`, name: 'Demo admin API client', grant_types: ['client_credentials'], redirect_uris: [],
    scope: ADMIN_API_SCOPE, resources: [audience], token_endpoint_auth_method: 'client_secret_basic',
  }, ctx.config.resources.map((r) => r.uri));
  return { admin_username: admin.username, admin_password: password, admin_totp_secret: secret, admin_client_id: api.client.clientId, admin_client_secret: api.secret! };
}

/** The confidential client the /demo page (src/demo/) uses in process; development stack only. */
async function addWalkthroughClient(deps: Parameters<typeof addClient>[0], issuer: string, suffix: string): Promise<{ walkthrough_client_id: string; walkthrough_client_secret: string }> {
  const resource = `${issuer}/fhir`;
  const { client, secret } = await addClient(deps, {
    client_id: `demo-walkthrough-${suffix}`, name: 'Caduceus Demo Walkthrough', grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [`${issuer}${WALKTHROUGH_CALLBACK_PATH}`], scope: DEMO_SCOPE, resources: [resource],
    token_endpoint_auth_method: 'client_secret_basic',
  }, [resource]);
  return { walkthrough_client_id: client.clientId, walkthrough_client_secret: secret! };
}

/** The /demo walkthrough's client of seeded demo credentials (startServer's `demo` option serves it). */
export function walkthroughClientOf(credentials: DemoCredentials): WalkthroughClient | undefined {
  if (!credentials.walkthrough_client_id || !credentials.walkthrough_client_secret) return undefined;
  return {
    clientId: credentials.walkthrough_client_id, clientSecret: credentials.walkthrough_client_secret,
    redirectUri: `${credentials.issuer}${WALKTHROUGH_CALLBACK_PATH}`, scope: DEMO_SCOPE, resource: `${credentials.issuer}/fhir`,
  };
}
