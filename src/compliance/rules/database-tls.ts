// 45 CFR 164.312(e)(1) and (e)(2)(ii): PHI-bearing traffic to the database is encrypted when it
// leaves the machine. A loopback or Unix-socket connection never does.
import { isLoopbackHost } from '../../http/tls.js';
import { findingsOf } from '../client-view.js';
import type { Rule } from '../types.js';

const id = 'CAD-DBS-001';
const finding = findingsOf(id);
const TLS_MODES = new Set(['require', 'verify-ca', 'verify-full']);

/** Whether a postgres:// URL connects over TLS or stays on this machine. Undefined for non-PostgreSQL storage. */
export function postgresTransport(storage: string): { local: boolean; tls: boolean; sslmode?: string; host: string } | undefined {
  if (!/^postgres(ql)?:\/\//.test(storage)) return undefined;
  // libpq URLs may have an empty host (Unix socket, host= parameter), which WHATWG URL refuses.
  const m = /^postgres(?:ql)?:\/\/(?:[^@/?]*@)?(\[[^\]]*\]|[^/?:]*)(?::\d+)?(?:\/[^?]*)?(?:\?(.*))?$/.exec(storage);
  if (!m) return { local: false, tls: false, host: '(unparseable)' };
  const params = new URLSearchParams(m[2] ?? '');
  let host = params.get('host') ?? m[1] ?? '';
  try {
    host = decodeURIComponent(host);
  } catch {
    // keep it as written
  }
  const local = host === '' || host.startsWith('/') || isLoopbackHost(host);
  const sslmode = params.get('sslmode') ?? undefined;
  const ssl = params.get('ssl');
  const tls = (sslmode !== undefined && TLS_MODES.has(sslmode)) || ssl === 'true' || ssl === '1';
  return { local, tls, host, ...(sslmode !== undefined ? { sslmode } : {}) };
}

export const databaseTls: Rule = {
  id,
  title: 'Database connection without TLS',
  severity: 'error',
  citations: ['45 CFR 164.312(e)(1)', '45 CFR 164.312(e)(2)(ii)', 'RFC 9700 §4.13'],
  description:
    'A PostgreSQL connection to another host must use sslmode=verify-full (or require/verify-ca). Loopback addresses and Unix sockets are not reported.',
  check(input) {
    const t = postgresTransport(input.config.storage);
    if (!t || t.local || t.tls) return [];
    return [finding('error', 'storage', `The database at host ${t.host} is reached without TLS (sslmode=${t.sslmode ?? 'not set'}).`, 'Add sslmode=verify-full to the storage URL (CADUCEUS_DATABASE_URL) and give the server the database CA.')];
  },
};
