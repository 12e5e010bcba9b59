// FHIR R4 AuditEvent export of a ledger event (https://hl7.org/fhir/R4/auditevent.html), following
// IHE Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP) where a pattern fits:
// - PHI access (gateway): type rest + restful-interaction subtype; client and server agents as
//   Source/Destination Role ID (for read the client is the Destination, BALP 3:5.7.3); user agent
//   IRCP with requestor = true; entity[patient] Person/Patient; entity[data] System Object/Domain
//   Resource; entity[transaction] X-Request-Id.
// - OAuth token pattern (3:5.7.5): jti → agent[user].policy, client_id → agent[client].who,
//   purpose_of_use → agent[user].purposeOfUse.
// - Token issuance: IUA ITI-71 (DCM 110114 User Authentication, subtype ITI-71, action E).
// - Authorization decisions: BALP AuthZ (DCM 110113 Security Alert, AuthZ-Consent / AuthZ-Role).
// meta.profile names a BALP profile only when the instance has everything that profile requires
// (a successful read/create/update/delete with client and server network addresses).
//
// Every event also carries a subtype coding of its Caduceus type, so no information is lost.
// Identifiers only: the ledger holds no PHI payloads, and neither does this export.
import { canonicalize } from './jcs.js';
import type { AuditEvent, AuditEventType } from './events.js';
import { FHIR_ID_SOURCE } from '../util/fhir-id.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const BALP = 'https://profiles.ihe.net/ITI/BALP';
const BALP_ENTITY_TYPE = `${BALP}/CodeSystem/BasicAuditEntityType`;
const BALP_AGENT_TYPE = `${BALP}/CodeSystem/UserAgentTypes`;
const BALP_AUTHZ = `${BALP}/CodeSystem/AuthZsubType`;
const IHE_EVENT_TYPE = 'urn:ihe:event-type-code';

/** Code system of the Caduceus event type carried in every subtype. */
export const CADUCEUS_EVENT_TYPE_SYSTEM = 'urn:caduceus:audit-event-type';

export interface Coding {
  system?: string;
  code: string;
  display?: string;
}
export interface CodeableConcept {
  coding: Coding[];
}
export interface Reference {
  reference?: string;
  identifier?: { system?: string; value: string };
  display?: string;
}
export interface FhirAuditEventAgent {
  type: CodeableConcept;
  who: Reference;
  requestor: boolean;
  policy?: string[];
  network?: { address: string; type: '1' | '2' | '5' };
  purposeOfUse?: CodeableConcept[];
}
export interface FhirAuditEventEntity {
  what?: Reference;
  type: Coding;
  role?: Coding;
  description?: string;
  detail?: { type: string; valueString: string }[];
}
/** FHIR R4 AuditEvent (the elements this export fills). */
export interface FhirAuditEvent {
  resourceType: 'AuditEvent';
  id: string;
  meta?: { profile: string[] };
  type: Coding;
  subtype: Coding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  recorded: string;
  outcome: '0' | '4' | '8' | '12';
  outcomeDesc?: string;
  purposeOfEvent?: CodeableConcept[];
  agent: FhirAuditEventAgent[];
  source: { site?: string; observer: Reference; type: Coding[] };
  entity?: FhirAuditEventEntity[];
}

export interface FhirExportOptions {
  /** source.observer and the server agent: who recorded the event. Default "Caduceus". */
  observer?: string;
  source?: { site?: string };
  /** Issuer URL, the identifier system of user ids (BALP: iss → agent[user].who.identifier.system). */
  issuer?: string;
  /** The server's network address (host name or IP); BALP requires it on the server agent. */
  serverAddress?: string;
}

type Category = 'rest' | 'token-issue' | 'token' | 'alert' | 'authz' | 'consent' | 'login' | 'logout' | 'config' | 'user-config' | 'audit-read';

const CATEGORY: Record<AuditEventType, Category> = {
  'phi.accessed': 'rest',
  'phi.denied': 'rest',
  'token.issued': 'token-issue',
  'token.refreshed': 'token-issue',
  'token.failed': 'token-issue',
  'token.revoked': 'token',
  'token.introspected': 'token',
  'token.refresh_reuse_detected': 'alert',
  'token.code_replay_detected': 'alert',
  'authz.code_issued': 'authz',
  'authz.denied': 'authz',
  'consent.granted': 'consent',
  'consent.denied': 'consent',
  'consent.revoked': 'consent',
  'login.succeeded': 'login',
  'login.failed': 'login',
  'login.locked': 'alert',
  logout: 'logout',
  'session.expired': 'logout',
  'client.changed': 'config',
  'key.rotated': 'config',
  'key.created': 'config',
  'user.changed': 'user-config',
  'audit.read': 'audit-read',
  'audit.verified': 'audit-read',
  'launch.created': 'authz',
  'breakglass.granted': 'alert',
  'breakglass.notify_failed': 'alert',
  'breakglass.notified': 'alert',
  'breakglass.reviewed': 'config',
};

const TYPE_CODING: Record<Category, Coding> = {
  rest: { system: EVENT_TYPE, code: 'rest', display: 'Restful Operation' },
  'token-issue': { system: DCM, code: '110114', display: 'User Authentication' },
  token: { system: DCM, code: '110114', display: 'User Authentication' },
  login: { system: DCM, code: '110114', display: 'User Authentication' },
  logout: { system: DCM, code: '110114', display: 'User Authentication' },
  alert: { system: DCM, code: '110113', display: 'Security Alert' },
  authz: { system: DCM, code: '110113', display: 'Security Alert' },
  consent: { system: DCM, code: '110113', display: 'Security Alert' },
  config: { system: DCM, code: '110113', display: 'Security Alert' },
  'user-config': { system: DCM, code: '110113', display: 'Security Alert' },
  'audit-read': { system: DCM, code: '110101', display: 'Audit Log Used' },
};

const RESTFUL_INTERACTIONS = new Set([
  'read', 'vread', 'update', 'patch', 'delete', 'history', 'history-instance', 'history-type', 'history-system',
  'create', 'search', 'search-type', 'search-system', 'capabilities', 'transaction', 'batch', 'operation',
]);

type Action = FhirAuditEvent['action'];

/** FHIR interaction or HTTP method → AuditEvent.action (BALP: search is E, read R). */
function restAction(action: string | undefined): Action {
  switch (action?.toLowerCase()) {
    case 'read': case 'vread': case 'history': case 'history-instance': case 'history-type': case 'history-system': case 'get': case 'head':
      return 'R';
    case 'create': case 'post':
      return 'C';
    case 'update': case 'patch': case 'put':
      return 'U';
    case 'delete':
      return 'D';
    default:
      return 'E';
  }
}

function otherAction(event: AuditEvent, category: Category): Action {
  if (event.type === 'consent.granted' || event.type === 'key.created') return 'C';
  if (event.type === 'consent.revoked') return 'D';
  if (event.type === 'key.rotated') return 'U';
  if (category === 'audit-read') return 'R';
  // An agent's own registration (src/oauth/endpoints/register.ts): register creates the client, read reads it.
  if (event.type === 'client.changed' && event.action === 'register') return 'C';
  if (event.type === 'client.changed' && event.action === 'read') return 'R';
  if (category === 'config' || category === 'user-config') {
    const a = restAction(event.action);
    return a === 'E' || a === 'R' ? 'U' : a;
  }
  return 'E';
}

function subtypes(event: AuditEvent, category: Category): Coding[] {
  const list: Coding[] = [];
  if (category === 'rest' && event.action && RESTFUL_INTERACTIONS.has(event.action)) {
    list.push({ system: RESTFUL, code: event.action, display: event.action });
  }
  if (category === 'token-issue') list.push({ system: IHE_EVENT_TYPE, code: 'ITI-71', display: 'Get Access Token' });
  if (category === 'authz') {
    list.push(event.consentId
      ? { system: BALP_AUTHZ, code: 'AuthZ-Consent', display: 'Authorization Decision using Roles and Consent' }
      : { system: BALP_AUTHZ, code: 'AuthZ-Role', display: 'Authorization Decision using only Roles' });
  }
  if (category === 'login') list.push({ system: DCM, code: '110122', display: 'Login' });
  if (category === 'logout') list.push({ system: DCM, code: '110123', display: 'Logout' });
  if (category === 'config') list.push({ system: DCM, code: '110129', display: 'Security Configuration' });
  if (category === 'user-config') list.push({ system: DCM, code: '110137', display: 'User Security Attributes Changed' });
  list.push({ system: CADUCEUS_EVENT_TYPE_SYSTEM, code: event.type });
  return list;
}

function purposes(event: AuditEvent): CodeableConcept[] | undefined {
  const value = event.details?.['purposeOfUse'];
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return value.trim().split(/\s+/).map((code) => ({ coding: [{ system: ACT_REASON, code }] }));
}

const RELATIVE_REFERENCE = new RegExp(`^[A-Z][A-Za-z]+/${FHIR_ID_SOURCE}(/_history/${FHIR_ID_SOURCE})?$`);

function referenceTo(value: string): Reference {
  return RELATIVE_REFERENCE.test(value) ? { reference: value } : { identifier: { value } };
}

const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;

function network(address: string): { address: string; type: '1' | '2' } {
  return { address, type: IP_ADDRESS.test(address) ? '2' : '1' };
}

const BALP_REST_PROFILE: Partial<Record<Action, string>> = { R: 'Read', C: 'Create', U: 'Update', D: 'Delete' };

/** Maps one stored ledger event to a FHIR R4 AuditEvent (BALP-aligned). */
export function toFhirAuditEvent(event: AuditEvent, options: FhirExportOptions = {}): FhirAuditEvent {
  const category = CATEGORY[event.type];
  const observer = options.observer ?? 'Caduceus';
  const rest = category === 'rest';
  const action = rest ? restAction(event.action) : otherAction(event, category);
  const isRead = rest && action === 'R';
  const purpose = purposes(event);
  const userId = event.actor.userId;
  const clientId = event.actor.clientId;

  const agent: FhirAuditEventAgent[] = [];
  if (userId !== undefined) {
    agent.push({
      type: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] },
      who: { identifier: { ...(options.issuer ? { system: options.issuer } : {}), value: userId } },
      requestor: true,
      ...(event.jti ? { policy: [event.jti] } : {}),
      ...(purpose ? { purposeOfUse: purpose } : {}),
    });
  }
  if (clientId !== undefined) {
    const type: Coding = rest
      ? isRead
        ? { system: DCM, code: '110152', display: 'Destination Role ID' }
        : { system: DCM, code: '110153', display: 'Source Role ID' }
      : { system: DCM, code: '110150', display: 'Application' };
    agent.push({
      type: { coding: [type] },
      who: { identifier: { value: clientId } },
      requestor: userId === undefined,
      ...(event.sourceAddress ? { network: network(event.sourceAddress) } : {}),
    });
  }
  const serverType: Coding = rest
    ? isRead
      ? { system: DCM, code: '110153', display: 'Source Role ID' }
      : { system: DCM, code: '110152', display: 'Destination Role ID' }
    : { system: BALP_AGENT_TYPE, code: 'AuthzOauthService', display: 'OAuth Authorization Server' };
  agent.push({
    type: { coding: [serverType] },
    who: { display: observer },
    requestor: userId === undefined && clientId === undefined,
    ...(options.serverAddress ? { network: network(options.serverAddress) } : {}),
  });

  const entity: FhirAuditEventEntity[] = [];
  if (event.patient !== undefined) {
    entity.push({
      what: referenceTo(event.patient),
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  if (event.resource !== undefined) {
    const security = category === 'config' || category === 'user-config';
    entity.push({
      what: referenceTo(event.resource),
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: rest && (event.action === 'search' || event.action === 'search-type' || event.action === 'search-system')
        ? { system: OBJECT_ROLE, code: '24', display: 'Query' }
        : security
          ? { system: OBJECT_ROLE, code: '13', display: 'Security Resource' }
          : { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
    });
  }
  if (event.jti !== undefined && (category === 'token-issue' || category === 'token' || category === 'alert')) {
    entity.push({
      what: { identifier: { value: `urn:ietf:params:oauth:jti:${event.jti}` } },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
    });
  }
  if (event.consentId !== undefined) {
    entity.push({ what: { identifier: { value: event.consentId } }, type: { system: RESOURCE_TYPES, code: 'Consent', display: 'Consent' } });
  }
  if (event.requestId !== undefined) {
    entity.push({ what: { identifier: { value: event.requestId } }, type: { system: BALP_ENTITY_TYPE, code: 'XrequestId' } });
  }
  const detail = details(event);
  if (detail.length > 0) {
    entity.push({ type: { system: ENTITY_TYPE, code: '4', display: 'Other' }, description: 'Caduceus event details', detail });
  }

  const profile = rest && event.outcome === 'success' && event.sourceAddress && options.serverAddress && clientId !== undefined && event.resource !== undefined
    ? BALP_REST_PROFILE[action]
    : undefined;
  const profileName = profile && (event.patient !== undefined ? `Patient${profile}` : profile);

  return {
    resourceType: 'AuditEvent',
    id: String(event.seq),
    ...(profileName ? { meta: { profile: [`${BALP}/StructureDefinition/IHE.BasicAudit.${profileName}`] } } : {}),
    type: TYPE_CODING[category],
    subtype: subtypes(event, category),
    action,
    recorded: new Date(event.time).toISOString(),
    // R4 audit-event-outcome: 0 success; 4 minor failure (≈ HTTP 4xx, here a denial); 8 serious failure (≈ 5xx).
    outcome: event.outcome === 'success' ? '0' : event.outcome === 'denied' ? '4' : '8',
    ...(event.reason !== undefined ? { outcomeDesc: event.reason } : {}),
    ...(purpose ? { purposeOfEvent: purpose } : {}),
    agent,
    source: {
      ...(options.source?.site ? { site: options.source.site } : {}),
      observer: { display: observer },
      type: [rest
        ? { system: SOURCE_TYPE, code: '4', display: 'Application Server' }
        : { system: SOURCE_TYPE, code: '6', display: 'Security Server' }],
    },
    ...(entity.length > 0 ? { entity } : {}),
  };
}

/** The members no standard element holds, as entity.detail (values are identifiers, never PHI). */
function details(event: AuditEvent): { type: string; valueString: string }[] {
  const out: { type: string; valueString: string }[] = [];
  const add = (type: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') out.push({ type, valueString: value });
  };
  add('grantId', event.grantId);
  add('sessionId', event.sessionId);
  add('scope.requested', event.scopes?.requested?.join(' '));
  add('scope.granted', event.scopes?.granted?.join(' '));
  add('scope.used', event.scopes?.used);
  for (const [key, value] of Object.entries(event.details ?? {})) {
    if (key !== 'purposeOfUse') add(`detail.${key}`, String(value));
  }
  for (const change of event.changes ?? []) add(`change.${change.field}`, canonicalize({ before: change.before, after: change.after }));
  return out;
}
