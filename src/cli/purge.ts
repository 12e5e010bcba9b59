// `caduceus purge`: deletes expired short-lived rows now (src/storage/purge.ts). Servers already
// do this every ten minutes; the command is for a database no server runs against, or a cron job
// of a deployment that wants it at a time of its choosing. Never touches the audit ledger,
// consents, grants or break-glass records.
import { resolveConfig } from './context.js';
import { OPERATOR_DRIVER_OPTIONS, openSqlDriver } from '../storage/sql.js';
import { purgeExpired, purgePolicyOf } from '../storage/purge.js';
import { migrateWhenPending } from '../ops/startup-migrations.js';
import { parseFlags } from './args.js';
import { EXIT_OK, type CliCommand } from './command.js';

export const purgeCommand: CliCommand = {
  name: 'purge',
  summary: 'delete expired codes, sessions, interactions and other short-lived rows',
  help: `Usage: caduceus purge [--config FILE | --data DIR] [--json]

Deletes rows that can never be accepted again: authorization codes a day after they expired,
refresh tokens past their absolute expiry, revoked access-token records past their expiry,
sign-in sessions past the idle or absolute limit, and expired interactions, pending logins,
pushed authorization requests, launch contexts, replay values, DPoP code bindings and old
failed-login counts. The latest use of each grant is kept, so /account still shows when an app
was last used. The audit ledger, consents, grants, users, clients, keys and break-glass records
are never deleted. Running servers do the same every ten minutes.

  --config FILE   the production configuration (caduceus.yaml)
  --data DIR      the folder of a dev stack (default ./data)
  --json          print {"deleted":{"<table>":n,…}}
  -h, --help      print this help

Exit status: 0 done (also when nothing had expired), 1 failed, 2 usage error.
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {});
    if (values.help) {
      io.stdout(purgeCommand.help);
      return EXIT_OK;
    }
    const config = await resolveConfig(values, io);
    const driver = await openSqlDriver(config.storage, OPERATOR_DRIVER_OPTIONS);
    try {
      await migrateWhenPending(driver);
      const deleted = await purgeExpired(driver, Date.now(), purgePolicyOf(config));
      if (values.json) {
        io.stdout(`${JSON.stringify({ deleted })}\n`);
      } else {
        const lines = Object.entries(deleted).filter(([, n]) => n > 0).map(([table, n]) => `  ${table}: ${n}\n`);
        io.stdout(lines.length ? `Deleted expired rows:\n${lines.join('')}` : 'Nothing had expired; nothing deleted.\n');
      }
      return EXIT_OK;
    } finally {
      await driver.close();
    }
  },
};
