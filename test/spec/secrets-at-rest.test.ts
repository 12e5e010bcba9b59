// Secrets at rest (docs/SECURITY.md "Secrets at rest"; RFC 9700 §4.14.2 and fosite's habit of
// storing opaque tokens by keyed digest): after a code flow, a refresh, a session sign-in and a
// client created with a secret, no value the server handed out appears in clear anywhere in the
// database. The scan does not compute any digest: it reads every text and binary column of every
// table the database lists (sqlite_master / information_schema) and searches each stored value for
// the raw values, in their own text and in the other encodings of their bytes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeJwt } from 'jose';
import { testAdapters } from '../storage/databases.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, refresh, relyingParty, type Rp } from '../support/flows.js';
import { Browser } from '../support/browserless.js';
import { addClient } from '../../src/admin/clients.js';
import type { SqlExecutor } from '../../src/storage/sql.js';

const adapters = await testAdapters();

type Column = { table: string; column: string; type: string };

/** Every text-like and binary column of every table of the database (for PostgreSQL: of the schema in use). */
async function textAndBlobColumns(sql: SqlExecutor): Promise<Column[]> {
  if (sql.dialect === 'sqlite') {
    const tables = await sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    const columns: Column[] = [];
    for (const { name } of tables) {
      const info = await sql.all<{ name: string; type: string }>(`SELECT name, type FROM pragma_table_info('${name.replace(/'/g, "''")}')`);
      for (const c of info) {
        const type = c.type.toUpperCase();
        // SQLite type affinity (https://www.sqlite.org/datatype3.html §3.1): TEXT for CHAR/CLOB/TEXT, BLOB for BLOB or no type.
        if (/CHAR|CLOB|TEXT|BLOB|JSON/.test(type) || type === '') columns.push({ table: name, column: c.name, type });
      }
    }
    return columns;
  }
  return sql.all<Column>(
    `SELECT c.table_name AS "table", c.column_name AS "column", c.data_type AS "type"
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
        AND c.data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'xml')
      ORDER BY c.table_name, c.ordinal_position`,
  );
}

const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;

interface Needle { name: string; text: string }

/** The forms in which a secret could sit in a column: its own text, and its bytes in another encoding. */
function formsOf(secret: string): { texts: string[]; bytes: Buffer[] } {
  const texts = [secret];
  const bytes = [Buffer.from(secret, 'utf8')];
  if (/^[A-Za-z0-9_-]+$/.test(secret) && secret.length >= 16) {
    const raw = Buffer.from(secret, 'base64url');
    texts.push(raw.toString('hex'), raw.toString('base64').replace(/=+$/, ''));
    bytes.push(raw);
  }
  return { texts, bytes };
}

/** Where each needle was found: "table.column" for every stored value that contains it. */
async function scan(sql: SqlExecutor, needles: Needle[]): Promise<{ hits: Record<string, string[]>; tables: Set<string>; values: number }> {
  const hits: Record<string, string[]> = Object.fromEntries(needles.map((n) => [n.name, []]));
  const forms = needles.map((n) => ({ name: n.name, ...formsOf(n.text) }));
  const tables = new Set<string>();
  let values = 0;
  for (const { table, column } of await textAndBlobColumns(sql)) {
    tables.add(table);
    const rows = await sql.all<{ v: unknown }>(`SELECT ${quote(column)} AS v FROM ${quote(table)} WHERE ${quote(column)} IS NOT NULL`);
    for (const { v } of rows) {
      values++;
      const asText = Buffer.isBuffer(v) ? v.toString('latin1') : typeof v === 'string' ? v : JSON.stringify(v);
      const asBytes = Buffer.isBuffer(v) ? v : Buffer.from(asText, 'utf8');
      for (const f of forms) {
        const found = f.texts.some((t) => asText.includes(t)) || f.bytes.some((b) => asBytes.includes(b));
        if (found && !hits[f.name]!.includes(`${table}.${column}`)) hits[f.name]!.push(`${table}.${column}`);
      }
    }
  }
  return { hits, tables, values };
}

function cookieValue(browser: Browser, name: string): string {
  const pair = browser.jar.header().split('; ').find((c) => c.startsWith(`${name}=`));
  if (!pair) throw new Error(`no ${name} cookie in the jar`);
  return pair.slice(name.length + 1);
}

describe.each(adapters)('secrets at rest on $name', (adapter) => {
  let stack: TestStack;
  let rp: Rp;
  let secrets: Needle[];
  let clientId: string;

  beforeAll(async () => {
    stack = await startTestStack({ adapter });
    rp = await relyingParty(stack);
    const { ctx, demo } = stack;
    // A client created with a server-generated secret (the admin module behind `caduceus client add`).
    const created = await addClient({ storage: ctx.storage, masterKey: ctx.masterKey, audit: ctx.audit, now: ctx.now, actor: 'test' }, {
      client_id: 'secret-at-rest-app', name: 'Secret At Rest', grant_types: ['client_credentials'], redirect_uris: [],
      scope: 'system/Patient.rs', resources: [demo.resource], token_endpoint_auth_method: 'client_secret_basic',
    }, [demo.resource]);
    clientId = created.client.clientId;
    // A session sign-in, a full code flow and a refresh, all in one browser.
    const browser = new Browser(rp.dispatcher);
    const flow = await codeFlow(rp, { browser });
    const refreshed = await refresh(rp, flow.tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    secrets = [
      { name: 'authorization code', text: flow.code },
      { name: 'access token', text: flow.tokens.access_token },
      { name: 'access token signature', text: flow.tokens.access_token.split('.')[2]! },
      { name: 'refresh token', text: flow.tokens.refresh_token! },
      { name: 'rotated refresh token', text: refreshed.json.refresh_token as string },
      { name: 'refreshed access token', text: refreshed.json.access_token as string },
      { name: 'ID token', text: flow.tokens.id_token! },
      { name: 'session cookie', text: cookieValue(browser, '__Host-caduceus-session') },
      { name: 'browser cookie', text: cookieValue(browser, '__Host-caduceus-browser') },
      { name: 'new client secret', text: created.secret! },
      { name: 'demo client secret', text: demo.client_secret },
      { name: 'demo backend client secret', text: demo.cc_client_secret },
      { name: 'user password', text: demo.password },
    ];
    for (const s of secrets) expect(s.text.length, s.name).toBeGreaterThanOrEqual(16);
  });
  afterAll(async () => stack?.close());

  test('no refresh token, code, access token, session cookie, client secret or password appears in clear in any text or binary column', async () => {
    const { hits, tables, values } = await scan(stack.ctx.storage.sql, secrets);
    // The scan reached the tables that hold the digests and sealed records, and the ledger.
    for (const t of ['authorization_codes', 'refresh_tokens', 'access_tokens', 'sessions', 'clients', 'users', 'grants', 'interactions', 'audit_events']) expect(tables).toContain(t);
    expect(values).toBeGreaterThan(100);
    expect(hits).toEqual(Object.fromEntries(secrets.map((s) => [s.name, []])));
  });

  test('the scan finds values that are stored in clear: the client id, the username and the refresh token\'s grant', async () => {
    // Proof that the scan can fail: identifiers that are stored as they are sit where expected.
    const user = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!;
    const grantId = String(decodeJwt(secrets.find((s) => s.name === 'access token')!.text).jti).split('.')[0]!;
    const { hits } = await scan(stack.ctx.storage.sql, [
      { name: 'client id', text: clientId }, { name: 'username', text: stack.demo.username }, { name: 'grant id', text: grantId }, { name: 'user id', text: user.id },
    ]);
    expect(hits['client id']).toContain('clients.client_id');
    expect(hits.username).toContain('users.username');
    expect(hits['grant id']).toEqual(expect.arrayContaining(['grants.grant_id', 'refresh_tokens.grant_id', 'authorization_codes.grant_id']));
    expect(hits['user id']).toContain('sessions.user_id');
  });
});
