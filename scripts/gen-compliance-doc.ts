// Writes docs/compliance.md, the rule catalogue, from the rule modules. Run after changing a rule:
//   npx tsx scripts/gen-compliance-doc.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderComplianceDoc } from '../src/compliance/catalogue.js';

const target = fileURLToPath(new URL('../docs/compliance.md', import.meta.url));
writeFileSync(target, renderComplianceDoc());
process.stdout.write(`wrote ${target}\n`);
