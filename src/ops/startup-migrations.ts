// Startup migrations that work under a least-privilege database role (docs/deployment.md).
//
// A server migrates at startup, but the role it should run as in production holds no CREATE
// privilege: migrations are a deployment step (`caduceus migrate`, as the schema owner). So the
// server first reads schema_migrations (SELECT only) and calls runMigrations, which needs CREATE,
// only when a migration this build knows is missing or the database records one it does not
// know (runMigrations then refuses with its ERR_CONFIG message). On a fresh database (no
// schema_migrations yet) it migrates as before.
import { migrations, runMigrations } from '../storage/migrations/index.js';
import type { SqlDriver } from '../storage/sql.js';

/** Resolves the ids applied now (empty when the schema was current, without any write). */
export async function migrateWhenPending(driver: SqlDriver): Promise<number[]> {
  let recorded: Set<number>;
  try {
    recorded = new Set((await driver.all<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => Number(r.id)));
  } catch {
    return runMigrations(driver);
  }
  const known = new Set(migrations.map((m) => m.id));
  const current = migrations.every((m) => recorded.has(m.id)) && [...recorded].every((id) => known.has(id));
  return current ? [] : runMigrations(driver);
}
