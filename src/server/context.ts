// Everything a request handler needs, assembled once at startup (src/server/start.ts).
import type { CaduceusConfig, ResourceConfig } from '../config/schema.js';
import type { Storage } from '../storage/types.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { KeyManager } from '../crypto/signing-keys.js';
import type { AuditSink } from '../audit/events.js';

export interface AppContext {
  config: CaduceusConfig;
  storage: Storage;
  masterKey: MasterKey;
  keys: KeyManager;
  audit: AuditSink;
  /** Epoch milliseconds; replaced by a frozen clock in tests. */
  now: () => number;
  resources: ReadonlyMap<string, ResourceConfig>;
  /** Warnings printed at startup (unsafe.* switches). */
  warnings: string[];
}

export const nowSeconds = (ctx: Pick<AppContext, 'now'>) => Math.floor(ctx.now() / 1000);
