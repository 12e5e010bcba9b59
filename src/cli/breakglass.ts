// `caduceus breakglass review|webhook-key`: the administration side of emergency access
// (break-glass, 45 CFR 164.312(a)(2)(ii)). Listing and reviewing live in src/breakglass/review.ts,
// the webhook and its signature in src/breakglass/notify.ts.
//
// The open list shows the practitioners' stated reasons to the reviewer: it is recorded in the
// ledger (audit.read, the operator as cli:USERNAME) before anything is printed, and nothing is
// printed when that fails. The reason is free text typed by a practitioner, so control characters
// are replaced before it reaches a terminal.
import { listOpenAccesses, reviewAccess } from '../breakglass/review.js';
import { WEBHOOK_SIGNATURE_HEADER, webhookKey } from '../breakglass/notify.js';
import { loadMasterKey } from '../crypto/master-key.js';
import type { BreakGlassAccessRecord } from '../storage/types.js';
import { roleOf } from '../identity/role-policy.js';
import { parseFlags } from './args.js';
import { cliActor, formatTable, onePositional, splitSubcommand } from './client.js';
import { resolveConfig, withAdminContext } from './context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIo } from './command.js';

const SUBCOMMANDS = ['review', 'webhook-key'] as const;

export const breakglassCommand: CliCommand = {
  name: 'breakglass',
  summary: 'review emergency (break-glass) accesses; print the webhook signing key',
  help: `Usage:
  caduceus breakglass review [--json]
  caduceus breakglass review ID --outcome justified|unjustified --reviewer USERNAME [--note TEXT] [--json]
  caduceus breakglass webhook-key [--json]

review       without an ID, lists the emergency accesses not yet reviewed, oldest first: id,
             when (UTC), user, client, patient, when the access expires, and the reason the
             practitioner gave. With an ID, records the outcome of its review (once: a reviewed
             access cannot be reviewed again) by the administrator account named with
             --reviewer, which must not be the account that took the access.
webhook-key  prints the HMAC-SHA-256 key (hex) that signs the breakglass.webhook_url requests.
             Give it to the receiver: it checks that the header
             ${WEBHOOK_SIGNATURE_HEADER}: sha256=<hex> is the HMAC-SHA-256 of the exact body under
             this key (compare in constant time). The key is derived from the master key, so
             every instance signs with it and only a new master key changes it. It is a secret.

Options:
  --outcome OUTCOME   justified or unjustified
  --reviewer USERNAME the administrator account reviewing (active, role administrator; not the
                      practitioner who took the access)
  --note TEXT         the reviewer's note (kept with the access, not in the ledger; at most 2000
                      characters)
  --config FILE       the production configuration (caduceus.yaml)
  --data DIR          the folder of a dev stack (default ./data; usable while "caduceus dev" runs)
  --json              print JSON instead of text
  -h, --help          print this help

Reading the open list is recorded in the audit ledger (audit.read, the operator as
cli:USERNAME) and each review as breakglass.reviewed, with the reviewer's account as actor and
the operator in details.via.
Exit status: 0 done, 1 failed (unknown or already reviewed access, invalid outcome), 2 usage error.
`,
  async run(argv, io) {
    const { sub, rest } = splitSubcommand(argv, SUBCOMMANDS, 'breakglass');
    switch (sub) {
      case undefined:
        io.stdout(breakglassCommand.help);
        return EXIT_OK;
      case 'review':
        return runReview(rest, io);
      default:
        return runWebhookKey(rest, io);
    }
  },
};

/** Free text for a terminal line: control characters (newlines, escape sequences) become spaces. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

const iso = (ms: number) => new Date(ms).toISOString();

async function runReview(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, { outcome: { type: 'string' }, note: { type: 'string' }, reviewer: { type: 'string' } }, true);
  if (values.help) {
    io.stdout(breakglassCommand.help);
    return EXIT_OK;
  }
  if (positionals.length === 0) {
    if (values.outcome !== undefined || values.note !== undefined || values.reviewer !== undefined) {
      throw new UsageError('--outcome, --reviewer and --note need the id of the access: caduceus breakglass review ID --outcome justified|unjustified --reviewer USERNAME');
    }
    return runList(values, io);
  }
  const id = onePositional(positionals, 'access id', 'caduceus breakglass review ID --outcome justified|unjustified --reviewer USERNAME [--note TEXT]');
  if (values.outcome === undefined || values.outcome === '') {
    throw new UsageError('--outcome is required to review an access: justified or unjustified');
  }
  if (values.reviewer === undefined || values.reviewer === '') {
    throw new UsageError('--reviewer is required to review an access: the username of the administrator account reviewing it');
  }
  const outcome = values.outcome;
  const reviewerName = values.reviewer;
  return withAdminContext(values, io, async (ctx) => {
    const account = await ctx.storage.users.getByUsername(reviewerName);
    if (!account || account.disabled || roleOf(account) !== 'administrator') {
      io.stderr(`caduceus breakglass: --reviewer "${oneLine(reviewerName)}" is not an active administrator account (caduceus user set-role USERNAME administrator)\n`);
      return EXIT_FAILURE;
    }
    const reviewer = account.id;
    const done = await reviewAccess({ storage: ctx.storage, audit: ctx.audit, now: ctx.now, masterKey: ctx.masterKey }, id, {
      outcome, reviewer, via: cliActor(), ...(values.note !== undefined ? { note: values.note } : {}),
    });
    if (!done) {
      io.stderr(`caduceus breakglass: no open emergency access "${oneLine(id)}" (unknown or already reviewed; see caduceus breakglass review)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ id, outcome, reviewed_by: reviewer, reviewer: reviewerName })}\n`);
    else io.stdout(`Emergency access ${id} reviewed: ${outcome}.\n`);
    return EXIT_OK;
  });
}

async function runList(values: { config?: string; data?: string; json?: boolean }, io: CliIo): Promise<number> {
  return withAdminContext(values, io, async (ctx) => {
    const open = await listOpenAccesses(ctx, cliActor());
    const usernames = new Map<string, string>();
    for (const access of open) {
      if (!usernames.has(access.userId)) usernames.set(access.userId, (await ctx.storage.users.getById(access.userId))?.username ?? '(unknown)');
    }
    const view = (a: BreakGlassAccessRecord) => ({
      id: a.id, created_at: iso(a.createdAt), user_id: a.userId, username: usernames.get(a.userId)!, client_id: a.clientId,
      patient: `Patient/${a.patient}`, expires_at: iso(a.expiresAt), reason: a.reason,
    });
    if (values.json) {
      io.stdout(`${JSON.stringify(open.map(view))}\n`);
    } else if (open.length === 0) {
      io.stdout('No emergency access waits for review.\n');
    } else {
      const rows = open.map(view).map((a) => [a.id, a.created_at, oneLine(a.username), a.client_id, a.patient, a.expires_at, oneLine(a.reason)]);
      io.stdout(formatTable(['ID', 'CREATED (UTC)', 'USER', 'CLIENT', 'PATIENT', 'EXPIRES (UTC)', 'REASON'], rows));
    }
    return EXIT_OK;
  });
}

async function runWebhookKey(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) {
    io.stdout(breakglassCommand.help);
    return EXIT_OK;
  }
  const config = await resolveConfig(values, io);
  const key = webhookKey(loadMasterKey({ env: io.env, file: config.master_key_file })).toString('hex');
  io.stdout(values.json ? `${JSON.stringify({ algorithm: 'HMAC-SHA256', header: WEBHOOK_SIGNATURE_HEADER, key })}\n` : `${key}\n`);
  return EXIT_OK;
}
