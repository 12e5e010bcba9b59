// `caduceus keys list|rotate`: the JWT signing keys (RFC 7517 key rollover, OIDC Core §10.1.1).
// The rollover rules live in src/crypto/signing-keys.ts (KeyManager); this module picks the
// retention from the configured token lifetimes and records the rotation in the audit ledger.
import type { SigningKeyRecord } from '../storage/types.js';
import type { AppContext } from '../context/app-context.js';
import { parseFlags } from './args.js';
import { cliActor, formatTable, splitSubcommand } from './client.js';
import { withAdminContext } from './context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIo } from './command.js';

/** Margin added to the longest token lifetime: clock skew between this host and verifiers. */
const RETAIN_MARGIN_MS = 60_000;

export type KeyState = 'active' | 'published' | 'retired';

export interface KeyView {
  kid: string;
  alg: string;
  created: string;
  activates: string;
  retired: string | null;
  expires: string | null;
  /** active: signs now; published: in the JWKS, not (yet) signing; retired: stopped signing. */
  state: KeyState;
}

export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'list or rotate the JWT signing keys',
  help: `Usage:
  caduceus keys list [--json]
  caduceus keys rotate [--publish-ahead SECONDS] [--json]

list     every signing key with its times and state:
           active     signs tokens now
           published  in the JWKS but not signing (waiting for its activation time)
           retired    stopped signing; stays in the JWKS until "expires", so tokens it signed
                      keep verifying, then is no longer served
rotate   adds a new ES256 key and retires the current one. The retired key stays published for
         max(tokens.access_token_ttl, tokens.id_token_ttl) + 60 s after the new key takes over.
         Running servers pick the new key up within seconds (their key cache).

Options:
  --publish-ahead SECONDS  publish the new key now but sign with it only after SECONDS (default 0).
                           Use at least the JWKS cache time of your relying parties, so they
                           have the key before the first token signed with it exists.
  --config FILE            the production configuration (caduceus.yaml)
  --data DIR               the folder of a dev stack (default ./data; usable while "caduceus dev" runs)
  --json                   print JSON instead of text
  -h, --help               print this help

A rotation is recorded in the audit ledger (key.rotated) with the operator as cli:USERNAME.
Exit status: 0 done, 1 failed, 2 usage error.
`,
  async run(argv, io) {
    const { sub, rest } = splitSubcommand(argv, ['list', 'rotate'], 'keys');
    switch (sub) {
      case undefined:
        io.stdout(keysCommand.help);
        return EXIT_OK;
      case 'list':
        return runList(rest, io);
      default:
        return runRotate(rest, io);
    }
  },
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The kid that signs at `now`, as the KeyManager chooses it (undefined when none can). */
async function activeKid(ctx: AppContext, now: number): Promise<string | undefined> {
  try {
    return (await ctx.keys.signer(now)).kid;
  } catch {
    return undefined;
  }
}

function keyState(key: SigningKeyRecord, active: string | undefined, now: number): KeyState {
  if (key.kid === active) return 'active';
  if ((key.retiredAt !== null && key.retiredAt <= now) || (key.expiresAt !== null && key.expiresAt <= now)) return 'retired';
  return 'published';
}

async function listKeys(ctx: AppContext, now: number): Promise<KeyView[]> {
  const active = await activeKid(ctx, now);
  return (await ctx.storage.signingKeys.list()).map((k) => ({
    kid: k.kid, alg: k.alg, created: iso(k.createdAt)!, activates: iso(k.activatesAt)!, retired: iso(k.retiredAt), expires: iso(k.expiresAt),
    state: keyState(k, active, now),
  }));
}

async function runList(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) {
    io.stdout(keysCommand.help);
    return EXIT_OK;
  }
  return withAdminContext(values, io, async (ctx) => {
    const keys = await listKeys(ctx, ctx.now());
    if (values.json) {
      io.stdout(`${JSON.stringify(keys)}\n`);
    } else {
      const rows = keys.map((k) => [k.kid, k.alg, k.state, k.created, k.activates, k.retired ?? '-', k.expires ?? '-']);
      io.stdout(formatTable(['KID', 'ALG', 'STATE', 'CREATED', 'ACTIVATES', 'RETIRED', 'EXPIRES'], rows));
    }
    return EXIT_OK;
  });
}

function parsePublishAhead(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value) * 1000)) {
    throw new UsageError(`--publish-ahead ${value}: give a whole number of seconds (0 or more), e.g. --publish-ahead 3600`);
  }
  return Number(value) * 1000;
}

async function runRotate(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, { 'publish-ahead': { type: 'string' } });
  if (values.help) {
    io.stdout(keysCommand.help);
    return EXIT_OK;
  }
  const publishAheadMs = parsePublishAhead(values['publish-ahead']);
  return withAdminContext(values, io, async (ctx) => {
    const now = ctx.now();
    const { access_token_ttl, id_token_ttl } = ctx.config.tokens;
    // The replaced key must verify every token it signed: the longest token lifetime, plus skew.
    const retainMs = Math.max(access_token_ttl, id_token_ttl) * 1000 + RETAIN_MARGIN_MS;
    const oldKid = await activeKid(ctx, now);
    const result = await ctx.keys.rotate(now, { retainMs, publishAheadMs });
    try {
      await ctx.audit.record({
        type: 'key.rotated', actor: { userId: cliActor() }, outcome: 'success', action: 'rotate', resource: result.kid,
        changes: [{ field: 'active_kid', before: oldKid ?? null, after: result.kid }],
        details: {
          old_kid: oldKid ?? '', new_kid: result.kid, activates_at: result.activatesAt,
          retired_kids: result.retired.map((r) => r.kid).join(' '), publish_ahead_ms: publishAheadMs, retain_ms: retainMs,
        },
      });
    } catch (err) {
      // 45 CFR 164.312(b): an unrecorded change must not look like a success.
      io.stderr(`caduceus keys: the key was rotated (new kid ${result.kid}) but the audit event could not be recorded: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    const retired = result.retired.map((r) => ({ kid: r.kid, retired: iso(r.retiredAt)!, expires: iso(r.expiresAt)! }));
    if (values.json) {
      io.stdout(`${JSON.stringify({ kid: result.kid, previous_kid: oldKid ?? null, activates: iso(result.activatesAt), retired })}\n`);
    } else {
      const lines = [
        `New signing key ${result.kid}: published now, signs from ${iso(result.activatesAt)}.`,
        ...retired.map((r) => `Retired ${r.kid}: stops signing at ${r.retired}, published until ${r.expires}.`),
      ];
      io.stdout(`${lines.join('\n')}\n`);
    }
    return EXIT_OK;
  });
}
