// `caduceus serve --config caduceus.yaml`: production mode.
import { loadConfigFile } from '../config/load.js';
import { createContext, startServer } from '../server/start.js';
import { parseFlags, requireFlag } from './args.js';
import { runStartupGate } from '../compliance/startup.js';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command.js';
import { consoleCompliance } from '../compliance/console.js';
import { untilSignal } from './lifecycle.js';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the authorization server from a configuration file',
  help: `Usage: caduceus serve --config caduceus.yaml

Refuses to start without a master key (CADUCEUS_MASTER_KEY or master_key_file), without TLS
(unless unsafe.tls_terminated_by_proxy), or with an http issuer. CADUCEUS_DATABASE_URL
overrides the storage setting. See docs/configuration.md.

Before listening it runs the compliance check (caduceus check, see docs/compliance.md) and refuses
to start on any error finding, printing the findings (exit 1). unsafe.allow_noncompliant_start:
true starts anyway under a loud warning, and is itself an error finding.
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {});
    if (values.help) {
      io.stdout(serveCommand.help);
      return EXIT_OK;
    }
    const { config } = loadConfigFile(requireFlag(values.config, 'config', 'the path of caduceus.yaml'), io.env);
    const ctx = await createContext(config, { env: io.env });
    for (const w of ctx.warnings) io.stderr(`warning: ${w}\n`);
    // The compliance check gates the start (45 CFR 164.306(d)(3): a weakened safeguard is a decision, not a default).
    const gate = await runStartupGate(ctx, io).catch(async (err: unknown) => {
      await ctx.close();
      throw err;
    });
    if (!gate.start) {
      await ctx.close();
      return EXIT_FAILURE;
    }
    const server = await startServer(ctx, { adminConsole: { compliance: consoleCompliance(ctx, io.env) } });
    io.stderr(`caduceus: serving ${config.issuer} on ${server.url}\n`);
    return untilSignal(server, () => ctx.close());
  },
};
