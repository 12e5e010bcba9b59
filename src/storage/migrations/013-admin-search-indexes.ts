// Migration 13: indexes for the admin console's grant search (src/admin/grants.ts,
// GrantStore.search), so a search by client or by patient is an index lookup, not a scan:
// - grants by client, newest first (replaces migration 10's grants_client, which it covers);
// - grants by the patient of their launch context (the expression GrantStore.search uses);
// - accounts by the record they are linked to (fhir_user), for a patient's own grants.
import type { Migration } from './index.js';

const common = `
DROP INDEX grants_client;
CREATE INDEX grants_client_created ON grants (client_id, created_at);
CREATE INDEX users_fhir_user ON users (fhir_user) WHERE fhir_user IS NOT NULL;
`;

export const migration013AdminSearchIndexes: Migration = {
  id: 13,
  name: 'admin-search-indexes',
  sqlite: `${common}CREATE INDEX grants_launch_patient ON grants (json_extract(launch_context, '$.patient'));\n`,
  postgres: `${common}CREATE INDEX grants_launch_patient ON grants ((launch_context::jsonb ->> 'patient'));\n`,
};
export default migration013AdminSearchIndexes;
