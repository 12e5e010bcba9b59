// Real-time notification of an emergency access (break-glass, 45 CFR 164.312(a)(2)(ii); issue 5):
// when `breakglass.webhook_url` is set, every access is POSTed there as it is granted, so a
// privacy officer learns of it at once instead of at the next review.
//
// The body holds identifiers only (the access id, the user's opaque id, the client id, the patient
// reference, times and the issuer): never the practitioner's stated reason, names or any PHI. It is
// signed with HMAC-SHA-256 under a key derived from the master key (HKDF label
// "breakglass-webhook"; `caduceus breakglass webhook-key` prints it for the receiver):
//
//   x-caduceus-signature: sha256=<hex HMAC-SHA-256 of the exact body bytes>
//
// Delivery never blocks or fails the emergency access: each attempt times out after 5 s, a failed
// attempt is retried once, and the promise never rejects. A delivery that failed is recorded in
// the ledger ('breakglass.notify_failed', reason http_<status>, 'timeout' or 'network'); if even
// that cannot be recorded, one log line without identifiers says so.
//
// Deliberately not done: redirects are not followed (the signed body would go to another place);
// no queue survives a restart (the open access stays listed by `caduceus breakglass review`).
import { createHmac } from 'node:crypto';
import type { MasterKey } from '../crypto/master-key.js';
import { opsOf } from '../ops/state.js';
import type { AppContext } from '../server/context.js';
import type { BreakGlassAccessRecord } from '../storage/types.js';

export const WEBHOOK_SIGNATURE_HEADER = 'x-caduceus-signature';
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** The first attempt and one retry. */
const ATTEMPTS = 2;

/** The JSON body POSTed to `breakglass.webhook_url` (wire names, identifiers only). */
export interface BreakGlassWebhookPayload {
  type: 'breakglass.granted';
  /** The break_glass_accesses id (the same id as in the ledger's breakglass.granted event). */
  id: string;
  /** The practitioner's opaque subject id. */
  user_id: string;
  client_id: string;
  /** FHIR reference, e.g. "Patient/123". */
  patient: string;
  created_at: string;
  expires_at: string;
  issuer: string;
}

export function webhookPayload(issuer: string, access: BreakGlassAccessRecord): BreakGlassWebhookPayload {
  return {
    type: 'breakglass.granted',
    id: access.id,
    user_id: access.userId,
    client_id: access.clientId,
    patient: `Patient/${access.patient}`,
    created_at: new Date(access.createdAt).toISOString(),
    expires_at: new Date(access.expiresAt).toISOString(),
    issuer,
  };
}

/** The HMAC-SHA-256 key that signs webhook bodies; the receiver holds the same key. */
export function webhookKey(masterKey: MasterKey): Buffer {
  return masterKey.digestKey('breakglass-webhook');
}

/** The x-caduceus-signature value of a body: "sha256=" and the hex HMAC-SHA-256 of its UTF-8 bytes. */
export function signWebhookBody(key: Uint8Array, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;
}

export interface NotifyOptions {
  /** Per-attempt timeout (default 5 s); tests shorten it. */
  timeoutMs?: number;
}

/** Why one attempt failed: 'http_<status>', 'timeout' or 'network'. */
type AttemptResult = { ok: true } | { ok: false; reason: string; status?: number };

/**
 * Sends the webhook for one emergency access, if one is configured. Never rejects; resolves once
 * the delivery succeeded, or failed and the failure was recorded (tests await it).
 */
export function notifyBreakGlass(ctx: AppContext, access: BreakGlassAccessRecord, options: NotifyOptions = {}): Promise<void> {
  return deliver(ctx, access, options).catch(() => {
    // Unreachable by construction (deliver catches everything); kept so the promise never rejects.
    logUnrecorded(ctx, 'internal');
  });
}

async function deliver(ctx: AppContext, access: BreakGlassAccessRecord, options: NotifyOptions): Promise<void> {
  const url = ctx.config.breakglass.webhook_url;
  if (url === undefined) return;
  let result: AttemptResult = { ok: false, reason: 'network' };
  let attempts = 0;
  try {
    const body = JSON.stringify(webhookPayload(ctx.config.issuer, access));
    const signature = signWebhookBody(webhookKey(ctx.masterKey), body);
    while (attempts < ATTEMPTS) {
      attempts += 1;
      result = await attempt(url, body, signature, options.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
      if (result.ok) return;
    }
  } catch {
    result = { ok: false, reason: 'internal' };
  }
  const failure = result as Extract<AttemptResult, { ok: false }>;
  try {
    // The event is about this access: the same actor, patient and grant as its breakglass.granted event.
    await ctx.audit.record({
      type: 'breakglass.notify_failed',
      actor: { userId: access.userId, clientId: access.clientId },
      outcome: 'error',
      patient: `Patient/${access.patient}`,
      grantId: access.grantId,
      reason: failure.reason,
      details: { breakglass_id: access.id, attempts, ...(failure.status !== undefined ? { status: failure.status } : {}) },
    });
  } catch {
    logUnrecorded(ctx, failure.reason);
  }
}

async function attempt(url: string, body: string, signature: string, timeoutMs: number): Promise<AttemptResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [WEBHOOK_SIGNATURE_HEADER]: signature },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const name = (err as { name?: string }).name;
    return { ok: false, reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network' };
  }
  // The answer's body is not read; release the connection.
  await response.body?.cancel().catch(() => undefined);
  return response.status >= 200 && response.status < 300 ? { ok: true } : { ok: false, reason: `http_${response.status}`, status: response.status };
}

/** Last resort when the ledger cannot record the failure: a log line without any identifier. */
function logUnrecorded(ctx: AppContext, reason: string): void {
  try {
    opsOf(ctx).logger.log('error', 'break-glass webhook failed and the failure could not be audited', { component: 'breakglass', reason });
  } catch {
    // Nothing else is left to try; the access itself stays listed for review.
  }
}
