// The deployment files stay working without Docker: compose.yaml and the Dockerfile are parsed and
// checked (services, images, ports, health checks, the embedded configuration against the schema;
// base image, user, health check, command), and the database-role scripts of docs/deployment.md
// run against PostgreSQL, with a server started under the least-privilege application role.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import pg from 'pg';
import { parse } from 'yaml';
import { loadConfigObject } from '../../src/config/load.js';
import { MASTER_KEY_ENV } from '../../src/crypto/master-key.js';
import { createContext } from '../../src/server/start.js';
import { checkReadiness } from '../../src/ops/health.js';
import { postgresAdapter, POSTGRES_TEST_URL, testAdapters } from '../storage/databases.js';
import { devConfig } from '../../src/server/dev-stack.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const file = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  configs?: Array<{ source: string; target: string }>;
  secrets?: string[];
  user?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  configs: Record<string, { content: string }>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

const composeText = file('compose.yaml');
const compose = parse(composeText) as Compose;
const instances = Object.keys(compose.services).filter((n) => /^caduceus-\d+$/.test(n));
const ADMIN_READYZ = 'http://127.0.0.1:9464/readyz';

describe('compose.yaml', () => {
  test('has PostgreSQL, Redis, a one-shot migration, at least two instances and a proxy', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['caduceus-1', 'caduceus-2', 'migrate', 'postgres', 'proxy', 'redis']);
    expect(instances.length).toBeGreaterThanOrEqual(2);
  });

  test('every image has an explicit tag, never latest', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.image, name).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
      expect(service.image, name).not.toMatch(/:latest$/);
    }
    expect(compose.services.postgres!.image).toMatch(/^postgres:/);
    expect(compose.services.redis!.image).toMatch(/^redis:/);
    expect(compose.services.migrate!.build).toBe('.');
    for (const name of instances) expect(compose.services[name]!.image).toBe(compose.services.migrate!.image);
  });

  test('only the proxy publishes a port (8443); the admin, database and Redis ports stay inside', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'proxy') expect(service.ports).toEqual(['8443:8443']);
      else expect(service.ports, name).toBeUndefined();
    }
  });

  test('the database, Redis and every instance have health checks; instances check /readyz on the admin port', () => {
    for (const name of ['postgres', 'redis', ...instances]) expect(compose.services[name]!.healthcheck?.test.length, name).toBeGreaterThan(0);
    for (const name of instances) expect(compose.services[name]!.healthcheck!.test.join(' ')).toContain(ADMIN_READYZ);
    for (const name of instances) expect(compose.services.proxy!.depends_on?.[name]?.condition).toBe('service_healthy');
    for (const name of instances) expect(compose.services[name]!.depends_on?.migrate?.condition).toBe('service_completed_successfully');
    expect(compose.services.migrate!.depends_on?.postgres?.condition).toBe('service_healthy');
  });

  test('instances run caduceus serve with the same configuration, secrets from the environment and secret files', () => {
    for (const name of instances) {
      const s = compose.services[name]!;
      expect(s.command).toEqual(['caduceus', 'serve', '--config', '/etc/caduceus/caduceus.yaml']);
      expect(s.configs).toEqual([{ source: 'caduceus_config', target: '/etc/caduceus/caduceus.yaml' }]);
      expect(Object.keys(s.environment ?? {})).toEqual(expect.arrayContaining(['CADUCEUS_DATABASE_URL', MASTER_KEY_ENV]));
      for (const secret of s.secrets ?? []) expect(compose.secrets[secret], secret).toBeDefined();
      expect(s.user).toBeUndefined(); // the image's non-root user
    }
    expect(compose.services.migrate!.command).toEqual(['caduceus', 'migrate', '--config', '/etc/caduceus/caduceus.yaml']);
  });

  test('every variable the file interpolates is named in its header for .env', () => {
    const header = composeText.slice(0, composeText.indexOf('\nname:'));
    const vars = new Set([...composeText.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect(vars.size).toBeGreaterThanOrEqual(3);
    for (const v of vars) expect(header).toContain(`${v}=`);
  });

  test('the embedded caduceus.yaml passes the schema, with an https issuer, Redis, the admin port and no unsafe switch', () => {
    const raw = parse(compose.configs.caduceus_config!.content) as Record<string, unknown>;
    const { config } = loadConfigObject(raw, '/etc/caduceus', { CADUCEUS_DATABASE_URL: 'postgres://caduceus:x@postgres:5432/caduceus' });
    expect(config.issuer).toBe('https://localhost:8443');
    expect(config.listen.port).toBe(8443);
    expect(config.admin).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(config.cache).toBe('redis://redis:6379/0');
    expect(config.tls).toMatchObject({ cert: '/run/secrets/tls_cert', key: '/run/secrets/tls_key' });
    expect(Object.values(config.unsafe)).not.toContain(true);
    // Every client secret variable is given to every instance.
    for (const c of config.clients) if (c.client_secret_env) for (const name of instances) expect(compose.services[name]!.environment).toHaveProperty(c.client_secret_env);
    // Every instance mounts the volume that holds the witness file.
    const witnessDir = config.audit.witness_file!.slice(0, config.audit.witness_file!.lastIndexOf('/'));
    for (const name of instances) expect((compose.services[name] as { volumes?: string[] }).volumes).toContain(`ledger-witness:${witnessDir}`);
  });

  test('the proxy balances round robin over every instance in TCP mode and checks /readyz on the admin port', () => {
    const cfg = compose.configs.haproxy_config!.content;
    expect(cfg).toMatch(/^\s+mode tcp$/m);
    expect(cfg).toMatch(/^\s+balance roundrobin$/m);
    expect(cfg).toMatch(/uri \/readyz/);
    expect(cfg).toMatch(/check port 9464/);
    for (const name of instances) expect(cfg).toMatch(new RegExp(`^\\s+server ${name} ${name}:8443$`, 'm'));
  });
});

/** Dockerfile instructions: continuation lines joined, comments dropped. */
function instructions(text: string): Array<{ op: string; args: string }> {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const all = instructions(file('Dockerfile'));
  const finalStage = all.slice(all.map((i) => i.op).lastIndexOf('FROM'));

  test('builds on node:20-bookworm-slim with npm ci, in a build stage and a runtime stage', () => {
    const froms = all.filter((i) => i.op === 'FROM').map((i) => i.args.split(' ')[0]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toBe('node:20-bookworm-slim');
    expect(all.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(finalStage.some((i) => i.op === 'COPY' && i.args.includes('--from=build') && i.args.includes('dist'))).toBe(true);
  });

  test('runs as a non-root user', () => {
    const users = finalStage.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    // USER comes before CMD, after the last RUN.
    const ops = finalStage.map((i) => i.op);
    expect(ops.lastIndexOf('USER')).toBeGreaterThan(ops.lastIndexOf('RUN'));
  });

  test('has a HEALTHCHECK on /readyz of the admin listener and starts caduceus serve with the mounted configuration', () => {
    const health = finalStage.find((i) => i.op === 'HEALTHCHECK');
    expect(health?.args).toContain(ADMIN_READYZ);
    const cmd = finalStage.filter((i) => i.op === 'CMD').at(-1);
    expect(JSON.parse(cmd!.args)).toEqual(['caduceus', 'serve', '--config', '/etc/caduceus/caduceus.yaml']);
    expect(finalStage.some((i) => i.op === 'EXPOSE' && i.args.split(' ').includes('8443'))).toBe(true);
  });

  test('bakes no secret into the image', () => {
    for (const i of all.filter((x) => x.op === 'ENV' || x.op === 'ARG')) expect(i.args).not.toMatch(/MASTER_KEY|PASSWORD|SECRET|DATABASE_URL/);
    const ignore = file('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', '.env', '*.key', '*.pem', 'data', '.git']) expect(ignore).toContain(entry);
  });
});

const postgresUp = (await testAdapters()).includes(postgresAdapter);

describe.runIf(postgresUp)('the database roles of docs/deployment.md', () => {
  const doc = file('docs/deployment.md');
  const block = (marker: string) => {
    const m = new RegExp('```sql\\n(-- deployment: ' + marker + '\\n[\\s\\S]*?)```').exec(doc);
    if (!m) throw new Error(`docs/deployment.md has no sql block starting "-- deployment: ${marker}"`);
    return m[1]!;
  };

  test('run as written: the application role serves, appends to the ledger and cannot rewrite it; the auditor reads only the ledger', async () => {
    const suffix = randomBytes(4).toString('hex');
    const names = { caduceus_owner: `cad_owner_${suffix}`, caduceus_app: `cad_app_${suffix}`, caduceus_auditor: `cad_auditor_${suffix}`, caduceus: `cad_schema_${suffix}` };
    // Longest names first, so "caduceus" does not eat the role names.
    const rename = (sql: string) => sql.replace(/\bcaduceus(_owner|_app|_auditor)?\b/g, (m) => names[m as keyof typeof names]);
    const password = randomBytes(12).toString('hex');
    const admin = new pg.Client({ connectionString: POSTGRES_TEST_URL });
    await admin.connect();
    const urlFor = (role: string) => {
      const u = new URL(POSTGRES_TEST_URL);
      u.username = role;
      u.password = password;
      return u.href;
    };
    const dir = mkdtempSync(join(tmpdir(), 'caduceus-roles-'));
    try {
      await admin.query(rename(block('roles')));
      for (const role of [names.caduceus_owner, names.caduceus_app, names.caduceus_auditor]) await admin.query(`ALTER ROLE ${role} PASSWORD '${password}'`);

      // The deployment step: migrate as the owner (the server itself would, on an empty schema), then the grants.
      const { config } = await devConfig({ dataDir: dir, port: 0, host: '127.0.0.1', issuerHost: '127.0.0.1', storage: urlFor(names.caduceus_owner) });
      const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
      const ownerCtx = await createContext(config, { env, log: () => undefined });
      await ownerCtx.close();
      const owner = new pg.Client({ connectionString: urlFor(names.caduceus_owner) });
      await owner.connect();
      try {
        await owner.query(rename(block('grants')));
      } finally {
        await owner.end();
      }

      // The server under the application role: starts (no CREATE needed), audits, is ready.
      const ctx = await createContext({ ...config, storage: urlFor(names.caduceus_app) }, { env, log: () => undefined });
      try {
        await ctx.audit.record({ type: 'key.rotated', actor: { userId: 'cli:test' }, outcome: 'success' } as never);
        expect(await checkReadiness(ctx)).toEqual({ ready: true, checks: { database: 'ok', ledger: 'ok', keys: 'ok' } });
        await expect(ctx.storage.sql.run('UPDATE audit_events SET type = type')).rejects.toThrow(/permission denied/);
        await expect(ctx.storage.sql.run('DELETE FROM audit_checkpoints')).rejects.toThrow(/permission denied/);
        await expect(ctx.storage.sql.run('TRUNCATE audit_tree_nodes')).rejects.toThrow(/permission denied/);
        await expect(ctx.storage.sql.run(`INSERT INTO schema_migrations (id, name, applied_at) VALUES (999, 'x', 0)`)).rejects.toThrow(/permission denied/);
        await expect(ctx.storage.sql.run('CREATE TABLE sneaky (id INT)')).rejects.toThrow(/permission denied/);
      } finally {
        await ctx.close();
      }

      const auditor = new pg.Client({ connectionString: urlFor(names.caduceus_auditor) });
      await auditor.connect();
      try {
        const { rows } = await auditor.query('SELECT COUNT(*)::int AS n FROM audit_events');
        expect(rows[0].n).toBeGreaterThan(0);
        await expect(auditor.query('SELECT * FROM users')).rejects.toThrow(/permission denied/);
        await expect(auditor.query('INSERT INTO audit_checkpoints (tree_size, root_hash, created_at, note) VALUES (0, \'\', 0, \'\')')).rejects.toThrow(/permission denied/);
      } finally {
        await auditor.end();
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${names.caduceus} CASCADE`).catch(() => undefined);
      for (const role of [names.caduceus_app, names.caduceus_auditor, names.caduceus_owner]) {
        await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
        await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      }
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
