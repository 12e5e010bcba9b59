// Migration 8: durable delivery of the break-glass webhook (src/breakglass/notify.ts). Each
// emergency access records whether its notification was delivered (notified_at), how many delivery
// rounds were started (notify_attempts, also the compare-and-set guard that lets one instance of
// many take a round), and when the next round is due (notify_next_at; null until the first).
// Accesses from before this migration were handled by the earlier best-effort delivery: they are
// marked delivered at their creation, so an upgrade re-sends nothing.
import type { Migration } from './index.js';

const script = `
ALTER TABLE break_glass_accesses ADD COLUMN notified_at BIGINT;
ALTER TABLE break_glass_accesses ADD COLUMN notify_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE break_glass_accesses ADD COLUMN notify_next_at BIGINT;
UPDATE break_glass_accesses SET notified_at = created_at;
CREATE INDEX break_glass_accesses_undelivered ON break_glass_accesses (notified_at, created_at);
`;

export const migration008BreakGlassDelivery: Migration = { id: 8, name: 'break-glass-delivery', sqlite: script, postgres: script };
export default migration008BreakGlassDelivery;
