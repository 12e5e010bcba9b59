// `caduceus user add|list|disable|enable|set-role|reset-mfa|set-panel|set-break-glass`: end-user
// accounts. Hashing (argon2id), validation and auditing live in src/admin/users.ts.
//
// The password is read from standard input only: on the command line it would be visible to every
// local user in the process list and kept in shell history. A --password flag is refused.
import { addUser, parsePatientPanel, resetUserMfa, setUserBreakGlass, setUserDisabled, setUserPatientPanel, setUserRole } from '../admin/users.js';
import { roleOf } from '../identity/role-policy.js';
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
  caduceus user set-panel USERNAME [Patient/1,2,…]
  caduceus user set-break-glass USERNAME on|off

add        creates an account. The password is read from standard input (one trailing newline is
           dropped), never from the command line; at least 12 characters. It is stored as an
           argon2id hash.
list       lists accounts: id, username, disabled, fhirUser, role, patient panel and break-glass
           permission (the text table shows the panel's size; --json its FHIR Patient ids).
           Never the password hash.
disable    blocks sign-in, existing sessions and refresh tokens of the account. Access tokens
           already issued stay valid until they expire (tokens.access_token_ttl).
enable     allows sign-in again.
set-role   changes the role. Making an account administrator also revokes its consents that
           hold clinical scopes (patient/, user/, system/, launch) and their tokens.
reset-mfa  removes the account's authenticator apps, passkeys and recovery codes (lost device).
           If the role requires MFA (mfa.required_roles), the user sets one up at next sign-in.
set-panel  replaces a practitioner's patient panel: the patients they may pick when an app asks
           for a patient, and the only patients their user/ scopes reach through the gateway
           (within 30 s of the change). FHIR ids or Patient/ references, comma separated. Without
           a list, or with an empty one, the panel is cleared. Only practitioners can have a panel.
set-break-glass
           grants (on) or withdraws (off) the permission to request emergency access to a
           patient outside the panel, after two-step verification and with a stated reason
           (45 CFR 164.312(a)(2)(ii); see caduceus breakglass). Only practitioners can hold it.
           Changing a practitioner's role to another clears the panel and the permission.

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
    const { sub, rest } = splitSubcommand(argv, ['add', 'list', 'disable', 'enable', 'set-role', 'reset-mfa', 'set-panel', 'set-break-glass'], 'user');
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
      case 'set-panel':
        return runSetPanel(rest, io);
      case 'set-break-glass':
        return runSetBreakGlass(rest, io);
      default:
        return runSetDisabled(rest, io, sub === 'disable');
    }
  },
};

/** The public view of an account: never the password hash; the panel as FHIR Patient ids only. */
function describeUser(u: UserRecord): {
  id: string; username: string; disabled: boolean; fhirUser: string | null; created_at: string; role: string; patient_panel: string[]; break_glass: boolean;
} {
  return {
    id: u.id, username: u.username, disabled: u.disabled, fhirUser: u.fhirUser, created_at: new Date(u.createdAt).toISOString(),
    role: roleOf(u), patient_panel: u.patientPanel ?? [], break_glass: u.breakGlass === true,
  };
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
      const rows = records.map((u) => [
        u.id, u.username, u.disabled ? 'yes' : 'no', u.fhirUser ?? '-', roleOf(u), String((u.patientPanel ?? []).length), u.breakGlass ? 'yes' : 'no',
      ]);
      io.stdout(formatTable(['ID', 'USERNAME', 'DISABLED', 'FHIR_USER', 'ROLE', 'PANEL', 'BREAK_GLASS'], rows));
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

async function runSetPanel(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, true);
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  if (positionals.length < 1 || positionals.length > 2 || positionals[0] === '') {
    throw new UsageError('expected a username and an optional list of patients: caduceus user set-panel USERNAME [Patient/1,2,…]');
  }
  const [username, list = ''] = positionals as [string, string?];
  const patients = parsePatientPanel(list);
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    const result = await setUserPatientPanel(deps, username, patients);
    if (!result) {
      io.stderr(`caduceus user: no user "${username}" (see caduceus user list)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ username, patient_panel: result.after })}\n`);
    else if (result.after.length === 0) io.stdout(`Patient panel of ${username} cleared.\n`);
    else io.stdout(`Patient panel of ${username}: ${result.after.length} patient(s): ${result.after.map((p) => `Patient/${p}`).join(', ')}.\n`);
    return EXIT_OK;
  });
}

async function runSetBreakGlass(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, true);
  if (values.help) {
    io.stdout(userCommand.help);
    return EXIT_OK;
  }
  if (positionals.length !== 2 || (positionals[1] !== 'on' && positionals[1] !== 'off')) {
    throw new UsageError('expected a username and on or off: caduceus user set-break-glass USERNAME on|off');
  }
  const [username, state] = positionals as [string, 'on' | 'off'];
  return withAdminContext(values, io, async (ctx) => {
    const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
    const result = await setUserBreakGlass(deps, username, state === 'on');
    if (!result) {
      io.stderr(`caduceus user: no user "${username}" (see caduceus user list)\n`);
      return EXIT_FAILURE;
    }
    if (values.json) io.stdout(`${JSON.stringify({ username, break_glass: result.after })}\n`);
    else io.stdout(`${username} ${result.after ? 'may now request' : 'can no longer request'} emergency (break-glass) access.\n`);
    return EXIT_OK;
  });
}
