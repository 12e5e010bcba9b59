// `npm run bench`: every benchmark, one after another, on loopback, then one summary table
// (throughput, p50, p99, peak RSS of the serving process, the ceiling measured in the same run,
// the ratio, the target and whether it is met), saved with the machine description as
// bench/results/summary.json. Each benchmark also prints its own tables and saves its own JSON.
//
//   npm run bench                       a few minutes
//   npm run bench -- --soak             and the 10-minute memory soak at the end
//   CADUCEUS_BENCH_SOAK=600 npm run bench   the same (the value is the soak's length in seconds)
//   npm run bench -- --soak-faults      and the 10-minute soak on PostgreSQL with a database fault
//                                       every minute (bench/soak-faults.ts), answers counted by kind
//   npm run bench -- --only tokens,vs-oidc-provider     a subset (names as in BENCHES below)
//
// The benchmarks run the sources through tsx; nothing needs building first. PostgreSQL figures
// need a server at CADUCEUS_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
// without one those rows are missing and the rest runs.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fmt, formatTable, machine, mb, readResult, resultsFile, samplePeaks, saveResult, type SummaryRow } from './lib.js';

interface Bench {
  name: string;
  file: string;
  args: string[];
  /** Turns what the benchmark printed and saved into summary rows. */
  summarise(out: string, peaks: Peak[], startedAt: number): SummaryRow[];
}

interface Peak {
  pid: number;
  cmdline: string;
  peak_rss_bytes: number;
}

const argv = process.argv.slice(2);
const soakFaults = argv.includes('--soak-faults');
const soakSeconds = argv.includes('--soak') || soakFaults ? 600 : Number(process.env.CADUCEUS_BENCH_SOAK ?? 0);
const onlyIndex = argv.indexOf('--only');
const only = onlyIndex >= 0 ? new Set(argv[onlyIndex + 1]!.split(',')) : undefined;

/** Rows a benchmark saved in bench/results/<name>.json, if that file was written by this run. */
function savedRows(name: string, startedAt: number): SummaryRow[] {
  try {
    if (statSync(resultsFile(name)).mtimeMs < startedAt) return [];
  } catch {
    return [];
  }
  return readResult<{ summary_rows?: SummaryRow[] }>(name)?.summary_rows ?? [];
}

/** Tables printed by console.table: header cells and rows, quotes removed. */
function consoleTables(out: string): Array<{ header: string[]; rows: string[][] }> {
  const tables: Array<{ header: string[]; rows: string[][] }> = [];
  let current: { header: string[]; rows: string[][] } | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('┌')) {
      current = undefined;
      continue;
    }
    if (!line.startsWith('│')) continue;
    const cells = line.split('│').slice(1, -1).map((c) => c.trim().replace(/^'(.*)'$/, '$1'));
    if (!current) {
      current = { header: cells, rows: [] };
      tables.push(current);
    } else {
      current.rows.push(cells);
    }
  }
  return tables;
}

/** Rows of the markdown-style tables the scripts print (`| a | b |`), header first. */
function markdownTables(out: string): Array<{ header: string[]; rows: string[][] }> {
  const tables: Array<{ header: string[]; rows: string[][] }> = [];
  let current: { header: string[]; rows: string[][] } | undefined;
  for (const line of out.split('\n')) {
    if (!line.startsWith('|')) {
      current = undefined;
      continue;
    }
    if (/^\|[-| ]+\|$/.test(line)) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (!current) {
      current = { header: cells, rows: [] };
      tables.push(current);
    } else {
      current.rows.push(cells);
    }
  }
  return tables;
}

const peakOf = (peaks: Peak[], match: (cmdline: string) => boolean): number | null => {
  const found = peaks.filter((p) => match(p.cmdline));
  return found.length ? mb(Math.max(...found.map((p) => p.peak_rss_bytes))) ?? null : null;
};

const missing = (benchmark: string, note: string): SummaryRow => ({
  benchmark, variant: '-', throughput: null, unit: '', p50_ms: null, p99_ms: null, peak_rss_mb: null, ceiling_name: null, ceiling: null,
  ratio: null, target: null, met: null, note,
});

const BENCHES: Bench[] = [
  {
    // Informational: why the server signs with node:crypto (docs/performance.md). No summary row.
    name: 'jwt-sign', file: 'bench/jwt-sign.ts', args: ['3000'], summarise: () => [],
  },
  {
    name: 'tokens', file: 'bench/tokens.ts', args: ['2000', '16'],
    summarise: (_out, _peaks, startedAt) => {
      const rows = savedRows('tokens', startedAt);
      return rows.length ? rows : [missing('token endpoint and introspection', 'no results saved: see the output above')];
    },
  },
  {
    name: 'vs-oidc-provider', file: 'bench/vs-oidc-provider.ts', args: ['2000', '16', '3'],
    summarise: (_out, _peaks, startedAt) => {
      const rows = savedRows('vs-oidc-provider', startedAt);
      return rows.length ? rows : [missing('vs oidc-provider', 'no results saved: see the output above')];
    },
  },
  {
    // In process: the peak RSS is that of the benchmark process itself (producers included).
    name: 'ledger', file: 'bench/ledger.ts', args: ['2'],
    summarise: (out, peaks) => {
      const table = markdownTables(out).find((t) => t.header.includes('ledger events/s'));
      if (!table) return [missing('audit ledger appends', 'no table printed: see the output above')];
      const col = (name: string) => table.header.indexOf(name);
      const peak = peakOf(peaks, (c) => c.includes('bench/ledger.ts'));
      return table.rows.filter((r) => r[col('producers')] !== 'verify' && r[col('database')] !== 'sqlite').map((r) => {
        const db = r[col('database')]!;
        const producers = Number(r[col('producers')]);
        const rate = Number(r[col('ledger events/s')]);
        const sqliteTarget = db.startsWith('sqlite') && producers === 1024;
        return {
          benchmark: 'audit ledger appends', variant: `${db === 'postgres' ? 'postgres' : 'sqlite (server settings)'}, ${producers} producers`,
          throughput: rate, unit: 'events/s', p50_ms: null, p99_ms: null, peak_rss_mb: peak,
          ceiling_name: 'SHA-256 + batched INSERTs of the same rows, no tree', ceiling: Number(r[col('raw events/s')]), ratio: Number(r[col('ledger/raw')]),
          target: sqliteTarget ? '≥ 20 000 events/s' : null, met: sqliteTarget ? rate >= 20_000 : null,
        };
      });
    },
  },
  {
    name: 'gateway', file: 'bench/gateway.ts', args: [],
    summarise: (out, peaks, startedAt) => {
      const saved = savedRows('gateway', startedAt);
      if (saved.length) return saved;
      const table = consoleTables(out).find((t) => t.header.includes('scenario') && t.header.includes('gateway req/s'));
      if (!table) return [missing('gateway pass-through', 'no table recognised: see the output above')];
      const col = (name: string) => table.header.indexOf(name);
      const num = (r: string[], name: string) => (col(name) >= 0 ? Number(r[col(name)]) : Number.NaN);
      const peak = peakOf(peaks, (c) => c.includes('--gateway') && !c.includes('--no-ledger'));
      return table.rows.map((r) => {
        const c = num(r, 'concurrency');
        const ratio = num(r, 'throughput ratio');
        const addedP99 = num(r, 'added p99 ms');
        const atTarget = c === 16;
        return {
          benchmark: `gateway: ${r[col('scenario')]}`, variant: `c=${c}`, throughput: num(r, 'gateway req/s'), unit: 'req/s',
          p50_ms: num(r, 'gateway p50 ms'), p99_ms: num(r, 'gateway p99 ms'), peak_rss_mb: peak,
          ceiling_name: 'direct to the upstream, same load generator', ceiling: num(r, 'direct req/s'), ratio,
          target: atTarget ? '≥ 0.60 of direct, added p99 < 2 ms' : '≥ 0.60 of direct',
          met: atTarget ? ratio >= 0.6 && addedP99 < 2 : ratio >= 0.6,
          errors: num(r, 'errors'), note: `added p99 ${fmt(addedP99, 1)} ms`,
        };
      });
    },
  },
  {
    name: 'scale', file: 'bench/scale.ts', args: ['2000', '16'],
    summarise: (_out, peaks, startedAt) => {
      const s = savedRows('scale', startedAt);
      if (s.length) return s;
      try {
        if (statSync(resultsFile('scale')).mtimeMs < startedAt) return [missing('scale-out (PostgreSQL)', 'no results saved: see the output above')];
      } catch {
        return [missing('scale-out (PostgreSQL)', 'no results saved: see the output above')];
      }
      type Run = { tokens: { rps: number; p50: number; p99: number; errors: number }; transport: { rps: number } };
      const r = readResult<{ one: Run; two: Run; concurrency: number; speedup: number }>('scale')!;
      const peak = peakOf(peaks, (c) => / serve /.test(` ${c} `));
      return [['1 instance', r.one], ['2 instances', r.two]].map(([variant, run]) => {
        const x = run as Run;
        return {
          benchmark: 'scale-out: client_credentials via proxy, PostgreSQL', variant: `${variant as string}, c=${r.concurrency}`,
          throughput: x.tokens.rps, unit: 'req/s', p50_ms: x.tokens.p50, p99_ms: x.tokens.p99, peak_rss_mb: peak,
          ceiling_name: 'GET /healthz through the same proxy', ceiling: x.transport.rps, ratio: x.tokens.rps / x.transport.rps,
          target: null, met: null, errors: x.tokens.errors,
          note: variant === '2 instances' ? `2 / 1 instance: ${fmt(r.speedup, 2)}×; peak RSS is the largest instance` : 'peak RSS is the largest instance',
        };
      });
    },
  },
];

if (soakSeconds > 0) {
  const result = (soakFaults ? 'soak-faults' : 'soak') + (soakSeconds >= 600 ? '' : '-short');
  BENCHES.push({
    name: 'soak', file: 'bench/soak.ts', args: [String(soakSeconds), '8', ...(soakFaults ? ['--faults'] : [])],
    summarise: (_out, _peaks, startedAt) => {
      const rows = savedRows(result, startedAt);
      return rows.length ? rows : [missing(soakFaults ? 'memory soak with database faults' : 'memory soak', 'no results saved: see the output above')];
    },
  });
}

function runOne(bench: Bench): Promise<{ status: number | null; out: string; peaks: Peak[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bench.file, ...bench.args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sampler = samplePeaks(child.pid!);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      process.stdout.write(d);
    });
    child.once('close', (status) => resolve({ status, out, peaks: sampler.stop() }));
  });
}

const started = performance.now();
const machineBefore = machine();
const rows: SummaryRow[] = [];
const failures: string[] = [];
for (const bench of BENCHES) {
  if (only && !only.has(bench.name)) continue;
  console.log(`\n=== ${bench.file} ${bench.args.join(' ')}`);
  const startedAt = Date.now();
  const { status, out, peaks } = await runOne(bench);
  if (status !== 0) failures.push(`${bench.file} exited with ${status}`);
  rows.push(...bench.summarise(out, peaks, startedAt));
}
if (soakSeconds <= 0 && !only) {
  // The 10-minute soak is not part of the default run: show the last recorded one, marked as such.
  const soak = readResult<{ date: string; summary_rows?: SummaryRow[] }>('soak');
  for (const r of soak?.summary_rows ?? []) rows.push({ ...r, note: `not rerun: recorded ${soak!.date.slice(0, 10)} (npm run bench -- --soak); ${r.note ?? ''}` });
}

const minutes = (performance.now() - started) / 60_000;
const yesNo = (m: boolean | null) => (m === null ? '-' : m ? 'yes' : 'NO');
console.log(`\n=== Summary (${fmt(minutes, 1)} min; ${JSON.stringify(machine())})\n`);
console.log(formatTable(
  ['benchmark', 'variant', 'throughput', 'p50 ms', 'p99 ms', 'peak RSS MB', 'ceiling', 'ratio', 'target', 'met?'],
  rows.map((r) => [
    r.benchmark, r.variant, r.throughput === null ? '-' : `${fmt(r.throughput)} ${r.unit}`, fmt(r.p50_ms, 1), fmt(r.p99_ms, 1), fmt(r.peak_rss_mb, 0),
    fmt(r.ceiling), fmt(r.ratio, 2), r.target ?? '-', yesNo(r.met),
  ]),
));
console.log('\nCeilings: see docs/performance.md. The load generator shares the cores with the servers; on a busy machine rerun before quoting.');
const notes = rows.filter((r) => r.note).map((r) => `- ${r.benchmark} (${r.variant}): ${r.note}`);
if (notes.length) console.log(`\nNotes:\n${notes.join('\n')}`);
if (failures.length) console.log(`\nFailed: ${failures.join('; ')}`);
// A partial run (--only) does not replace the full run's summary.
const file = saveResult(only ? 'summary-partial' : 'summary', { minutes, machine_at_start: machineBefore, failures, rows });
console.log(`saved ${file}`);
process.exit(failures.length ? 1 : 0);
