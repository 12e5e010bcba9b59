import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_RULES, renderComplianceDoc } from '../../src/compliance/catalogue.js';

describe('docs/compliance.md', () => {
  it('is up to date with the rule modules (regenerate: npx tsx scripts/gen-compliance-doc.ts)', () => {
    expect(readFileSync(new URL('../../docs/compliance.md', import.meta.url), 'utf8')).toBe(renderComplianceDoc());
  });

  it('has an anchor for every rule, as SARIF helpUri expects, and unique ids across check and probe', () => {
    const doc = renderComplianceDoc();
    const ids = ALL_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(doc).toContain(`<a id="${id.toLowerCase()}"></a>`);
  });
});
