// Shared pieces of the benchmark scripts: start `caduceus dev` in a child process, a bounded
// closed-loop load generator over TLS (loopback only), percentiles, and saving results.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
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
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends `total` requests with `concurrency` workers; each request is built by makeRequest. */
export async function load(origin: string, ca: string, total: number, concurrency: number,
  makeRequest: () => { path: string; method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  ok: (status: number) => boolean = (s) => s === 200): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency, connect: { ca } });
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      next += 1;
      const t0 = performance.now();
      const res = await pool.request(makeRequest());
      await res.body.arrayBuffer();
      latencies.push(performance.now() - t0);
      if (!ok(res.statusCode)) errors += 1;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { requests: total, errors, seconds, rps: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export function machine() {
  return { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, memory_gib: Math.round(totalmem() / 2 ** 30) };
}

export function saveResult(name: string, result: unknown): string {
  mkdirSync(resolve('bench/results'), { recursive: true });
  const file = resolve('bench/results', `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...(result as object) }, null, 2)}\n`);
  return file;
}

export const readCa = (file: string) => readFileSync(file, 'utf8');
