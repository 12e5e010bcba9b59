// SMART App Launch 2.2 scopes-and-launch-context.md: "*" means every resource type "both now and in
// the future"; clients should "avoid the use of wildcard scopes purely for the sake of
// convenience". RFC 9700 §2.3: privileges "SHOULD be restricted to the minimum required".
import { tryParseSmartScope } from '../../smart/scopes.js';
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-SCP-001';
const finding = findingsOf(id);

/** Why a scope is over-broad (error or warning), or undefined. */
export function broadScopeProblem(scope: string): { severity: 'error' | 'warning'; why: string } | undefined {
  if (scope === '*') return { severity: 'error', why: 'grants everything' };
  const parsed = tryParseSmartScope(scope);
  if (parsed?.kind !== 'resource' || parsed.resourceType !== '*') return undefined;
  const writes = /[cud]/.test(parsed.permissions);
  if (writes && parsed.level !== 'patient') {
    return { severity: 'error', why: `allows ${parsed.permissions.includes('d') ? 'creating, changing and deleting' : 'writing'} every resource type for ${parsed.level === 'system' ? 'the whole system' : 'every patient the user can see'}` };
  }
  return { severity: 'warning', why: `covers every resource type, including types added later${writes ? ', with write access' : ''}` };
}

export const broadScopes: Rule = {
  id,
  title: 'Over-broad scopes',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(1)', 'RFC 9700 §2.3', 'SMART App Launch 2.2 scopes-and-launch-context (wildcard scopes)'],
  description:
    'Wildcard resource types (`patient/*.rs`) are a warning; wildcards with write access at user or system level (`user/*.cruds`, `system/*.*`, `system/*.cruds`) and the bare `*` scope are errors. Checked on every client and on every resource server\'s accepted scopes.',
  check(input) {
    const out: Finding[] = [];
    for (const c of clientViews(input)) {
      for (const s of c.scopes) {
        const p = broadScopeProblem(s);
        if (p) out.push(finding(p.severity, c.location, `Client ${c.clientId} may request ${s}, which ${p.why}.`, `Replace ${s} with the resource types and permissions the client needs (e.g. patient/Observation.rs).`));
      }
    }
    input.config.resources.forEach((r, i) => {
      for (const s of r.scopes) {
        const p = broadScopeProblem(s);
        if (p) out.push(finding(p.severity, `resources[${i}].scopes`, `Resource ${r.uri} accepts ${s}, which ${p.why}.`, `List the specific scopes the resource server serves instead of ${s}.`));
      }
    });
    return out;
  },
};
