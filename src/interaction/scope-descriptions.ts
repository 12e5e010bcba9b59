// Plain-language descriptions of scopes for the consent page. SMART scopes
// (patient|user|system)/(Type|*).(cruds) are described from their parts.

const FIXED: Record<string, string> = {
  openid: 'Confirm who you are (your account identifier only).',
  offline_access: 'Stay connected after you leave, until you revoke access.',
  fhirUser: 'Know which health-record user you are (an identifier only).',
  profile: 'See your basic account identifier.',
  launch: 'Open within your health record system.',
  'launch/patient': 'Know which patient record is selected.',
};

const ACTIONS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/**
 * `forPatientOf`: 'self' when the signed-in person is the patient (the default), 'other' when a
 * practitioner acts for a patient they choose or the EHR opened.
 */
export function describeScope(scope: string, forPatientOf: 'self' | 'other' = 'self'): string {
  const fixed = FIXED[scope];
  if (fixed) return fixed;
  const m = /^(patient|user|system)\/([A-Za-z*]+)\.(read|write|\*|[cruds]+)$/.exec(scope);
  if (!m) return `Access described by the app as "${scope}".`;
  const [, level, type, perms] = m;
  const verbs = perms === 'read' ? ['read', 'search'] : perms === 'write' ? ['create', 'update', 'delete'] : perms === '*' ? ['read', 'search', 'create', 'update', 'delete'] : [...perms!].map((c) => ACTIONS[c]!);
  const what = type === '*' ? 'all kinds of health records' : `${type} records`;
  const whose = level === 'patient' ? (forPatientOf === 'self' ? 'for your patient record' : 'for the selected patient only') : level === 'user' ? 'that you are allowed to see' : 'for the whole system';
  return `${verbs.join(', ').replace(/^./, (c) => c.toUpperCase())} ${what} ${whose}.`;
}
