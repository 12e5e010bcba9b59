// The Caduceus process the token benchmarks drive: what `caduceus dev` starts (development CA and
// TLS certificate, master key, ES256 signing key, the demo clients and user, every security
// event durable in the audit ledger), on 127.0.0.1, on a fresh data folder, with the embedded
// SQLite database or `--storage URL` (e.g. a PostgreSQL schema). Started by startBenchServer()
// in bench/lib.ts and driven over the IPC channel:
//
//   codes N       mint N authorization codes through the server's own code issuance
//                 (completeAuthorization, src/interaction/complete.ts: grant row, sealed code,
//                 `authz.code_issued` ledger event), each with a fresh PKCE verifier, so the
//                 timed phase measures only POST /token grant_type=authorization_code
//   memory [gc]   process.memoryUsage(), after a full GC when started with --expose-gc
//   reset-peak    resets this process's VmHWM (peak RSS) to its current RSS (Linux clear_refs)
//
// `--stub-ledger` (attribution only, never a deployment option): the same server with an audit
// sink that stores nothing, to show how much of a figure is the durable ledger write.
//
// Not a server to run by hand; the benchmarks start it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DEMO_SCOPE, devConfig, seedDemo } from '../src/server/dev-stack.js';
import { createContext, startServer } from '../src/server/start.js';
import { completeAuthorization } from '../src/interaction/complete.js';
import { s256 } from '../src/oauth/checks/pkce.js';
import { randomToken } from '../src/crypto/random.js';
import { freePort, readCa } from './lib.js';

if (!process.send) {
  console.error('bench/server.ts is started by the benchmarks (bench/lib.ts startBenchServer), with an IPC channel.');
  process.exit(2);
}
const send = process.send.bind(process);

const storageIndex = process.argv.indexOf('--storage');
const storage = storageIndex > 0 ? process.argv[storageIndex + 1] : undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-bench-srv-'));
const port = await freePort();
const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1', ...(storage ? { storage } : {}) });
const stubLedger = process.argv.includes('--stub-ledger');
const ctx = await createContext(config, { env: {}, ...(stubLedger ? { wrapAudit: () => ({ record: async () => undefined }) } : {}) });
const demo = await seedDemo(ctx, dataDir, caFile);
const server = await startServer(ctx, { demo });

const user = await ctx.storage.users.getByUsername(demo.username);
if (!user) throw new Error('the demo user is missing');
// One consent for the demo app, as the consent page records it (src/interaction/routes.ts).
const consentId = `c_${randomToken(18)}`;
await ctx.storage.consents.create({
  id: consentId, userId: user.id, clientId: demo.client_id, scopesGranted: DEMO_SCOPE.split(' '), scopesDenied: [],
  resource: demo.resource, createdAt: ctx.now(), clientAddress: '127.0.0.1', userAgent: 'caduceus-bench', textVersion: ctx.config.consent.text_version, revokedAt: null,
});

async function mintCode(): Promise<{ code: string; verifier: string }> {
  const verifier = randomToken(32);
  const location = await completeAuthorization(ctx, {
    id: randomToken(24),
    request: {
      clientId: demo.client_id, redirectUri: demo.redirect_uri, state: null, scope: DEMO_SCOPE, resource: demo.resource,
      codeChallenge: s256(verifier), nonce: null, prompt: [],
    },
    createdAt: ctx.now(),
    browser: randomToken(32),
  }, {
    userId: user!.id, authTime: ctx.now(), amr: ['pwd'], consentId, scopes: DEMO_SCOPE.split(' '), requestId: randomUUID(), sourceAddress: '127.0.0.1',
  });
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error('completeAuthorization returned no code');
  return { code, verifier };
}

async function mintCodes(n: number): Promise<Array<{ code: string; verifier: string }>> {
  const out: Array<{ code: string; verifier: string }> = [];
  let started = 0;
  // 16 at a time, so the ledger events share commits as concurrent logins' would.
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (started < n) {
      started += 1;
      // A code that cannot be minted (the database down, in the fault soak) is left out of the batch.
      const minted = await mintCode().catch(() => undefined);
      if (minted) out.push(minted);
    }
  }));
  return out;
}

const commands: Record<string, (arg: unknown) => Promise<unknown> | unknown> = {
  codes: (n) => mintCodes(Number(n)),
  memory: (gc) => {
    if (gc && typeof globalThis.gc === 'function') globalThis.gc();
    return process.memoryUsage();
  },
  'reset-peak': () => writeFileSync('/proc/self/clear_refs', '5'),
};

process.on('message', (m: { id: number; cmd: string; arg?: unknown }) => {
  void (async () => {
    try {
      const command = commands[m.cmd];
      if (!command) throw new Error(`unknown command ${m.cmd}`);
      send({ id: m.id, result: await command(m.arg) });
    } catch (err) {
      send({ id: m.id, error: (err as Error).message });
    }
  })();
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await server.close();
    await ctx.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  }
}
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());

send({
  ready: {
    issuer: config.issuer, ca: readCa(caFile), resource: demo.resource, jwks: await ctx.keys.jwks(ctx.now()),
    client_id: demo.client_id, client_secret: demo.client_secret, redirect_uri: demo.redirect_uri, scope: demo.scope,
    cc_client_id: demo.cc_client_id, cc_client_secret: demo.cc_client_secret, cc_scope: demo.cc_scope,
  },
});
