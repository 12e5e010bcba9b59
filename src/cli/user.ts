// `caduceus user add|list|disable|enable|set-role|reset-mfa`: end-user accounts. Hashing
// (argon2id), validation and auditing live in src/admin/users.ts.
//
// The password is read from standard input only: on the command line it would be visible to every
// local user in the process list and kept in shell history. A --password flag is refused.
import { addUser, resetUserMfa, setUserDisabled, setUserRole } from '../admin/users.js';
import { roleOf } from '../interaction/role-policy.js';
import type { UserRecord } from '../storage/types.js';
import { parseFlags, requireFlag } from './args.js';
import { cliActor, formatTable, onePositional, splitSubcommand } from './client.js';
import { withAdminContext } from './context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIo } from './command.js';

export const userCommand: CliCommand = {
  name: 'user',
  summary: 'add, list, disable or enable user accounts',
  help: `Usage:
  printf '%s' "$PASSWORD" | caduceus user add --username NAME [--role ROLE] [--patient Patient/123] [--json]
  caduceus user list [--json]
  caduceus user disable USERNAME
  caduceus user enable USERNAME
  caduceus user set-role USERNAME ROLE
  caduceus user reset-mfa USERNAME

add        creates an account. The password is read from standard input (one trailing newline is
           dropped), never from the command line; at least 12 characters. It is stored as an
           argon2id hash.
list       lists accounts: id, username, disabled, fhirUser (the text table also shows the role;
           never the password hash).
disable    blocks sign-in, existing sessions and refresh tokens of the account. Access tokens
           already issued stay valid until they expire (tokens.access_token_ttl).
enable     allows sign-in again.
set-role   changes the role. Making an account administrator also revokes its consents that
           hold clinical scopes (patient/, user/, system/, launch) and their tokens.
reset-mfa  removes the account's authenticator apps, passkeys and recovery codes (lost device).
           If the role requires MFA (mfa.required_roles), the user sets one up at next sign-in.

Roles: patient (default), practitioner, administrator. Practitioners and administrators must use
a second factor at sign-in by default (mfa.required_roles); administrators can never be granted
clinical scopes.

Options:
  --username NAME     3-128 letters, digits, ".", "_", "@", "+" or "-"
  --role ROLE         patient, practitioner or administrator (default patient)
  --patient REF       FHIR reference the user is linked to (fhirUser), e.g. Patient/123
  --config FILE       the production configuration (caduceus.yaml)
  --data DIR          the folder of a dev stack (default ./data; usable while "caduceus dev" runs)
  --json              print JSON instead of text
  -h, --help          print this help

Every change is recorded in the audit ledger with the operator as cli:USERNAME.
Exit status: 0 done, 1 failed (invalid input, unknown user), 2 usage error.
`,
  async run(argv, io) {
    // Before any parsing, so the value is never echoed in a parse error.
    if (argv.some((a) => a === '--password' || a.startsWith('--password='))) {
      throw new UsageError("--password is not accepted: a password on the command line leaks into the process list and shell history; pipe it on standard input instead, e.g. printf '%s' \"$PASSWORD\" | caduceus user add --username NAME");
    }
    const { sub, rest } = splitSubcommand(argv, ['add', 'list', 'disable', 'enable', 'set-role', 'reset-mfa'], 'user');
    switch (sub) {
      case undefined:
        io.stdout(userCommand.help);
        return EXIT_OK;
      case 'add':
        return runAdd(rest, io);
      case 'list':
        return runList(rest, io);
      case 'set-role':
        return runSetRole(rest, io);
      case 'reset-mfa':
        return runResetMfa(rest, io);
      default:
        return runSetDisabled(rest, io, sub === 'disable');
    }
  },
};

/** The public view of an account: never the password hash. */
function describeUser(u: UserRecord): { id: string; username: string; disabled: boolean; fhirUser: string | null; created_at: string } {
  return { id: u.id, username: u.username, disabled: u.disabled, fhirUser: u.fhirUser, created_at: new Date(u.createdAt).toISOString() };
}

async function runAdd(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, { username: { type: 'string' }, patient: { type: 'string' }, role: { type: 'string' } });
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  const username = requireFlag(values.username, 'username', 'the sign-in name of the account, e.g. --username jane.doe');
  const password = (await io.readStdin()).replace(/\r?\n$/, '');
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    const user = await addUser(deps, {
      username, password, ...(values.patient !== undefined ? { fhirUser: values.patient } : {}), ...(values.role !== undefined ? { role: values.role } : {}),
    });
    if (values.json) io.stdout(`${JSON.stringify({ ...describeUser(user), role: roleOf(user) })}\n`);
    else io.stdout(`User ${user.username} created (id ${user.id}, role ${roleOf(user)}${user.fhirUser ? `, fhirUser ${user.fhirUser}` : ''}).\n`);
    return EXIT_OK;
  });
}

async function runList(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  return withAdminContext(values, io, async (ctx) => {
    const records = await ctx.storage.users.list();
    const users = records.map(describeUser);
    if (values.json) {
      io.stdout(`${JSON.stringify(users)}\n`);
    } else if (users.length === 0) {
      io.stdout('No users.\n');
    } else {
      const rows = records.map((u) => [u.id, u.username, u.disabled ? 'yes' : 'no', u.fhirUser ?? '-', roleOf(u)]);
      io.stdout(formatTable(['ID', 'USERNAME', 'DISABLED', 'FHIR_USER', 'ROLE'], rows));
    }
    return EXIT_OK;
  });
}

async function runSetDisabled(argv: string[], io: CliIo, disabled: boolean): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, true);
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  const verb = disabled ? 'disable' : 'enable';
  const username = onePositional(positionals, 'username', `caduceus user ${verb} USERNAME`);
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    if (!(await setUserDisabled(deps, username, disabled))) {
      io.stderr(`caduceus user: no user "${username}" (see caduceus user list)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ username, disabled })}\n`);
    else io.stdout(`User ${username} ${disabled ? 'disabled' : 'enabled'}.\n`);
    return EXIT_OK;
  });
}

async function runSetRole(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, true);
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  if (positionals.length !== 2) throw new UsageError('expected a username and a role: caduceus user set-role USERNAME ROLE');
  const [username, role] = positionals as [string, string];
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    const result = await setUserRole(deps, username, role);
    if (!result) {
      io.stderr(`caduceus user: no user "${username}" (see caduceus user list)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ username, role, consents_revoked: result.consentsRevoked })}\n`);
    else io.stdout(`User ${username} is now ${role}${result.consentsRevoked ? ` (${result.consentsRevoked} consent(s) with clinical scopes revoked)` : ''}.\n`);
    return EXIT_OK;
  });
}

async function runResetMfa(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, true);
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  const username = onePositional(positionals, 'username', 'caduceus user reset-mfa USERNAME');
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    const result = await resetUserMfa(deps, username);
    if (!result) {
      io.stderr(`caduceus user: no user "${username}" (see caduceus user list)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ username, factors_removed: result.factors, recovery_codes_removed: result.recoveryCodes })}\n`);
    else io.stdout(`Removed ${result.factors} second factor(s) and ${result.recoveryCodes} recovery code(s) of ${username}.\n`);
    return EXIT_OK;
  });
}
