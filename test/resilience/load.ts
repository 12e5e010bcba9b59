// Load and judgement for the resilience suites: a bounded number of concurrent request loops
// against one `caduceus serve` process (test/scale/cluster.ts), every request with a client-side
// deadline, every answer recorded with the phase it was sent in (before, during or after a fault)
// and judged against what a server that fails closed and stays up may answer: a 2xx, or 503
// temporarily_unavailable with Retry-After (plus the 4xx a step names as expected, e.g. a replayed
// client assertion's 401). Anything else, a missed deadline or a broken connection is a violation.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { decodeJwt } from 'jose';
import type { SqlExecutor } from '../../src/storage/sql.js';
import { runCaduceusAsync, type Cluster, type Instance } from '../scale/cluster.js';

/**
 * The longest a request may take, fault or not. The server bounds its own waits (PostgreSQL:
 * database.connect_timeout 3 s + database.query_timeout 6 s by default; Redis: 2 s per command),
 * so an answer, 503 at worst, is due well within this; 15 s leaves room for a loaded 2-core runner.
 * Tie it to those settings if they change.
 */
export const DEADLINE_MS = 15_000;
/** After heal(), a token request must get 200 and /readyz 200 within this, without a restart. */
export const RECOVERY_MS = 10_000;
/** Concurrent request loops. */
export const LOOPS = 16;
/** Upper bound of requests per load run, whatever its length. */
export const MAX_REQUESTS_PER_RUN = 20_000;

export type Phase = 'before' | 'fault' | 'after';

export interface Outcome {
  op: string;
  phase: Phase;
  /** HTTP status; 0 when no answer came (see failure). */
  status: number;
  /** 'deadline' when DEADLINE_MS passed, else the network error's code or message. */
  failure?: string;
  retryAfter?: string;
  /** The OAuth error code, or the OperationOutcome's first issue code. */
  error?: string;
  body: string;
  /** When it was sent (epoch ms) and how long its answer took. */
  at: number;
  ms: number;
  /** jti of the access token issued (token 200) or presented (gateway, introspection). */
  jti?: string;
  /** An op-specific key (e.g. the client assertion's jti). */
  key?: string;
  /** Why this answer breaks the contract; undefined when it is allowed. */
  violation?: string;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json?: Record<string, unknown>;
}

export interface Call {
  op: string;
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  form?: Record<string, string>;
  /** Statuses besides 2xx and 503 this call may get, with the error code each must carry. */
  allow?: Record<number, string>;
  /** Extra checks of a 2xx answer; returns a violation or undefined. */
  check2xx?: (a: Answer) => string | undefined;
  /** 503 shape: 'oauth' ({"error":"temporarily_unavailable"}) or 'fhir' (OperationOutcome). */
  kind: 'oauth' | 'fhir';
  key?: string;
  jti?: string;
  /** Sends through this dispatcher instead of the run's (e.g. one bound to another source address). */
  dispatcher?: Dispatcher;
  /** Called with every answer (after judging): to keep the token issued, or name its jti on the outcome. */
  onAnswer?: (a: Answer, o: Outcome) => void;
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export function jtiOf(token: string): string | undefined {
  try {
    const { jti } = decodeJwt(token);
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

/** Judges one answer: the violation, or undefined. Pure. */
export function judge(call: Call, a: Answer): string | undefined {
  const retryAfter = a.headers['retry-after'];
  if (a.status >= 200 && a.status < 300) return call.check2xx?.(a);
  if (a.status === 503) {
    if (retryAfter === undefined || !/^\d+$/.test(String(retryAfter))) return `503 without a Retry-After of whole seconds: ${a.body.slice(0, 200)}`;
    if (call.kind === 'oauth') {
      return a.json?.error === 'temporarily_unavailable' ? undefined : `503 whose body is not {"error":"temporarily_unavailable"}: ${a.body.slice(0, 200)}`;
    }
    const issue = (a.json?.issue as Array<{ code?: string }> | undefined)?.[0];
    return a.json?.resourceType === 'OperationOutcome' && issue ? undefined : `503 whose body is not an OperationOutcome: ${a.body.slice(0, 200)}`;
  }
  const expected = call.allow?.[a.status];
  if (expected !== undefined && a.json?.error === expected) return undefined;
  return `status ${a.status}: ${a.body.slice(0, 300)}`;
}

/** One request with the deadline; never throws. */
export async function send(dispatcher: Dispatcher, call: Call, phase: () => Phase): Promise<Outcome> {
  const sentIn = phase();
  const started = Date.now();
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  let body: string | undefined;
  if (call.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(call.form).toString();
  }
  const base = { op: call.op, phase: sentIn, at: started, ...(call.key ? { key: call.key } : {}), ...(call.jti ? { jti: call.jti } : {}) };
  try {
    const res = await request(call.url, { method: call.method, headers, body, dispatcher: call.dispatcher ?? dispatcher, signal: AbortSignal.timeout(DEADLINE_MS) });
    const text = await res.body.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    const answer: Answer = { status: res.statusCode, headers: res.headers, body: text, ...(json ? { json } : {}) };
    const retryAfter = res.headers['retry-after'];
    const error = typeof json?.error === 'string' ? json.error : (json?.issue as Array<{ code?: string }> | undefined)?.[0]?.code;
    const violation = judge(call, answer);
    const outcome: Outcome = {
      ...base, status: res.statusCode, body: text.slice(0, 400), ms: Date.now() - started,
      ...(retryAfter !== undefined ? { retryAfter: String(retryAfter) } : {}), ...(error ? { error } : {}),
      ...(violation ? { violation } : {}),
    };
    call.onAnswer?.(answer, outcome);
    return outcome;
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
    const deadline = e.name === 'TimeoutError' || e.name === 'AbortError';
    const failure = deadline ? 'deadline' : (e.code ?? e.cause?.code ?? e.message ?? String(err));
    return {
      ...base, status: 0, failure, body: '', ms: Date.now() - started,
      violation: deadline ? `no answer within ${DEADLINE_MS} ms (a hang)` : `no answer: the connection failed (${failure}${e.cause?.message ? `: ${e.cause.message}` : ''})`,
    };
  }
}

export interface LoadRun {
  outcomes: Outcome[];
  phase: Phase;
  /** Stops the loops and waits for the requests in flight (each ends by its deadline). */
  stop(): Promise<void>;
}

/**
 * Runs `loops` loops, each calling step(loop, iteration) and sending the call it returns, until
 * stop() or MAX_REQUESTS_PER_RUN; pauseMs between a loop's requests keeps the 2-core runner
 * from saturating. step may keep per-loop state (the token to present next).
 */
export function startLoad(dispatcher: Dispatcher, step: (loop: number, i: number) => Call, options: { loops?: number; pauseMs?: number } = {}): LoadRun {
  const run: LoadRun & { stopped: boolean } = { outcomes: [], phase: 'before', stopped: false, stop: async () => undefined };
  let sent = 0;
  const loop = async (n: number) => {
    for (let i = 0; !run.stopped && sent < MAX_REQUESTS_PER_RUN; i++) {
      sent += 1;
      const outcome = await send(dispatcher, step(n, i), () => run.phase);
      run.outcomes.push(outcome);
      await new Promise((r) => setTimeout(r, options.pauseMs ?? 20));
    }
  };
  const loops = Array.from({ length: options.loops ?? LOOPS }, (_, n) => loop(n));
  run.stop = async () => {
    run.stopped = true;
    await Promise.all(loops);
  };
  return run;
}

/**
 * An agent trusting the test CA. localAddress binds its connections to another loopback source
 * address (127.0.0.0/8 is all loopback on Linux); undici's own connector ignores that option, so
 * it gets a connector of its own.
 */
export function trustingAgent(ca: string, localAddress?: string): Agent {
  // Enough connections for every loop; keep-alive as a real client would.
  const common = { connections: localAddress ? 4 : 64, keepAliveTimeout: 4_000 };
  if (!localAddress) return new Agent({ ...common, connect: { ca } });
  return new Agent({
    ...common,
    connect: (opts, callback) => {
      const port = Number(opts.port) || 443;
      const tcp = netConnect({ host: opts.hostname, port, localAddress });
      const socket = tlsConnect({ socket: tcp, host: opts.hostname, port, ca, ALPNProtocols: ['http/1.1'] });
      socket.setNoDelay(true);
      const onError = (err: Error) => callback(err, null);
      socket.once('error', onError).once('secureConnect', () => {
        socket.off('error', onError);
        callback(null, socket);
      });
    },
  });
}

/** Counts by op, phase and status (status 0 shown as the failure): for the report and failure messages. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = `${o.op} ${o.phase} ${o.status || o.failure}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(t).sort(([a], [b]) => a.localeCompare(b)));
}

/** The distinct violations with how often each occurred (first 160 characters as the key). */
export function violations(outcomes: readonly Outcome[]): Record<string, number> {
  const v: Record<string, number> = {};
  for (const o of outcomes) {
    if (!o.violation) continue;
    const k = `${o.op}/${o.phase}: ${o.violation.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>').slice(0, 160)}`;
    v[k] = (v[k] ?? 0) + 1;
  }
  return v;
}

export interface Recovery {
  /** ms from heal to the first 200 of each probe; undefined when it never came within RECOVERY_MS. */
  token?: number;
  readyz?: number;
  outcomes: Outcome[];
}

/** Polls a token request and /readyz every 200 ms after heal until both answered 200, or RECOVERY_MS. */
export async function awaitRecovery(dispatcher: Dispatcher, instance: Instance, tokenCall: () => Call, healedAt: number): Promise<Recovery> {
  const rec: Recovery = { outcomes: [] };
  while (Date.now() - healedAt < RECOVERY_MS && (rec.token === undefined || rec.readyz === undefined)) {
    if (rec.token === undefined) {
      const o = await send(dispatcher, tokenCall(), () => 'after');
      rec.outcomes.push(o);
      if (o.status === 200) rec.token = Date.now() - healedAt;
    }
    if (rec.readyz === undefined) {
      const r = await request(`${instance.adminUrl}/readyz`, { signal: AbortSignal.timeout(3_000) }).then(async (res) => {
        await res.body.text();
        return res.statusCode;
      }, () => 0);
      if (r === 200) rec.readyz = Date.now() - healedAt;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return rec;
}

/** What the server process shows: whether it still runs, and its crash and error lines. */
export function processHealth(instance: Instance, fromOffset = 0): { running: boolean; exit?: string; unhandled: string[]; errorLines: string[]; tail: string } {
  const c = instance.child;
  const text = instance.stderr().slice(fromOffset);
  const lines = text.split('\n');
  const unhandled = lines.filter((l) => /Unhandled 'error' event|UnhandledPromiseRejection|Unhandled promise rejection|uncaughtException/.test(l)).slice(0, 20);
  const errorLines = lines.filter((l) => l.startsWith('{') && /"level":"(error|fatal)"/.test(l));
  return {
    running: c.exitCode === null && c.signalCode === null,
    ...(c.exitCode !== null || c.signalCode !== null ? { exit: `exit code ${c.exitCode}, signal ${c.signalCode}` } : {}),
    unhandled, errorLines, tail: lines.filter((l) => !l.startsWith('{')).slice(-25).join('\n'),
  };
}

/** The stored event JSON of every ledger event of these types, read from the database directly. */
export async function ledgerEvents(sql: SqlExecutor, types: readonly string[]): Promise<Array<{ type: string; jti?: string; requestId?: string }>> {
  const rows = await sql.all<{ event_json: string }>(`SELECT event_json FROM audit_events WHERE type IN (${types.map((_, i) => `$${i + 1}`).join(', ')})`, [...types]);
  return rows.map((r) => JSON.parse(r.event_json) as { type: string; jti?: string; requestId?: string });
}

/**
 * Acknowledged but not recorded: jtis of token 200s without a token.issued event, and tokens whose
 * gateway 200s outnumber their phi.accessed events (45 CFR 164.312(b): no PHI leaves unaudited).
 */
export async function unaudited(sql: SqlExecutor, outcomes: readonly Outcome[], ops: { token: string[]; gateway?: string }): Promise<{ tokens: string[]; gatewayReads: string[]; checkedTokens: number; checkedReads: number }> {
  const issued = new Set((await ledgerEvents(sql, ['token.issued'])).map((e) => e.jti));
  const acknowledged = outcomes.filter((o) => ops.token.includes(o.op) && o.status === 200 && o.jti);
  const tokens = acknowledged.map((o) => o.jti!).filter((j) => !issued.has(j));
  const gatewayReads: string[] = [];
  let checkedReads = 0;
  if (ops.gateway) {
    const accessed = new Map<string, number>();
    for (const e of await ledgerEvents(sql, ['phi.accessed'])) if (e.jti) accessed.set(e.jti, (accessed.get(e.jti) ?? 0) + 1);
    const released = new Map<string, number>();
    for (const o of outcomes) {
      if (o.op !== ops.gateway || o.status !== 200 || !o.jti) continue;
      checkedReads += 1;
      released.set(o.jti, (released.get(o.jti) ?? 0) + 1);
    }
    for (const [jti, n] of released) if ((accessed.get(jti) ?? 0) < n) gatewayReads.push(`${jti}: ${n} reads answered 200, ${accessed.get(jti) ?? 0} phi.accessed events`);
  }
  return { tokens, gatewayReads, checkedTokens: acknowledged.length, checkedReads };
}

/** `caduceus audit verify --json` against the database directly (not through any proxy). */
export async function auditVerify(cluster: Cluster): Promise<{ status: number | null; verdict?: Record<string, unknown>; output: string }> {
  const r = await runCaduceusAsync(['audit', 'verify', '--config', cluster.configFile, '--json'], cluster.adminEnv);
  let verdict: Record<string, unknown> | undefined;
  try {
    verdict = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    verdict = undefined;
  }
  return { status: r.status, ...(verdict ? { verdict } : {}), output: `${r.stdout}\n${r.stderr}`.trim().slice(0, 2000) };
}

export interface Fault {
  name: string;
  inject(): void | Promise<void>;
  heal(): void | Promise<void>;
  /** How long the fault lasts (ms). */
  ms: number;
}

export interface FaultRun {
  outcomes: Outcome[];
  recovery: Recovery;
  health: ReturnType<typeof processHealth>;
  /** Slowest answer in ms, and how many requests were sent during the fault. */
  slowestMs: number;
  sentDuringFault: number;
  /** Requests sent during the fault or still waiting for their answer when it began. */
  exposed: number;
  faultStart: number;
  faultEnd: number;
}

/**
 * The shape of every scenario: load for warmupMs, the fault for fault.ms under load, heal, poll
 * for recovery (awaitRecovery), load for tailMs more, stop. Prints a summary line for the report.
 */
export async function runFault(options: {
  dispatcher: Dispatcher; instance: Instance; step: (loop: number, i: number) => Call; tokenCall: () => Call; fault: Fault;
  warmupMs?: number; tailMs?: number; loops?: number;
}): Promise<FaultRun> {
  const { dispatcher, instance, fault } = options;
  const from = instance.stderr().length;
  const run = startLoad(dispatcher, options.step, { ...(options.loops ? { loops: options.loops } : {}) });
  let recovery: Recovery = { outcomes: [] };
  let faultStart = Date.now();
  try {
    await sleep(options.warmupMs ?? 1_000);
    run.phase = 'fault';
    faultStart = Date.now();
    await fault.inject();
    await sleep(fault.ms);
  } finally {
    await fault.heal();
  }
  const healedAt = Date.now();
  run.phase = 'after';
  try {
    recovery = await awaitRecovery(dispatcher, instance, options.tokenCall, healedAt);
    await sleep(options.tailMs ?? 1_000);
  } finally {
    await run.stop();
  }
  const outcomes = [...run.outcomes, ...recovery.outcomes];
  const result: FaultRun = {
    outcomes, recovery, health: processHealth(instance, from),
    slowestMs: Math.max(0, ...outcomes.map((o) => o.ms)), sentDuringFault: outcomes.filter((o) => o.phase === 'fault').length,
    exposed: outcomes.filter((o) => o.at < healedAt && o.at + o.ms > faultStart).length, faultStart, faultEnd: healedAt,
  };
  console.log(`[resilience] ${fault.name}: ${JSON.stringify({
    requests: outcomes.length, sentDuringFault: result.sentDuringFault, exposed: result.exposed, slowestMs: result.slowestMs,
    recovery: { tokenMs: recovery.token ?? null, readyzMs: recovery.readyz ?? null }, running: result.health.running,
    unhandled: result.health.unhandled, serverErrorLogs: errorKinds(result.health.errorLines), tally: tally(outcomes), violations: violations(outcomes),
  }, null, 1)}`);
  return result;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server's error log lines counted by what they name (component, route, message, error class, code); never their ids. */
export function errorKinds(lines: readonly string[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const line of lines) {
    let k = line.slice(0, 120);
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      k = ['component', 'route', 'msg', 'message', 'error', 'code'].map((f) => (j[f] === undefined ? '' : `${f}=${String(j[f])}`)).filter(Boolean).join(' ');
    } catch {
      /* not JSON: the line's start */
    }
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  return kinds;
}

/**
 * A scenario that crashed the server must not take the next ones with it: the next scenario starts
 * it again (and says so), so each fault gives its own evidence. Resolves the instance to use.
 */
export async function restartIfExited(cluster: { restart(i: number): Promise<Instance> }, instance: Instance, onRestart: () => number): Promise<Instance> {
  if (instance.child.exitCode === null && instance.child.signalCode === null) return instance;
  const count = onRestart();
  console.log(`[resilience] the server had exited (${instance.child.exitCode ?? instance.child.signalCode}); restart ${count}`);
  return cluster.restart(0);
}
