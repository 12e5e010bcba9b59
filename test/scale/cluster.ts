// A small cluster for the scale tests: N `caduceus serve` processes sharing one PostgreSQL schema,
// one master key, one TLS certificate and one issuer, behind a round-robin TCP proxy that passes
// TLS through (node:net, loopback). The issuer is the proxy's URL, as it is a load balancer's in
// production. Each instance also listens on its own port, so a test can address one directly.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureDevCertificates } from '../../src/crypto/dev-ca.js';
import { createMasterKeyFile } from '../../src/crypto/master-key.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI, DEMO_SCOPE } from '../../src/server/dev-stack.js';
import { freePort } from '../support/stack.js';

const CLI = resolve(process.cwd(), 'test', 'scale', 'cli.ts');

/** Spawns the caduceus command (from source) with the given arguments. */
export function caduceusArgs(args: string[]): string[] {
  return ['--import', 'tsx', CLI, ...args];
}

/**
 * Runs a command to its end without blocking the event loop: the proxy lives in this process, so
 * a spawnSync of anything that talks to it would deadlock.
 */
export function runAsync(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

export function runCaduceusAsync(args: string[], env: NodeJS.ProcessEnv = {}, input?: string) {
  return runAsync(process.execPath, caduceusArgs(args), { env: { ...process.env, ...env }, input });
}

export interface Instance {
  /** https://127.0.0.1:PORT: this instance directly (same certificate, same issuer). */
  url: string;
  adminUrl: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr (startup line and JSON request logs). */
  stderr(): string;
}

export interface RoundRobinProxy {
  url: string;
  /** Connections accepted so far, per backend index. */
  connections: number[];
  close(): Promise<void>;
}

/** Each new TCP connection goes to the next backend; bytes are piped unchanged (TLS passthrough). */
export async function startProxy(backends: number[]): Promise<RoundRobinProxy> {
  let next = 0;
  const connections = backends.map(() => 0);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const index = next++ % backends.length;
    connections[index]! += 1;
    const upstream = connect(backends[index]!, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${port}`,
    connections,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

export interface ClusterOptions {
  /**
   * The storage URL the instances serve with (e.g. the same database through a fault proxy,
   * test/support/fault-proxy.ts); default: the storageUrl given. Setup and admin commands always
   * use storageUrl (see Cluster.adminEnv).
   */
  serveStorageUrl?: string;
  /** Returns the configuration every instance gets, given the cluster's (issuer, resource, clients…). */
  configure?: (base: Record<string, unknown>, where: { issuer: string; resource: string }) => Record<string, unknown>;
  /** More environment for the instances (e.g. secrets named by configure's client_secret_env). */
  env?: Record<string, string>;
}

export interface Cluster {
  issuer: string;
  resource: string;
  caFile: string;
  ca: string;
  configFile: string;
  /** Environment of the instances (client secrets); admin commands need none of it. */
  env: Record<string, string>;
  storageUrl: string;
  masterKeyFile: string;
  /** audit.witness_file, shared by every instance. */
  witnessFile: string;
  clientId: string;
  clientSecret: string;
  ccClientId: string;
  ccClientSecret: string;
  username: string;
  password: string;
  instances: Instance[];
  proxy: RoundRobinProxy;
  /** Environment for admin commands (caduceus audit verify …): the database directly, never through serveStorageUrl. */
  adminEnv: Record<string, string>;
  /** Starts instance i again (after it exited or was stopped) on the same ports and configuration; replaces instances[i]. */
  restart(index: number): Promise<Instance>;
  close(): Promise<void>;
}

function startInstance(configFile: string, env: Record<string, string>): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, caduceusArgs(['serve', '--config', configFile]), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  return new Promise((resolvePromise, reject) => {
    child.stdout!.resume();
    child.stderr!.on('data', (d) => {
      err += d;
      if (/caduceus: serving /.test(err)) resolvePromise({ child, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`caduceus serve exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`caduceus serve not ready: ${err}`)), 60_000).unref();
  });
}

export async function startCluster(storageUrl: string, size = 2, options: ClusterOptions = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'caduceus-scale-'));
  const children: ChildProcess[] = [];
  let proxy: RoundRobinProxy | undefined;
  try {
    const tls = await ensureDevCertificates(join(dir, 'tls'));
    const masterKeyFile = join(dir, 'master.key');
    createMasterKeyFile(masterKeyFile);
    const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
    const adminPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    proxy = await startProxy(ports);
    const issuer = proxy.url;
    const resource = `${issuer}/fhir`;
    const witnessFile = join(dir, 'checkpoints.witness');
    const env = { ...options.env, SCALE_CONF_SECRET: randomBytes(32).toString('base64url'), SCALE_CC_SECRET: randomBytes(32).toString('base64url') };
    // CADUCEUS_DATABASE_URL overrides the file's storage (src/config/load.ts).
    const adminEnv: Record<string, string> = options.serveStorageUrl ? { CADUCEUS_DATABASE_URL: storageUrl } : {};
    const defaults = {
      issuer, tls: { cert: tls.certFile, key: tls.keyFile }, storage: options.serveStorageUrl ?? storageUrl, master_key_file: masterKeyFile,
      resources: [{ uri: resource, name: 'FHIR', scopes: [...DEMO_SCOPE.split(' ').slice(2), ...DEMO_CC_SCOPE.split(' ')] }],
      clients: [
        { client_id: 'scale-app', name: 'Scale App', redirect_uris: [DEMO_REDIRECT_URI], scope: DEMO_SCOPE, resources: [resource], client_secret_env: 'SCALE_CONF_SECRET' },
        { client_id: 'scale-backend', name: 'Scale Backend', grant_types: ['client_credentials'], scope: DEMO_CC_SCOPE, resources: [resource], client_secret_env: 'SCALE_CC_SECRET' },
      ],
      audit: { witness_file: witnessFile },
    };
    const base = options.configure ? options.configure(defaults, { issuer, resource }) : defaults;
    // One file per instance: only the listen and admin ports differ.
    const files = ports.map((port, i) => {
      const file = join(dir, `caduceus-${i}.yaml`);
      writeFileSync(file, JSON.stringify({ ...base, listen: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPorts[i] } }));
      return file;
    });
    // Migrations, the first signing key and the user: once, before the instances start.
    const password = randomBytes(16).toString('base64url');
    const add = await runCaduceusAsync(['user', 'add', '--config', files[0]!, '--username', 'scale.user', '--patient', 'Patient/demo-1'], adminEnv, `${password}\n`);
    if (add.status !== 0) throw new Error(`caduceus user add failed: ${add.stderr}`);
    const started = await Promise.all(files.map((file) => startInstance(file, env).then((s) => {
      children.push(s.child);
      return s;
    })));
    const instances = started.map((s, i) => ({ url: `https://127.0.0.1:${ports[i]}`, adminUrl: `http://127.0.0.1:${adminPorts[i]}`, child: s.child, stderr: s.stderr }));
    const running = proxy;
    return {
      issuer, resource, caFile: tls.caFile, ca: readFileSync(tls.caFile, 'utf8'), configFile: files[0]!, env, storageUrl, masterKeyFile, witnessFile,
      clientId: 'scale-app', clientSecret: env.SCALE_CONF_SECRET, ccClientId: 'scale-backend', ccClientSecret: env.SCALE_CC_SECRET,
      username: 'scale.user', password, instances, proxy: running, adminEnv,
      async restart(index: number) {
        const old = instances[index]!;
        await stopChild(old.child);
        const s = await startInstance(files[index]!, env);
        children.push(s.child);
        const instance = { ...old, child: s.child, stderr: s.stderr };
        instances[index] = instance;
        return instance;
      },
      async close() {
        await running.close();
        await Promise.all(children.map((c) => stopChild(c)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await proxy?.close();
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** SIGTERM (the server commits queued audit events and signs a final checkpoint), SIGKILL after 10 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      r();
    });
    child.kill('SIGTERM');
  });
}
