// Migration 5: find a user's grants quickly, so disabling an account revokes all of them
// (GrantStore.revokeByUser) without scanning every grant.
import type { Migration } from './index.js';

const script = 'CREATE INDEX IF NOT EXISTS grants_user ON grants (user_id);';

export const migration005GrantsByUser: Migration = { id: 5, name: 'grants-by-user', sqlite: script, postgres: script };
