// `caduceus migrate`: applies the numbered schema migrations (src/storage/migrations/) and nothing
// else: it opens the database only (with --config it needs neither the master key nor TLS), and can run as a
// deployment step before the new version starts. Servers also migrate at startup; this command lets
// a deployment do it first, once, with its own database role.
import { resolveConfig } from './context.js';
import { OPERATOR_DRIVER_OPTIONS, openSqlDriver } from '../storage/sql.js';
import { runMigrations } from '../storage/migrations/index.js';
import { parseFlags } from './args.js';
import { EXIT_OK, type CliCommand } from './command.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'apply pending database schema migrations',
  help: `Usage: caduceus migrate [--config FILE | --data DIR] [--json]

Applies every pending schema migration, each in its own transaction, and prints the ids it
applied (none when the schema is current). Opens the database only: with --config, neither the
master key nor the TLS files are read, and CADUCEUS_DATABASE_URL overrides the storage setting.
Fails when the database was migrated by a newer version of Caduceus.

  --config FILE   the production configuration (caduceus.yaml)
  --data DIR      the folder of a dev stack (default ./data)
  --json          print {"applied":[…],"current":[…]}: the ids applied now, and every id recorded
  -h, --help      print this help

Exit status: 0 done (also when nothing was pending), 1 failed, 2 usage error.
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {});
    if (values.help) {
      io.stdout(migrateCommand.help);
      return EXIT_OK;
    }
    const config = await resolveConfig(values, io);
    const driver = await openSqlDriver(config.storage, OPERATOR_DRIVER_OPTIONS);
    try {
      const applied = await runMigrations(driver);
      const current = (await driver.all<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')).map((r) => Number(r.id));
      if (values.json) {
        io.stdout(`${JSON.stringify({ applied, current })}\n`);
      } else if (applied.length === 0) {
        io.stdout(`The schema is current (migrations ${current.join(', ')}); nothing applied.\n`);
      } else {
        io.stdout(`Applied migrations: ${applied.join(', ')}.\n`);
      }
      return EXIT_OK;
    } finally {
      await driver.close();
    }
  },
};
