// Migration 9: request rate-limit counts shared by every instance (src/http/request-rate-limits.ts):
// one row per limit, keyed digest and clock-aligned window, summed by upsert. Without `cache`, this
// table is where instances behind one load balancer meet; rows of ended windows are purged.
import type { Migration } from './index.js';

const script = `
CREATE TABLE rate_limit_counts (
  limit_name TEXT NOT NULL,
  key_digest TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count BIGINT NOT NULL,
  PRIMARY KEY (limit_name, key_digest, window_start)
);
CREATE INDEX rate_limit_counts_window_start ON rate_limit_counts (window_start);
`;

export const migration009RateLimitCounts: Migration = { id: 9, name: 'rate-limit-counts', sqlite: script, postgres: script };
export default migration009RateLimitCounts;
