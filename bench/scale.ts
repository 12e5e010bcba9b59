// Scale-out: client_credentials token issuance through a round-robin TLS-passthrough proxy in
// front of 1 and then 2 `caduceus serve` processes sharing one PostgreSQL schema (durable audit
// ledger included), with the transport ceiling (GET /healthz through the same proxy) measured in
// the same run. Loopback only; needs PostgreSQL at CADUCEUS_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test). Runs the sources through tsx (no build needed).
//
//   npx tsx bench/scale.ts [requests=3000] [concurrency=16]
//
// On a 2-core machine the load generator, the proxy, PostgreSQL and the servers share the cores,
// so the 2-instance figure shows the headroom of the shape, not a linear speed-up.
import { load, saveResult, type LoadResult } from './lib.js';
import { postgresAdapter } from '../test/storage/databases.js';
import { startCluster } from '../test/scale/cluster.js';

const total = Number(process.argv[2] ?? 3000);
const concurrency = Number(process.argv[3] ?? 16);

/** Each instance's ledger figures from its admin listener: mean batch size and mean commit time. */
async function ledgerFigures(adminUrl: string): Promise<{ mean_batch: number; mean_commit_ms: number }> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const v = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    mean_batch: v('caduceus_ledger_batch_size_sum') / v('caduceus_ledger_batch_size_count'),
    mean_commit_ms: (1000 * v('caduceus_ledger_commit_duration_seconds_sum')) / v('caduceus_ledger_commit_duration_seconds_count'),
  };
}

async function run(instances: number): Promise<{ instances: number; tokens: LoadResult; transport: LoadResult; ledger: Array<{ mean_batch: number; mean_commit_ms: number }> }> {
  const db = await postgresAdapter.open();
  const cluster = await startCluster(db.url, instances);
  try {
    const auth = `Basic ${Buffer.from(`${cluster.ccClientId}:${cluster.ccClientSecret}`).toString('base64')}`;
    const request = () => ({
      path: '/token', method: 'POST' as const, body: `grant_type=client_credentials&resource=${encodeURIComponent(cluster.resource)}`,
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    });
    await load(cluster.issuer, cluster.ca, Math.min(500, total), concurrency, request); // warm-up
    const transport = await load(cluster.issuer, cluster.ca, total, concurrency, () => ({ path: '/healthz', method: 'GET' as const, headers: {} }));
    const tokens = await load(cluster.issuer, cluster.ca, total, concurrency, request);
    return { instances, tokens, transport, ledger: await Promise.all(cluster.instances.map((i) => ledgerFigures(i.adminUrl))) };
  } finally {
    await cluster.close();
    await db.cleanup();
  }
}

const one = await run(1);
const two = await run(2);
const row = (r: typeof one) => ({
  'tokens (req/s)': Math.round(r.tokens.rps),
  'p50 (ms)': r.tokens.p50.toFixed(2),
  'p99 (ms)': r.tokens.p99.toFixed(2),
  'transport ceiling, GET /healthz (req/s)': Math.round(r.transport.rps),
  'ratio to transport ceiling': (r.tokens.rps / r.transport.rps).toFixed(2),
  errors: r.tokens.errors,
  'ledger mean batch / commit ms (per instance)': r.ledger.map((l) => `${l.mean_batch.toFixed(1)} / ${l.mean_commit_ms.toFixed(1)}`).join(', '),
});
console.log(`client_credentials through a round-robin proxy, PostgreSQL, concurrency ${concurrency}`);
console.table({ '1 instance': row(one), '2 instances': row(two) });
console.log(`2 instances / 1 instance: ${(two.tokens.rps / one.tokens.rps).toFixed(2)}x`);
const file = saveResult('scale', { benchmark: 'client_credentials via proxy, 1 vs 2 instances', concurrency, requests: total, one, two, speedup: two.tokens.rps / one.tokens.rps });
console.log(`saved ${file}`);
if (one.tokens.errors || two.tokens.errors) process.exitCode = 1;
