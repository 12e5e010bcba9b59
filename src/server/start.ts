// The composition root: createContext is the one place that builds the application context
// (src/context/app-context.ts): master key, storage, signing keys, audit ledger, clients from the
// configuration, the operational parts (logger, metrics probes, optional Redis cache; src/ops/)
// and everything the process holds in memory (rate-limit windows, key sets, caches). startServer
// builds the HTTP application (src/server/app.ts) and starts the TLS listener and, when admin.port
// is set, the admin listener.
import { atMostEvery } from '../util/at-most-every.js';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadMasterKey } from '../crypto/master-key.js';
import { temporarilyUnavailable } from '../errors/oauth-error.js';
import { digestClientSecret } from '../crypto/client-secret.js';
import { driverOptionsOf, openStorage } from '../storage/index.js';
import { clientMetadataResolverOptions, createClientMetadataResolver } from '../oauth/client-metadata/resolver.js';
import { unsafeWarnings } from '../config/load.js';
import { ConfigError, type CaduceusConfig } from '../config/schema.js';
import { assertPlainHttpAllowed, tlsServerOptions } from '../http/tls.js';
import { buildApp } from './app.js';
import { walkthroughClientOf, type DemoCredentials } from './dev-stack.js';
import { openAuditSink } from '../audit/sink.js';
import { removeClient } from '../admin/clients.js';
import type { AuditSink } from '../audit/events.js';
import type { ClientRecord, Storage } from '../storage/types.js';
import type { AppContext } from '../context/app-context.js';
import { InternalError } from '../errors/internal-error.js';
import { createLogger, type LogSink } from '../ops/logging.js';
import { addLedgerStats, instrumentLedgerDriver } from '../ops/metrics.js';
import { InstrumentedKeyManager } from '../ops/instrumented-keys.js';
import { cacheKeySecret, openRedisStores, redactCacheUrl, type RedisStores } from '../ops/redis-stores.js';
import { createReadinessMemo } from '../ops/health.js';
import { DerivedKeys } from '../crypto/derived-keys.js';
import { PublishedKeySet } from '../crypto/published-key-set.js';
import { createDpopServerNonces } from '../oauth/dpop/server.js';
import { createUserReachCache } from '../gateway/user-reach.js';
import { startAdminListener, type AdminListener } from '../ops/admin-listener.js';
import { migrateWhenPending } from '../ops/startup-migrations.js';
import { schedulePurge } from '../ops/purge-schedule.js';
import type { PeriodicTask } from '../ops/periodic.js';
import { scheduleRedelivery } from '../breakglass/notify.js';
import { createRequestLimiters, scheduleRateLimitSync } from '../http/request-rate-limits.js';
import { purgePolicyOf } from '../storage/purge.js';
import { initialAccessTokenDigestOf } from '../oauth/registration/credentials.js';
import type { AdminConsoleOptions } from '../admin/console/index.js';

export interface ContextOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Tests wrap the ledger, e.g. in a sink that can be made to fail, to prove the server fails closed. */
  wrapAudit?: (ledger: AuditSink) => AuditSink;
  /** Write the configuration's static clients to storage (default true; admin commands skip it). */
  syncClients?: boolean;
  /** Where the structured JSON log lines go (default: stderr). Tests capture them here. */
  log?: LogSink;
  /**
   * Run the background work in this process: the expired-row purge, break-glass webhook
   * redelivery and the exchange of rate-limit counts (default: as syncClients, so servers do and
   * admin commands do not).
   */
  background?: boolean;
  /**
   * An extra CA (PEM) trusted when fetching AI agents' Client ID Metadata Documents, besides the
   * system roots: the dev stack passes its own CA, so agents served on loopback can be tried.
   */
  clientMetadataCa?: string;
}

export async function createContext(config: CaduceusConfig, options: ContextOptions = {}): Promise<AppContext & { close(): Promise<void> }> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const masterKey = loadMasterKey({ env, file: config.master_key_file });
  const logger = createLogger(options.log);
  // Migrates only when something is pending, so a least-privilege role (no CREATE) can run the server.
  // Bounded waits on PostgreSQL (the `database` settings); a connection lost outside any request is logged.
  const reportDatabaseError = atMostEvery(30_000, (err: Error) => logger.log('error', 'database connection failed', { component: 'database', error: err.name, code: (err as { code?: string }).code }));
  const opened = await openStorage(config.storage, { migrate: false, driver: { ...driverOptionsOf(config.database), onError: reportDatabaseError } });
  let cache: RedisStores | undefined;
  try {
    await migrateWhenPending(opened.sql);
    // `cache: redis://…`: replay values, login throttling and rate-limit counts move to Redis (src/ops/redis-stores.ts).
    if (config.cache) {
      cache = await openRedisStores(config.cache, {
        keySecret: cacheKeySecret(masterKey),
        onError: (err) => logger.log('error', 'cache connection failed', { component: 'cache', error: err.name, code: (err as { code?: string }).code }),
      });
    }
    const storage: Storage = cache ? { ...opened, replay: cache.replay, throttle: cache.throttle, rateLimitCounts: cache.rateLimitCounts } : opened;
    const keys = new InstrumentedKeyManager({ store: storage.signingKeys, masterKey, clock: now });
    await keys.ensureKey(now());
    // The ledger writes through an instrumented driver: commit timings and failures for metrics and readiness.
    const ledgerProbe = instrumentLedgerDriver(storage.sql);
    const ledger = await openAuditSink(ledgerProbe.driver, config, masterKey, now, logger);
    ledgerProbe.attach(() => ledger.stats);
    const removeLedgerStats = addLedgerStats(() => ledger.stats);
    const audit = options.wrapAudit ? options.wrapAudit(ledger) : ledger;
    if (options.syncClients ?? true) await syncConfigClients(storage, config, masterKey, env, now(), failClosed(audit));
    // Expired codes, sessions, interactions and the like (src/storage/purge.ts); admin commands skip it.
    const background = options.background ?? options.syncClients ?? true;
    const purge = background ? schedulePurge(storage.sql, purgePolicyOf(config), { logger, now }) : undefined;
    let redelivery: PeriodicTask | undefined;
    let rateLimitSync: PeriodicTask | undefined;
    const derivedKeys = new DerivedKeys(masterKey);
    const ctx: AppContext & { close(): Promise<void> } = {
      config,
      storage,
      masterKey,
      keys,
      audit: failClosed(audit),
      now,
      resources: new Map(config.resources.map((r) => [r.uri, r])),
      warnings: unsafeWarnings(config),
      // Servers only (admin commands skip it, like client secrets): a missing or short token stops the start.
      ...(options.syncClients ?? true ? { initialAccessTokenDigest: initialAccessTokenDigestOf(config, masterKey, env) } : {}),
      // What this process holds in memory: every piece of per-server state is built here.
      ops: { logger, ledger: ledgerProbe, ...(cache ? { cache } : {}), readiness: createReadinessMemo() },
      rateLimits: createRequestLimiters(config.rate_limits),
      publishedKeys: new PublishedKeySet(keys),
      derivedKeys,
      dpopNonces: createDpopServerNonces(config.dpop, derivedKeys),
      userReach: createUserReachCache(),
      clientMetadata: createClientMetadataResolver(clientMetadataResolverOptions(config, { now, ...(options.clientMetadataCa ? { ca: options.clientMetadataCa } : {}) })),
      async close() {
        removeLedgerStats();
        await purge?.stop();
        await redelivery?.stop();
        await rateLimitSync?.stop();
        try {
          await ledger.close();
        } finally {
          await cache?.close();
          await storage.close();
        }
      },
    };
    // Break-glass webhooks not yet delivered are retried by every server process (src/breakglass/notify.ts).
    if (background) redelivery = scheduleRedelivery(ctx, logger);
    // Request rate-limit counts are shared with the other instances every second (src/http/request-rate-limits.ts).
    if (background) rateLimitSync = scheduleRateLimitSync(ctx, logger);
    return ctx;
  } catch (err) {
    await cache?.close().catch(() => undefined);
    await opened.close().catch(() => undefined);
    throw err;
  }
}

/** "No audit, no access": an event that cannot be stored fails the request with 503. */
function failClosed(sink: AuditSink): AuditSink {
  return {
    async record(event) {
      try {
        await sink.record(event);
      } catch (err) {
        throw temporarilyUnavailable(`audit: ${(err as Error).message}`);
      }
    },
  };
}

/** Static clients from the configuration (GitOps) are written to storage at every start. */
async function syncConfigClients(storage: Storage, config: CaduceusConfig, masterKey: import('../crypto/master-key.js').MasterKey, env: NodeJS.ProcessEnv, now: number, audit: AuditSink): Promise<void> {
  const problems: string[] = [];
  for (const [i, c] of config.clients.entries()) {
    let secretDigest: string | null = null;
    if (c.client_secret_env) {
      const secret = env[c.client_secret_env];
      if (!secret || Buffer.byteLength(secret) < 32) {
        problems.push(`clients[${i}].client_secret_env: environment variable ${c.client_secret_env} must hold a secret of at least 32 characters (generate one with "caduceus client add" or openssl rand -base64 32)`);
        continue;
      }
      secretDigest = digestClientSecret(masterKey, secret);
    }
    const existing = await storage.clients.get(c.client_id);
    const record: ClientRecord = {
      clientId: c.client_id, name: c.name, grantTypes: c.grant_types, redirectUris: c.redirect_uris, scope: c.scope,
      resources: c.resources, tokenEndpointAuthMethod: c.token_endpoint_auth_method, secretDigest,
      jwksUri: c.jwks_uri ?? null, jwks: c.jwks ? JSON.stringify(c.jwks) : null, source: 'config',
      createdAt: existing?.createdAt ?? now, updatedAt: now,
    };
    await storage.clients.upsert(record);
  }
  if (problems.length) throw new ConfigError(problems);
  // Clients deleted from the file are deleted from storage too (GitOps), and audited.
  const declared = new Set(config.clients.map((c) => c.client_id));
  for (const stale of (await storage.clients.list()).filter((c) => c.source === 'config' && !declared.has(c.clientId))) {
    await removeClient({ storage, masterKey, audit, now: () => now, actor: 'config' }, stale.clientId);
  }
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** The admin listener (metrics, health), when admin.port is set. */
  adminUrl?: string;
  close(): Promise<void>;
}

/** Listens with TLS (Mozilla intermediate); plain HTTP only behind unsafe switches, loopback only. */
export async function startServer(ctx: AppContext, options: { demo?: DemoCredentials; adminConsole?: AdminConsoleOptions } = {}): Promise<RunningServer> {
  const { config } = ctx;
  let https: object | null = null;
  if (config.tls) {
    https = tlsServerOptions({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) });
  } else if (config.unsafe.allow_plain_http) {
    assertPlainHttpAllowed(config.listen.host);
  }
  // A configured cache that does not answer refuses the start (it would fail every login).
  const cache = ctx.ops.cache;
  if (cache) {
    await cache.ping().catch((err: Error) => {
      throw new InternalError('ERR_STORAGE', `cache: Redis at ${redactCacheUrl(config.cache ?? '')} did not answer PING (${err.message})`);
    });
  }
  const trustProxy = config.listen.trusted_proxies.length ? config.listen.trusted_proxies : false;
  // The dev stack's seeded demo credentials bring the /demo walkthrough (src/demo/).
  const demo = options.demo ? walkthroughClientOf(options.demo) : undefined;
  const app = await buildApp(ctx, { ...(https ? { https } : {}), trustProxy, ...(demo ? { demo } : {}), ...(options.adminConsole ? { adminConsole: options.adminConsole } : {}) });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  let admin: AdminListener | undefined;
  try {
    if (config.admin.port !== undefined) admin = await startAdminListener(ctx, { host: config.admin.host, port: config.admin.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return {
    app,
    url: `${https ? 'https' : 'http'}://${host}:${port}`,
    ...(admin ? { adminUrl: admin.url } : {}),
    async close() {
      await admin?.close();
      await app.close();
    },
  };
}
