// `caduceus dev`: the quickstart stack on https://localhost.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { devConfig, seedDemo } from '../server/dev-stack.js';
import { startDemoFhirServer } from '../fhir-demo/index.js';
import { createContext, startServer } from '../server/start.js';
import { parseFlags } from './args.js';
import { DEFAULT_DATA_DIR, DEV_SETTINGS_FILE } from './context.js';
import { EXIT_OK, UsageError, type CliCommand } from './command.js';
import { consoleCompliance } from '../compliance/console.js';
import { untilSignal } from './lifecycle.js';

export const devCommand: CliCommand = {
  name: 'dev',
  summary: 'start the local development stack (dev TLS, SQLite, demo data)',
  help: `Usage: caduceus dev [--port 8443] [--data ./data] [--json]

Creates, under the data folder (git ignored): a development CA and a certificate for
localhost/127.0.0.1/::1, a master key file (mode 0600), the SQLite database, signing keys,
a demo confidential client, a demo backend client and a demo user. Then serves
https://localhost:PORT until interrupted.

  --port N     listen port (default 8443)
  --data DIR   data folder (default ./data)
  --json       print one JSON object with the issuer, CA file and demo credentials once ready
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, { port: { type: 'string' } });
    if (values.help) {
      io.stdout(devCommand.help);
      return EXIT_OK;
    }
    const port = Number(values.port ?? 8443);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a whole number from 0 to 65535');
    const dataDir = resolve(values.data ?? DEFAULT_DATA_DIR);
    // The demo FHIR R4 server (synthetic patients) on loopback, fronted by the gateway at /fhir.
    const fhir = await startDemoFhirServer({ port: 0 });
    const { config, caFile } = await devConfig({ dataDir, port, fhirUpstream: fhir.url });
    // The dev stack trusts its own CA for agents' metadata documents served on loopback.
    const ctx = await createContext(config, { env: io.env, clientMetadataCa: readFileSync(caFile, 'utf8') });
    const demo = await seedDemo(ctx, dataDir, caFile);
    const server = await startServer(ctx, { demo, adminConsole: { compliance: consoleCompliance(ctx, io.env) } });
    writeFileSync(join(dataDir, DEV_SETTINGS_FILE), JSON.stringify({ port }), { mode: 0o600 });
    for (const w of ctx.warnings) io.stderr(`warning: ${w}\n`);
    if (values.json) {
      io.stdout(`${JSON.stringify(demo)}\n`);
    } else {
      io.stdout(`Caduceus development stack is running.

  Issuer:        ${config.issuer}   (links to everything below)
  Walkthrough:   ${config.issuer}/demo   (a first authorized FHIR read in your browser)
  Trust this CA: ${caFile}   (e.g. NODE_EXTRA_CA_CERTS=${caFile})
  Demo client:   ${demo.client_id}  (secret and every credential of this running stack: ${join(dataDir, 'demo-credentials.json')})
  Redirect URI:  ${demo.redirect_uri}   (the demo client's; listen there with your own app)
  Demo user:     ${demo.username}   (a patient: Patient/demo-1)
  Practitioner:  ${demo.practitioner_username ?? '-'}   (patient picker and break-glass; sets up a second step at first sign-in)
  EHR client:    ${demo.ehr_client_id ?? '-'}   (POST ${config.issuer}/smart/launch)
  Account page:  ${config.issuer}/account
  FHIR (gateway): ${config.issuer}/fhir  (demo data, synthetic)
  MCP server:    ${demo.mcp_url ?? '-'}  (MCP Streamable HTTP; tokens with resource=${demo.mcp_url ?? '-'})
  Admin console: ${config.issuer}/admin   (${demo.admin_username ?? '-'}: password and TOTP secret in the credentials file)
  Admin API:     ${config.issuer}/admin/api/openapi.json   (client ${demo.admin_client_id ?? '-'}, client_credentials, scope caduceus:admin)

Stop with Ctrl+C.
`);
    }
    return untilSignal(server, async () => {
      await ctx.close();
      await fhir.close();
    });
  },
};
