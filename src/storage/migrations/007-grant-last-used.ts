// Migration 7: grants.last_used_at, the latest use of a grant (a code redeemed, a refresh token
// issued) whose rows the expired-row purge (src/storage/purge.ts) has deleted. /account shows the
// latest of it and of the rows still stored, so purging never changes "last used".
import type { Migration } from './index.js';

const script = `
ALTER TABLE grants ADD COLUMN last_used_at BIGINT;
`;

export const migration007GrantLastUsed: Migration = { id: 7, name: 'grant-last-used', sqlite: script, postgres: script };
export default migration007GrantLastUsed;
