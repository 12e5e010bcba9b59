// Collects the snapshot the rules inspect (CheckInput): the configuration, the stored clients,
// users and signing keys, the ledger state (fully verified, checkpoint signatures included), and
// facts from files and the environment. Secret values are never copied into the input: only
// whether they exist, their length and file modes.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { CaduceusConfig } from '../config/schema.js';
import { MASTER_KEY_ENV, loadMasterKey } from '../crypto/master-key.js';
import { latestCheckpoint, ledgerSize, splitNotes, verifierKey, verifyLedger } from '../audit/index.js';
import { toEd25519PrivateKey } from '../audit/note.js';
import { checkpointSeed, ledgerOrigin } from '../audit/sink.js';
import type { AppContext } from '../context/app-context.js';
import { listAdminRoutes, serverFacts } from './server-facts.js';
import type { CertificateFacts, CheckInput, FileFacts, LedgerFacts } from './types.js';

export interface CollectOptions {
  env: NodeJS.ProcessEnv;
  now?: number;
  /** Verify the ledger only up to this many events (startup uses a bound; the CLI does not). */
  verifyLedgerUpTo?: number;
  /** Why no context could be opened, when `ctx` is undefined. */
  contextError?: string;
}

const EC_BITS: Record<string, number> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp224r1: 224, prime192v1: 192 };

export function certificateFacts(path: string): CertificateFacts {
  try {
    const pem = readFileSync(path, 'utf8');
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    if (!first) return { path, error: 'no PEM certificate in the file' };
    const cert = new X509Certificate(first);
    const key = cert.publicKey;
    const details = key.asymmetricKeyDetails ?? {};
    const keyType = key.asymmetricKeyType ?? 'unknown';
    const keyBits = keyType === 'rsa' || keyType === 'rsa-pss' ? details.modulusLength : keyType === 'ec' ? EC_BITS[details.namedCurve ?? ''] : undefined;
    return {
      path,
      validFrom: Date.parse(cert.validFrom),
      validTo: Date.parse(cert.validTo),
      keyType: keyType === 'rsa-pss' ? 'rsa' : keyType,
      ...(keyBits !== undefined ? { keyBits } : {}),
      subject: cert.subject.replace(/\n/g, ', '),
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { path, error: code ? `cannot read the file (${code})` : (err as Error).message };
  }
}

export function fileFacts(config: CaduceusConfig, env: NodeJS.ProcessEnv): FileFacts {
  const facts: FileFacts = { clientSecretBytes: {} };
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    facts.masterKeySource = 'env';
  } else if (config.master_key_file) {
    facts.masterKeySource = 'file';
    facts.masterKeyFile = config.master_key_file;
    try {
      const st = statSync(config.master_key_file);
      facts.masterKeyExists = true;
      facts.masterKeyMode = st.mode;
    } catch {
      facts.masterKeyExists = false;
    }
  } else {
    facts.masterKeySource = 'none';
  }
  if (facts.masterKeySource !== 'none' && facts.masterKeyExists !== false) {
    try {
      loadMasterKey({ env, file: config.master_key_file ?? null });
    } catch (err) {
      facts.masterKeyError = (err as Error).message;
    }
  }
  if (config.tls) facts.tlsCertificate = certificateFacts(config.tls.cert);
  for (const c of config.clients) {
    if (c.client_secret_env) {
      const v = env[c.client_secret_env];
      facts.clientSecretBytes![c.client_secret_env] = v === undefined || v === '' ? undefined : Buffer.byteLength(v);
    }
  }
  if (config.audit.witness_file) facts.witnessFileExists = existsSync(config.audit.witness_file);
  return facts;
}

export async function ledgerFacts(ctx: AppContext, verifyUpTo = Number.POSITIVE_INFINITY): Promise<LedgerFacts> {
  const sql = ctx.storage.sql;
  const size = await ledgerSize(sql);
  const latest = await latestCheckpoint(sql);
  const facts: LedgerFacts = { size, ...(latest ? { latestCheckpointTime: latest.createdAt, latestCheckpointSize: latest.size } : {}) };
  if (size > verifyUpTo) {
    facts.skipped = `the ledger holds ${size} events, more than the ${verifyUpTo} verified at startup; run caduceus check for a full verification`;
    return facts;
  }
  const origin = ledgerOrigin(ctx.config);
  const witnessFile = ctx.config.audit.witness_file;
  const witness = witnessFile && existsSync(witnessFile) ? splitNotes(readFileSync(witnessFile, 'utf8')) : [];
  const publicKey = verifierKey(origin, toEd25519PrivateKey(checkpointSeed(ctx.masterKey)));
  facts.verified = await verifyLedger(sql, { publicKey, origin, witness });
  return facts;
}

/**
 * The rules' input. `ctx` is an open admin or server context; without one (the master key or the
 * database could not be opened) only the configuration and file facts are collected.
 */
export async function collectCheckInput(config: CaduceusConfig, ctx: AppContext | undefined, options: CollectOptions): Promise<CheckInput> {
  const now = options.now ?? ctx?.now() ?? Date.now();
  const files = fileFacts(config, options.env);
  if (!ctx) {
    return {
      config, clients: [], users: [], signingKeys: [], files, now,
      ledger: { size: 0, unavailable: true, skipped: options.contextError ?? 'the database could not be opened' },
      server: serverFacts(config),
    };
  }
  const [clients, users, signingKeys, ledger, adminRoutes] = await Promise.all([
    ctx.storage.clients.list(),
    ctx.storage.users.list(),
    ctx.storage.signingKeys.list(),
    ledgerFacts(ctx, options.verifyLedgerUpTo),
    listAdminRoutes(ctx),
  ]);
  return { config, clients, users, signingKeys, ledger, files, server: serverFacts(config, adminRoutes), now };
}
