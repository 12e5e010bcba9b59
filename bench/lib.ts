// Shared pieces of the benchmark scripts: start `caduceus dev` or the bench server in a child
// process, a bounded closed-loop load generator over TLS (loopback only), the jose ceilings,
// percentiles, memory figures from /proc, the machine description, and saving results.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, tmpdir, totalmem, type as osType } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { Pool } from 'undici';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface DevStack {
  demo: Record<string, string>;
  child: ChildProcess;
  stop(): void;
}

/** Starts `caduceus dev` (built: run `npm run build` first) on a fresh data folder. */
export async function startDevStack(): Promise<DevStack> {
  const data = mkdtempSync(join(tmpdir(), 'caduceus-bench-'));
  const port = await freePort();
  const child = spawn(process.execPath, [resolve('bin/caduceus.js'), 'dev', '--port', String(port), '--data', data, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^\{.*\}$/m.exec(out);
      if (m) res(m[0]);
    });
    child.once('exit', (code) => rej(new Error(`caduceus dev exited ${code}`)));
  });
  return { demo: JSON.parse(line), child, stop: () => child.kill('SIGTERM') };
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Every request's latency in ms, sorted; only with LoadOptions.keepLatencies. */
  latencies?: number[];
}

export interface LoadRequest {
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  /**
   * Called with each response's body (read as text only when this is given), e.g. to carry a
   * rotated refresh token to the worker's next request. Returning false counts an error.
   */
  onResponse?: (worker: number, status: number, body: string) => boolean | void;
  /** Return the sorted latencies too (to merge runs done in parts with mergeLoads). */
  keepLatencies?: boolean;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Sends `total` requests with `concurrency` workers (one keep-alive connection each; a closed
 * loop: a worker sends its next request when the previous answer is read). makeRequest receives
 * the worker's index, so a worker can follow a chain (refresh-token rotation).
 */
export async function load(origin: string, ca: string, total: number, concurrency: number,
  makeRequest: (worker: number) => LoadRequest,
  ok: (status: number) => boolean = (s) => s === 200, options: LoadOptions = {}): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency, connect: { ca } });
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    while (next < total) {
      next += 1;
      const t0 = performance.now();
      const res = await pool.request(makeRequest(worker));
      let good = ok(res.statusCode);
      if (options.onResponse) {
        const body = await res.body.text();
        latencies.push(performance.now() - t0);
        if (options.onResponse(worker, res.statusCode, body) === false) good = false;
      } else {
        await res.body.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
      if (!good) errors += 1;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    requests: total, errors, seconds, rps: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99),
    ...(options.keepLatencies ? { latencies } : {}),
  };
}

/** One result from runs done in parts (each with keepLatencies): time is the sum of the parts' times. */
export function mergeLoads(parts: LoadResult[]): LoadResult {
  const latencies = parts.flatMap((p) => p.latencies ?? []).sort((a, b) => a - b);
  const requests = parts.reduce((a, p) => a + p.requests, 0);
  const seconds = parts.reduce((a, p) => a + p.seconds, 0);
  return {
    requests, errors: parts.reduce((a, p) => a + p.errors, 0), seconds, rps: requests / seconds,
    p50: percentile(latencies, 50), p99: percentile(latencies, 99),
  };
}

/** What the results are worth: the machine they were measured on, and how busy it was. */
export function machine() {
  const cpu = cpus();
  return {
    node: process.version,
    openssl: process.versions.openssl,
    cpus: cpu.length,
    cpu: cpu[0]?.model,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${release()} ${arch()}`,
    load_average: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

export function saveResult(name: string, result: unknown): string {
  mkdirSync(resolve('bench/results'), { recursive: true });
  const file = resolve('bench/results', `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...(result as object) }, null, 2)}\n`);
  return file;
}

export const readCa = (file: string) => readFileSync(file, 'utf8');

// ---------------------------------------------------------------------------------------------
// Memory, from /proc (Linux; undefined elsewhere).

/** A field of /proc/<pid>/status in bytes (VmRSS: resident now; VmHWM: peak resident). */
export function procStatusBytes(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) a process has used, from /proc/<pid>/stat. On a busy machine, CPU
 * per request is a steadier measure of a server's cost than requests per second.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

export const mb = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : Math.round((bytes / 2 ** 20) * 10) / 10);

/** The pids of every process below `pid` (children, grandchildren, …), from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ').filter(Boolean).map(Number)) {
        out.push(c);
        visit(c);
      }
    }
  };
  visit(pid);
  return out;
}

export interface PeakSampler {
  /** Peak resident memory per process seen (the process itself and its descendants), with its command line. */
  stop(): Array<{ pid: number; cmdline: string; peak_rss_bytes: number }>;
}

/**
 * Samples the peak RSS (VmHWM) of a process tree every `intervalMs` until stopped, so the peak of
 * processes that exit before the end (bench children, their servers) is still known.
 */
export function samplePeaks(rootPid: number, intervalMs = 250): PeakSampler {
  const seen = new Map<number, { cmdline: string; peak: number }>();
  const sample = () => {
    for (const pid of [rootPid, ...descendants(rootPid)]) {
      const hwm = procStatusBytes(pid, 'VmHWM');
      if (hwm === undefined) continue;
      let entry = seen.get(pid);
      if (!entry) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        } catch { /* exited */ }
        entry = { cmdline, peak: 0 };
        seen.set(pid, entry);
      }
      entry.peak = Math.max(entry.peak, hwm);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return [...seen].map(([pid, e]) => ({ pid, cmdline: e.cmdline, peak_rss_bytes: e.peak }));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The jose ceilings: one process, one loop, no HTTP, no storage.

export interface Ceiling {
  ops_per_s: number;
  /** What the loop does, in words, for the tables. */
  what: string;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timedLoop(n: number, rounds: number, op: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(500, n); i++) await op();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await op();
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

/**
 * Signing an ES256 access token like the server's (same claims and header) with jose SignJWT in a
 * loop in this process: the ceiling the issue expresses the token-issuance target in.
 */
export async function joseSignCeiling(n = 3000, rounds = 3, claims: { issuer: string; audience: string; clientId: string; scope: string } = {
  issuer: 'https://127.0.0.1:8443', audience: 'https://127.0.0.1:8443/fhir', clientId: 'demo-backend', scope: 'system/Patient.rs system/Observation.rs',
}): Promise<Ceiling> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = await importJWK({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
  const sign = () => {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: claims.clientId, scope: claims.scope })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }).setIssuer(claims.issuer).setSubject(claims.clientId)
      .setAudience(claims.audience).setIssuedAt(iat).setExpirationTime(iat + 300).setJti(randomUUID()).sign(key);
  };
  return { ops_per_s: await timedLoop(n, rounds, sign), what: 'jose SignJWT ES256 loop, 1 process' };
}

/**
 * Verifying the same token the introspection benchmark sends (signature, typ, issuer, expiry)
 * with jose jwtVerify against the server's public JWKS, in a loop in this process.
 */
export async function joseVerifyCeiling(token: string, jwks: { keys: JWK[] }, issuer: string, n = 3000, rounds = 3): Promise<Ceiling> {
  const set = createLocalJWKSet(jwks);
  const verify = () => jwtVerify(token, set, { issuer, typ: 'at+jwt', algorithms: ['ES256'] });
  return { ops_per_s: await timedLoop(n, rounds, verify), what: 'jose jwtVerify ES256 loop of the same token, 1 process' };
}

// ---------------------------------------------------------------------------------------------
// The bench server (bench/server.ts) in a child process, driven over IPC.

export interface BenchServerInfo {
  issuer: string;
  ca: string;
  resource: string;
  /** The server's public signing keys, for the verification ceiling. */
  jwks: { keys: JWK[] };
  client_id: string;
  client_secret: string;
  redirect_uri: string;
  scope: string;
  cc_client_id: string;
  cc_client_secret: string;
  cc_scope: string;
}

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface BenchServer {
  info: BenchServerInfo;
  child: ChildProcess;
  /** Asks the server to mint authorization codes through its own code issuance (src/interaction/complete.ts). */
  mintCodes(n: number): Promise<Array<{ code: string; verifier: string }>>;
  /** process.memoryUsage() of the server, after an optional full GC when the child runs with --expose-gc. */
  memory(gc?: boolean): Promise<ChildMemory>;
  /** Resets the server's peak RSS (VmHWM) to its current RSS, so the next phase's peak is its own. */
  resetPeak(): Promise<void>;
  /** The server's peak RSS (VmHWM) since the last reset, in bytes. */
  peakRss(): number | undefined;
  stop(): Promise<void>;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url));

export interface IpcChild<T> {
  info: T;
  child: ChildProcess;
  call<R>(cmd: string, arg?: unknown): Promise<R>;
  stop(): Promise<void>;
}

/**
 * Starts a TypeScript script through tsx with an IPC channel and waits for its {ready: info}
 * message; call() sends {id, cmd, arg} and resolves with the child's {id, result}. The child's
 * stderr (per-request log lines) goes to /dev/null unless CADUCEUS_BENCH_VERBOSE is set: a
 * synchronous pipe write per request would measure the terminal, not the server.
 */
export async function startIpcChild<T>(script: string, args: string[] = [], options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<IpcChild<T>> {
  const stderr = process.env.CADUCEUS_BENCH_VERBOSE ? 'inherit' : 'ignore';
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'inherit', stderr, 'ipc'], env: { ...process.env, ...options.env },
  });
  let seq = 0;
  const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  const info = await new Promise<T>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`${script} exited with ${code} before it was ready`)));
    child.on('message', (m: { ready?: T; id?: number; result?: unknown; error?: string }) => {
      if (m.ready) res(m.ready);
      else if (m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error) p?.rej(new Error(m.error));
        else p?.res(m.result);
      }
    });
  });
  child.removeAllListeners('exit');
  child.once('exit', (code) => {
    for (const p of pending.values()) p.rej(new Error(`${script} exited with ${code}`));
    pending.clear();
  });
  return {
    info,
    child,
    call: <R>(cmd: string, arg?: unknown) => new Promise<R>((res, rej) => {
      const id = ++seq;
      pending.set(id, { res: res as (v: unknown) => void, rej });
      child.send({ id, cmd, arg });
    }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts bench/server.ts (Caduceus from source through tsx, like `caduceus dev`: TLS, the demo
 * clients and user, every security event in the durable ledger) on a fresh data folder, with
 * `storage` (a storage URL) or the embedded SQLite database. `stubLedger` replaces the audit ledger
 * with a sink that stores nothing: attribution only, never a deployment option.
 */
export async function startBenchServer(options: { storage?: string; nodeArgs?: string[]; stubLedger?: boolean } = {}): Promise<BenchServer> {
  const args = [...(options.storage ? ['--storage', options.storage] : []), ...(options.stubLedger ? ['--stub-ledger'] : [])];
  const c = await startIpcChild<BenchServerInfo>(SERVER_SCRIPT, args, { nodeArgs: options.nodeArgs });
  return {
    info: c.info,
    child: c.child,
    mintCodes: (n) => c.call('codes', n),
    memory: (gc = false) => c.call('memory', gc),
    resetPeak: () => c.call('reset-peak'),
    peakRss: () => procStatusBytes(c.child.pid, 'VmHWM'),
    stop: () => c.stop(),
  };
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
export const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
export const FORM = 'application/x-www-form-urlencoded';

// ---------------------------------------------------------------------------------------------
// The summary every benchmark contributes to (bench/run.ts prints it and saves summary.json).

export interface SummaryRow {
  benchmark: string;
  variant: string;
  /** Requests (or events, or operations) per second. */
  throughput: number | null;
  unit: string;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Peak RSS of the serving process during this benchmark. */
  peak_rss_mb: number | null;
  ceiling_name: string | null;
  ceiling: number | null;
  ratio: number | null;
  target: string | null;
  met: boolean | null;
  errors?: number;
  /** CPU time of the serving process per request during this benchmark, from /proc. */
  server_cpu_us_per_request?: number | null;
  note?: string;
}

export function resultsFile(name: string): string {
  return resolve('bench/results', `${name}.json`);
}

export function readResult<T>(name: string): T | undefined {
  const file = resultsFile(name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as T : undefined;
}

/** A markdown-style table, padded, for the terminal. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export const fmt = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
