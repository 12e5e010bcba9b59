// Small view helpers shared by the console's pages.
import type { AppContext } from '../../context/app-context.js';
import { html, type Raw } from '../../http/html.js';

/** A time as UTC text inside <time datetime>, readable without script. */
export function formatTime(ms: number): Raw {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** Usernames of the given user ids (ledger actors are ids); ids not found are left out. */
export async function userLabels(ctx: AppContext, ids: readonly (string | undefined)[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of new Set(ids.filter((x): x is string => x !== undefined))) {
    const user = await ctx.storage.users.getById(id);
    if (user) out.set(id, user.username);
  }
  return out;
}
