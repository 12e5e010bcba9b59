// UserStore over SQL: local accounts (argon2id hashes only; the id is the OIDC subject) and their
// role (migration 003; a NULL role reads as 'patient' and is left out of the record).
import { InternalError } from '../../errors/internal-error.js';
import type { UserRecord, UserRole, UserStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { fromFlag, fromJsonList, toFlag, toJsonList } from './rows.js';

type UserRow = {
  id: string;
  username: string;
  password_hash: string;
  disabled: number;
  fhir_user: string | null;
  created_at: number;
  role: UserRole | null;
  patient_panel: string | null;
  break_glass: number;
};

const COLUMNS = 'id, username, password_hash, disabled, fhir_user, created_at, role, patient_panel, break_glass';

function toRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    disabled: fromFlag(row.disabled),
    fhirUser: row.fhir_user,
    createdAt: row.created_at,
    ...(row.role !== null ? { role: row.role } : {}),
    patientPanel: row.patient_panel === null ? [] : fromJsonList(row.patient_panel),
    breakGlass: fromFlag(row.break_glass),
  };
}

export function createUserStore(sql: SqlExecutor): UserStore {
  return {
    async create(user) {
      const inserted = await sql.run(
        `INSERT INTO users (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [
          user.id, user.username, user.passwordHash, toFlag(user.disabled), user.fhirUser, user.createdAt, user.role ?? null,
          user.patientPanel?.length ? toJsonList(user.patientPanel) : null, toFlag(user.breakGlass ?? false),
        ],
      );
      // The username is an identifier of a person: it stays out of the message.
      if (inserted === 0) throw new InternalError('ERR_CONFLICT', 'storage: users: the username or user id is taken');
    },
    async getById(id) {
      const row = await sql.get<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
      return row && toRecord(row);
    },
    async getByUsername(username) {
      // TEXT comparison is case-sensitive on both dialects (SQLite BINARY collation, PostgreSQL default).
      const row = await sql.get<UserRow>(`SELECT ${COLUMNS} FROM users WHERE username = $1`, [username]);
      return row && toRecord(row);
    },
    async list() {
      const rows = await sql.all<UserRow>(`SELECT ${COLUMNS} FROM users ORDER BY username`);
      return rows.map(toRecord);
    },
    async setDisabled(id, disabled) {
      return (await sql.run('UPDATE users SET disabled = $1 WHERE id = $2', [toFlag(disabled), id])) > 0;
    },
    async setRole(id, role) {
      return (await sql.run('UPDATE users SET role = $1 WHERE id = $2', [role, id])) > 0;
    },
    async setPatientPanel(id, patients) {
      return (await sql.run('UPDATE users SET patient_panel = $1 WHERE id = $2', [patients.length ? toJsonList(patients) : null, id])) > 0;
    },
    async setBreakGlass(id, allowed) {
      return (await sql.run('UPDATE users SET break_glass = $1 WHERE id = $2', [toFlag(allowed), id])) > 0;
    },
    async setPasswordHash(id, passwordHash) {
      return (await sql.run('UPDATE users SET password_hash = $1 WHERE id = $2', [passwordHash, id])) > 0;
    },
    async search({ usernameContains, limit, offset }) {
      const text = usernameContains?.toLowerCase() ?? '';
      // LIKE is case-insensitive on SQLite and case-sensitive on PostgreSQL: LOWER on both sides makes them agree.
      const rows = text === ''
        ? await sql.all<UserRow>(`SELECT ${COLUMNS} FROM users ORDER BY username LIMIT $1 OFFSET $2`, [limit, offset])
        : await sql.all<UserRow>(
          `SELECT ${COLUMNS} FROM users WHERE LOWER(username) LIKE $1 ESCAPE '\\' ORDER BY username LIMIT $2 OFFSET $3`,
          [`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`, limit, offset],
        );
      return rows.map(toRecord);
    },
  };
}
