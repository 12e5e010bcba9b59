// User administration: opaque random subject ids (never an e-mail, name or MRN), argon2id
// password hashes. Changes are audited without the password.
import { hashPassword } from '../crypto/password.js';
import { randomToken } from '../crypto/random.js';
import { REDACTED } from '../audit/events.js';
import { ConfigError } from '../config/schema.js';
import { InternalError } from '../errors/internal-error.js';
import type { UserRecord } from '../storage/types.js';
import type { AdminDeps } from './clients.js';

export const MIN_PASSWORD_LENGTH = 12;

export async function addUser(deps: Omit<AdminDeps, 'masterKey'>, input: { username: string; password: string; fhirUser?: string }): Promise<UserRecord> {
  if (!/^[A-Za-z0-9._@+-]{3,128}$/.test(input.username)) {
    throw new ConfigError(['--username: use 3-128 letters, digits, ".", "_", "@", "+" or "-"']);
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError([`password: must be at least ${MIN_PASSWORD_LENGTH} characters (read from standard input)`]);
  }
  if (input.fhirUser !== undefined && !/^(Patient|Practitioner|RelatedPerson|Person)\/[A-Za-z0-9.-]{1,64}$/.test(input.fhirUser)) {
    throw new ConfigError(['--patient: use a FHIR reference such as Patient/123']);
  }
  if (await deps.storage.users.getByUsername(input.username)) throw new InternalError('ERR_CONFLICT', `user ${input.username} already exists`);
  const user: UserRecord = {
    id: `u_${randomToken(16)}`, username: input.username, passwordHash: await hashPassword(input.password), disabled: false,
    fhirUser: input.fhirUser ?? null, createdAt: deps.now(),
  };
  await deps.storage.users.create(user);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'create', resource: user.id,
    changes: [{ field: 'password', before: null, after: REDACTED }, { field: 'disabled', before: null, after: false }],
  });
  return user;
}

export async function setUserDisabled(deps: Omit<AdminDeps, 'masterKey'>, username: string, disabled: boolean): Promise<boolean> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return false;
  await deps.storage.users.setDisabled(user.id, disabled);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: disabled ? 'disable' : 'enable', resource: user.id,
    changes: [{ field: 'disabled', before: user.disabled, after: disabled }],
  });
  return true;
}
