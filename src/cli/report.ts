// `caduceus report`: the auditor-facing evidence report (src/compliance/report), as printable HTML
// or JSON, to standard output or a file.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseChoice } from './compliance-options.js';
import { collectEvidence } from '../compliance/report/evidence.js';
import { renderEvidenceHtml } from '../compliance/report/html.js';
import { parseFlags } from './args.js';
import { DEFAULT_DATA_DIR, openAdminContext } from './context.js';
import { EXIT_OK, UsageError, type CliCommand } from './command.js';

export const reportCommand: CliCommand = {
  name: 'report',
  summary: 'write the compliance evidence report (HTML or JSON) for auditors',
  help: `Usage: caduceus report [--config FILE | --data DIR] [--format html|json] [--out FILE]

Writes an auditor-facing evidence report, each section mapped to the HIPAA technical safeguard
(45 CFR 164.312) it evidences:
  1. configuration findings (the rules of "caduceus check")
  2. audit ledger: verification status and the latest signed checkpoint      (b), (c)(1)
  3. token signing key rotation history                                       (c)(1), (d)
  4. clients with their scopes, redirect URIs and resources                   (a)(1)
  5. consent statistics by client, revoked consents, emergency access         (a)(1)
  6. session and token lifetimes                                              (a)(2)(iii)
  7. users, MFA and client authentication                                     (d)
  8. TLS, HSTS, certificate and database transport                            (e)(1)
The HTML is one printable page with no script and no external resources. The report holds no
usernames, secrets, tokens or PHI.

Options:
  --config FILE     the production configuration (caduceus.yaml)
  --data DIR        the folder of a dev stack (default ./data)
  --format FORMAT   html (default) or json
  --out FILE        write to FILE (mode 0600) instead of standard output
  -h, --help        print this help

Exit status: 0 written, 1 failed, 2 usage error.
`,
  async run(argv, io) {
    const { values } = parseFlags(argv, { format: { type: 'string' }, out: { type: 'string' } });
    if (values.help) {
      io.stdout(reportCommand.help);
      return EXIT_OK;
    }
    if (values.json) throw new UsageError('use --format json');
    const format = parseChoice(values.format, 'format', ['html', 'json'] as const, 'html');
    const target = values.config ? resolve(values.config) : resolve(values.data ?? DEFAULT_DATA_DIR);
    const ctx = await openAdminContext(values, io);
    let text: string;
    try {
      const evidence = await collectEvidence(ctx, { env: io.env, target });
      text = format === 'json' ? `${JSON.stringify(evidence, null, 2)}\n` : renderEvidenceHtml(evidence);
    } finally {
      await ctx.close();
    }
    if (values.out) {
      writeFileSync(values.out, text, { mode: 0o600 });
      io.stderr(`caduceus report: wrote ${resolve(values.out)}\n`);
    } else {
      io.stdout(text);
    }
    return EXIT_OK;
  },
};
