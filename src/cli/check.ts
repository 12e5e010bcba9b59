// `caduceus check`: the static compliance check (docs/compliance.md "Static rules") of a
// configuration and its stored state: clients, users, signing keys and the audit ledger (fully
// verified). The rules live in src/compliance/rules, one per file; this module only resolves the
// target and prints the report.
import { resolve } from 'node:path';
import { ConfigError } from '../config/schema.js';
import { exitCodeFor, runStaticCheck } from '../compliance/check.js';
import { configArtifact, parseChoice, parseFailOn, renderReport } from './compliance-options.js';
import { collectCheckInput } from '../compliance/input.js';
import type { AppContext } from '../context/app-context.js';
import { parseFlags } from './args.js';
import { openAdminContext, resolveConfig, DEFAULT_DATA_DIR } from './context.js';
import { EXIT_OK, UsageError, type CliCommand } from './command.js';

export const checkCommand: CliCommand = {
  name: 'check',
  summary: 'check the configuration and stored state against the compliance rules',
  help: `Usage: caduceus check [--config FILE | --data DIR] [--format text|json|sarif] [--fail-on error|warning|note]

Inspects the configuration and what is stored with it (clients, users, signing keys, the audit
ledger, verified in full) against the compliance rules in docs/compliance.md: token lifetimes,
refresh tokens, scopes, audiences, redirect URIs, PKCE, grants, client authentication, signing
keys, TLS and HSTS, the audit ledger, MFA, session timeout, unsafe.* switches, the master key,
database TLS and admin endpoints. Each finding names the rule, where (config path or client:ID),
what was found and the fix.

Options:
  --config FILE       the production configuration (caduceus.yaml)
  --data DIR          the folder of a dev stack (default ./data)
  --format FORMAT     text (default), json, or sarif (SARIF 2.1.0 for code-scanning tools)
  --fail-on LEVEL     exit 1 when a finding at or above LEVEL exists: error (default), warning, note
  --docs-url URL      base URL of docs/compliance.md for SARIF helpUri (default: this installation's copy)
  -h, --help          print this help

When the master key or the database cannot be opened, the configuration is still checked and the
reason is reported as a finding.
Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage error.
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, { format: { type: 'string' }, 'fail-on': { type: 'string' }, 'docs-url': { type: 'string' } });
    if (values.help) {
      io.stdout(checkCommand.help);
      return EXIT_OK;
    }
    if (values.json) throw new UsageError('use --format json');
    const format = parseChoice(values.format, 'format', ['text', 'json', 'sarif'] as const, 'text');
    const failOn = parseFailOn(values['fail-on']);
    let ctx: (AppContext & { close(): Promise<void> }) | undefined;
    let contextError: string | undefined;
    try {
      ctx = await openAdminContext(values, io);
    } catch (err) {
      if (err instanceof UsageError || err instanceof ConfigError) throw err;
      contextError = `the master key or database could not be opened: ${(err as Error).message}`;
    }
    let report;
    try {
      const config = ctx?.config ?? (await resolveConfig(values, io));
      const input = await collectCheckInput(config, ctx, { env: io.env, ...(contextError ? { contextError } : {}) });
      const target = values.config ? resolve(values.config) : resolve(values.data ?? DEFAULT_DATA_DIR);
      report = runStaticCheck(input, { target });
    } finally {
      await ctx?.close();
    }
    const artifact = values.config ? configArtifact(values.config) : undefined;
    io.stdout(renderReport(report, format, { ...(artifact ? { artifact } : {}), ...(values['docs-url'] ? { docsUrl: values['docs-url'] } : {}) }));
    return exitCodeFor(report, failOn);
  },
};
