// SMART App Launch 2.2 scopes-and-launch-context.md: "Valid suffixes are a subset of the in-order
// string .cruds"; "a request of .dus is not a defined scope request". RFC 6749 §3.3 scope syntax.
import { parseSmartScope, ScopeSyntaxError } from '../../smart/scopes.js';
import { clientViews, findingsOf } from '../client-view.js';
import type { Finding, Rule } from '../types.js';

const id = 'CAD-SCP-003';
const finding = findingsOf(id);

function problem(scope: string): string | undefined {
  try {
    parseSmartScope(scope);
    return undefined;
  } catch (err) {
    if (err instanceof ScopeSyntaxError) return err.message;
    throw err;
  }
}

export const malformedScopes: Rule = {
  id,
  title: 'Malformed SMART scopes',
  severity: 'error',
  citations: ['45 CFR 164.312(a)(1)', 'RFC 6749 §3.3', 'SMART App Launch 2.2 scopes-and-launch-context (scope syntax)'],
  description:
    'A scope that looks like a SMART resource scope but breaks the grammar (`patient/Observation.dus`, `user/observation.rs`, an empty `?`) is never what the operator meant: depending on the server it is ignored, widened or refused.',
  check(input) {
    const out: Finding[] = [];
    for (const c of clientViews(input)) {
      for (const s of c.scopes) {
        const why = problem(s);
        if (why) out.push(finding('error', c.location, `Client ${c.clientId} has the malformed scope "${s}": ${why}.`, 'Write it as level/Type.permissions with permissions in the order c r u d s, e.g. patient/Observation.rs.'));
      }
    }
    input.config.resources.forEach((r, i) => {
      for (const s of r.scopes) {
        const why = problem(s);
        if (why) out.push(finding('error', `resources[${i}].scopes`, `Resource ${r.uri} lists the malformed scope "${s}": ${why}.`, 'Write it as level/Type.permissions with permissions in the order c r u d s.'));
      }
    });
    return out;
  },
};
