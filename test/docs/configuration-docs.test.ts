// docs/configuration.md cannot drift from the schema: every key path of configSchema is a row of a
// reference table (and so appears in backticks), no row names a key the schema lacks, each row's
// default column matches the schema's default or says the key is required or optional, and the
// production example validates and gets through the startup checks for secrets.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { loadConfigObject } from '../../src/config/load.js';
import { MASTER_KEY_ENV } from '../../src/crypto/master-key.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI, DEMO_SCOPE } from '../../src/server/dev-stack.js';
import { createContext } from '../../src/server/start.js';

const DOC_PATH = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const doc = readFileSync(DOC_PATH, 'utf8');

// ---- the schema side ----------------------------------------------------------------------------

/** The parts of a zod v4 definition (`schema._zod.def`) that the walk reads. */
interface ZodDef {
  type: string;
  innerType?: unknown;
  in?: unknown;
  element?: unknown;
  shape?: Record<string, unknown>;
  defaultValue?: unknown;
}

const defOf = (schema: unknown): ZodDef => (schema as { _zod: { def: ZodDef } })._zod.def;

interface SchemaKey {
  /** e.g. tokens.access_token_ttl, clients[].redirect_uris */
  path: string;
  /** Set when the schema fills the key in (ZodDefault). */
  default?: { value: unknown };
  /** No default, but the key may be left out (ZodOptional). */
  optional: boolean;
}

/** Wrappers that change neither the key path nor the shape: unwrap them, noting default/optional. */
function unwrap(schema: unknown): { inner: unknown; default?: { value: unknown }; optional: boolean } {
  let inner = schema;
  let found: { value: unknown } | undefined;
  let optional = false;
  for (;;) {
    const def = defOf(inner);
    if (def.type === 'default' || def.type === 'prefault') {
      found ??= { value: def.defaultValue };
      inner = def.innerType;
    } else if (def.type === 'optional') {
      optional = true;
      inner = def.innerType;
    } else if (def.type === 'nullable' || def.type === 'readonly' || def.type === 'nonoptional' || def.type === 'catch') {
      inner = def.innerType;
    } else if (def.type === 'pipe') {
      inner = def.in;
    } else {
      return { inner, default: found, optional };
    }
  }
}

/** Object fields become `a.b`, array elements `a[]`; records and scalars are leaves. */
function walk(schema: unknown, path: string, out: SchemaKey[]): void {
  const def = defOf(schema);
  if (def.type === 'object') {
    for (const [name, child] of Object.entries(def.shape ?? {})) {
      const childPath = path ? `${path}.${name}` : name;
      const { inner, default: dflt, optional } = unwrap(child);
      out.push({ path: childPath, default: dflt, optional });
      walk(inner, childPath, out);
    }
  } else if (def.type === 'array') {
    walk(unwrap(def.element).inner, `${path}[]`, out);
  } else if (['union', 'intersection', 'lazy', 'tuple', 'map'].includes(def.type)) {
    // These could hide keys; teach the walk about them rather than silently skipping keys.
    throw new Error(`${path || '(root)'}: the schema walk does not know zod type "${def.type}"`);
  }
}

function schemaKeys(): SchemaKey[] {
  const out: SchemaKey[] = [];
  walk(unwrap(configSchema).inner, '', out);
  return out;
}

// ---- the document side --------------------------------------------------------------------------

function section(heading: string): string {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/configuration.md has no "${heading}" heading`);
  const next = doc.indexOf('\n## ', start + heading.length + 2);
  return doc.slice(start, next < 0 ? undefined : next);
}

interface DocRow {
  path: string;
  cells: string[];
  line: string;
}

/** Rows of the reference tables whose first cell is a backticked key: | `key` | type | default | limits | meaning | */
function referenceRows(): DocRow[] {
  return section('## Reference')
    .split('\n')
    .filter((line) => /^\| `[^`]+` \|/.test(line))
    .map((line) => {
      const cells = line.slice(1, -1).split('|').map((c) => c.trim());
      return { path: /^`([^`]+)`$/.exec(cells[0]!)![1]!, cells, line };
    });
}

const backticked = new Set([...doc.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!));

/** How a default is written in the Default column (YAML flow style). */
function formatDefault(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? '""' : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => formatDefault(v)).join(', ')}]`;
  return undefined; // mappings: their keys have rows of their own
}

function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

// ---- tests --------------------------------------------------------------------------------------

describe('docs/configuration.md', () => {
  const keys = schemaKeys();
  const rows = referenceRows();

  test('the schema walk finds nested, array and unsafe keys (so the checks below can fail)', () => {
    const paths = keys.map((k) => k.path);
    for (const p of ['issuer', 'tokens.access_token_ttl', 'clients[].redirect_uris', 'clients[].jwks.keys', 'resources[].scopes', 'unsafe.allow_plain_http']) {
      expect(paths).toContain(p);
    }
    expect(paths.length).toBeGreaterThan(40);
    expect(rows.length).toBeGreaterThan(40);
  });

  test('every key path of the schema appears in backticks', () => {
    const missing = keys.map((k) => k.path).filter((p) => !backticked.has(p));
    expect(missing, `add these keys to docs/configuration.md: ${missing.join(', ')}`).toEqual([]);
  });

  test('every key path of the schema has exactly one row in the reference tables', () => {
    const documented = rows.map((r) => r.path);
    const missing = keys.map((k) => k.path).filter((p) => !documented.includes(p));
    expect(missing, `add a reference row for: ${missing.join(', ')}`).toEqual([]);
    const twice = documented.filter((p, i) => documented.indexOf(p) !== i);
    expect(twice, `documented more than once: ${twice.join(', ')}`).toEqual([]);
  });

  test('no reference row documents a key that the schema does not have', () => {
    const known = new Set(keys.map((k) => k.path));
    const unknown = rows.map((r) => r.path).filter((p) => !known.has(p));
    expect(unknown, `remove or rename these rows: ${unknown.join(', ')}`).toEqual([]);
  });

  test('every reference row has the five columns key, type, default, limits, meaning', () => {
    const malformed = rows.filter((r) => r.cells.length !== 5).map((r) => r.line);
    expect(malformed).toEqual([]);
  });

  test('each documented default is the schema default, "required" or "—" as the schema says', () => {
    const wrong: string[] = [];
    for (const key of keys) {
      const row = rows.find((r) => r.path === key.path);
      if (!row) continue; // reported by the row test
      const cell = row.cells[2]!;
      if (key.default) {
        const expected = formatDefault(key.default.value);
        if (expected !== undefined && !cell.includes(`\`${expected}\``)) wrong.push(`${key.path}: default should show \`${expected}\`, not "${cell}"`);
      } else if (key.optional) {
        if (cell !== '—') wrong.push(`${key.path}: optional without default, so the default cell should be "—", not "${cell}"`);
      } else if (!cell.includes('**required**')) {
        wrong.push(`${key.path}: required, so the default cell should say **required**, not "${cell}"`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('the environment variables the code reads are documented', () => {
    for (const name of [MASTER_KEY_ENV, 'CADUCEUS_DATABASE_URL', 'CADUCEUS_DEBUG_ERRORS']) expect(backticked).toContain(name);
  });

  test('the dev stack section matches the demo data the code creates', () => {
    const dev = section('## The `caduceus dev` stack');
    for (const value of [DEMO_REDIRECT_URI, DEMO_SCOPE, DEMO_CC_SCOPE]) expect(dev).toContain(value);
  });

  describe('the production example', () => {
    const example = section('## Example: production on PostgreSQL');
    const yamlText = codeBlocks(example, 'yaml')[0];
    const shellText = codeBlocks(example, 'sh')[0] ?? '';
    const databaseUrl = 'postgres://caduceus:not-a-real-password@db.internal.example-health.org:5432/caduceus?sslmode=verify-full';

    test('validates, with CADUCEUS_DATABASE_URL replacing storage and relative paths resolved against the config folder', () => {
      expect(yamlText).toBeDefined();
      const raw = parse(yamlText!) as Record<string, unknown>;
      const { config } = loadConfigObject(raw, '/etc/caduceus', { CADUCEUS_DATABASE_URL: databaseUrl });
      expect(config.storage).toBe(databaseUrl);
      expect(config.issuer.startsWith('https://')).toBe(true);
      expect(config.tls?.cert).toBe('/etc/caduceus/tls/fullchain.pem');
      expect(config.tls?.key).toBe('/etc/caduceus/tls/privkey.pem');
      expect(Object.values(config.unsafe)).not.toContain(true);
      expect(config.clients.map((c) => [c.token_endpoint_auth_method, c.grant_types])).toEqual([
        ['client_secret_basic', ['authorization_code', 'refresh_token']],
        ['private_key_jwt', ['client_credentials']],
      ]);
      // Without the override the file's own storage URL is valid too (PostgreSQL).
      expect(loadConfigObject(raw, '/etc/caduceus', {}).config.storage).toMatch(/^postgres:\/\//);
    });

    test('exports every client secret variable it names', () => {
      const { config } = loadConfigObject(parse(yamlText!) as Record<string, unknown>, '/etc/caduceus', {});
      const names = config.clients.flatMap((c) => (c.client_secret_env ? [c.client_secret_env] : []));
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(shellText).toMatch(new RegExp(`^export ${name}=`, 'm'));
    });

    test('gets through the startup checks for the master key and client secrets (on an in-memory database)', async () => {
      const env: NodeJS.ProcessEnv = {
        CADUCEUS_DATABASE_URL: 'sqlite::memory:',
        [MASTER_KEY_ENV]: randomBytes(32).toString('base64'),
      };
      const { config } = loadConfigObject(parse(yamlText!) as Record<string, unknown>, '/etc/caduceus', env);
      for (const c of config.clients) if (c.client_secret_env) env[c.client_secret_env] = randomBytes(32).toString('base64');
      const ctx = await createContext(config, { env });
      try {
        const stored = await ctx.storage.clients.list();
        expect(stored.map((c) => c.clientId).sort()).toEqual(config.clients.map((c) => c.client_id).sort());
      } finally {
        await ctx.close();
      }
    });
  });
});
