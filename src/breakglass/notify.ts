// Real-time notification of an emergency access (break-glass, 45 CFR 164.312(a)(2)(ii);
// docs/SECURITY.md "Break-glass"): when `breakglass.webhook_url` is set, every access is POSTed
// there as it is granted, so a privacy officer learns of it at once instead of at the next review.
//
// The body holds identifiers only (the access id, the user's opaque id, the client id, the patient
// reference, times and the issuer): never the practitioner's stated reason, names or any PHI. It is
// signed with HMAC-SHA-256 under a key derived from the master key (HKDF label
// "breakglass-webhook"; `caduceus breakglass webhook-key` prints it for the receiver):
//
//   x-caduceus-signature: sha256=<hex HMAC-SHA-256 of the exact body bytes>
//
// Delivery never blocks or fails the emergency access, and it survives failures and restarts.
// Each delivery round makes up to two attempts (5 s timeout each); the first round runs as the
// access is granted. Whether the notification was delivered, and when the next round is due, is
// stored with the access (migration 8), so every server process retries undelivered ones
// (scheduleRedelivery: backoff from 1 minute doubling to 1 hour) for REDELIVERY_WINDOW_MS; a
// compare-and-set on the round count lets exactly one of many instances take each round. The
// ledger records the first failed round and the last one ('breakglass.notify_failed', reason
// http_<status>, 'timeout' or 'network'; details.final when retries stop), and a delivery that
// succeeds after a failure ('breakglass.notified'); if even that cannot be recorded, one log line
// without identifiers says so.
//
// Deliberately not done: redirects are not followed (the signed body would go to another place).
// The receiver may see a notification twice (a round whose answer was lost is repeated): the
// body's id is the access id, for deduplication.
import { createHmac } from 'node:crypto';
import type { MasterKey } from '../crypto/master-key.js';
import type { Logger } from '../ops/logging.js';
import { schedulePeriodic, type PeriodicTask } from '../ops/periodic.js';
import type { AppContext } from '../context/app-context.js';
import type { BreakGlassAccessRecord } from '../storage/types.js';
import type { AuditEventInput } from '../audit/events.js';

export const WEBHOOK_SIGNATURE_HEADER = 'x-caduceus-signature';
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** Attempts per delivery round: the first and one retry. */
const ATTEMPTS = 2;
/** How long a round holds an access before another instance may take the next one (> ATTEMPTS × timeout). */
export const DELIVERY_LEASE_MS = 2 * 60_000;
/** Undelivered notifications are retried this long after the access. */
export const REDELIVERY_WINDOW_MS = 7 * 24 * 60 * 60_000;
/** The redelivery pass runs this often in every server process. */
export const REDELIVERY_INTERVAL_MS = 60_000;
const FIRST_RETRY_MS = 60_000;
const MAX_RETRY_MS = 60 * 60_000;

/** When the round after failed round `round` (1-based) is due, from the failure. */
export function retryDelay(round: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, round - 1), MAX_RETRY_MS);
}

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
 * Runs the first delivery round of the webhook for a new emergency access, if one is configured.
 * Never rejects; resolves once the round delivered it, or failed and the failure was recorded and
 * the next round planned (tests await it).
 */
export function notifyBreakGlass(ctx: AppContext, access: BreakGlassAccessRecord, options: NotifyOptions = {}): Promise<void> {
  return deliverRound(ctx, access, 0, options).then(() => undefined, () => {
    // Unreachable by construction (deliverRound catches everything); kept so the promise never rejects.
    logUnrecorded(ctx, 'internal');
  });
}

/**
 * One redelivery pass: every undelivered access of the last REDELIVERY_WINDOW_MS whose next round
 * is due (an access without any round yet, e.g. when the process stopped right after granting
 * it, is due a lease after its creation). Resolves how many rounds this process ran.
 */
export async function redeliverDue(ctx: AppContext, options: NotifyOptions = {}): Promise<number> {
  if (ctx.config.breakglass.webhook_url === undefined) return 0;
  const now = ctx.now();
  const due = await ctx.storage.breakGlass.dueDeliveries(now, now - REDELIVERY_WINDOW_MS, DELIVERY_LEASE_MS, 20);
  let ran = 0;
  for (const { access, rounds } of due) {
    if (await deliverRound(ctx, access, rounds, options)) ran += 1;
  }
  return ran;
}

/** Runs redeliverDue in the background of a server process, when a webhook is configured. */
export function scheduleRedelivery(ctx: AppContext, logger: Logger, options: NotifyOptions & { intervalMs?: number; firstMs?: number } = {}): PeriodicTask | undefined {
  if (ctx.config.breakglass.webhook_url === undefined) return undefined;
  const interval = options.intervalMs ?? REDELIVERY_INTERVAL_MS;
  return schedulePeriodic(async () => {
    try {
      await redeliverDue(ctx, options);
    } catch (err) {
      logger.log('error', 'break-glass webhook redelivery failed', { component: 'breakglass', error: (err as Error).name });
    }
  }, { firstMs: options.firstMs ?? interval, intervalMs: interval });
}

/** Takes round `rounds + 1` and runs it; resolves false when another caller had taken it. */
async function deliverRound(ctx: AppContext, access: BreakGlassAccessRecord, rounds: number, options: NotifyOptions): Promise<boolean> {
  const url = ctx.config.breakglass.webhook_url;
  if (url === undefined) return false;
  const store = ctx.storage.breakGlass;
  if (!(await store.claimDelivery(access.id, rounds, ctx.now() + DELIVERY_LEASE_MS))) return false;
  const round = rounds + 1;
  let result: AttemptResult = { ok: false, reason: 'network' };
  let attempts = 0;
  try {
    const body = JSON.stringify(webhookPayload(ctx.config.issuer, access));
    const signature = signWebhookBody(webhookKey(ctx.masterKey), body);
    while (attempts < ATTEMPTS) {
      attempts += 1;
      result = await attempt(url, body, signature, options.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
      if (result.ok) break;
    }
  } catch {
    result = { ok: false, reason: 'internal' };
  }
  const about = { actor: { userId: access.userId, clientId: access.clientId }, patient: `Patient/${access.patient}`, grantId: access.grantId };
  if (result.ok) {
    await store.markDelivered(access.id, ctx.now());
    // After a failed round the ledger says it was delivered in the end.
    if (round > 1) await recordOrLog(ctx, { type: 'breakglass.notified', ...about, outcome: 'success', details: { breakglass_id: access.id, rounds: round } }, 'delivered');
    return true;
  }
  const failure = result as Extract<AttemptResult, { ok: false }>;
  const nextAt = ctx.now() + retryDelay(round);
  const final = nextAt >= access.createdAt + REDELIVERY_WINDOW_MS;
  // A final round leaves the access with no round due: retries have stopped.
  await store.deferDelivery(access.id, final ? Number.MAX_SAFE_INTEGER : nextAt);
  if (round === 1 || final) {
    await recordOrLog(ctx, {
      type: 'breakglass.notify_failed', ...about, outcome: 'error', reason: failure.reason,
      details: { breakglass_id: access.id, attempts, round, final, ...(failure.status !== undefined ? { status: failure.status } : {}), ...(final ? {} : { next_round_at: nextAt }) },
    }, failure.reason);
  }
  return true;
}

async function recordOrLog(ctx: AppContext, event: AuditEventInput, reason: string): Promise<void> {
  try {
    await ctx.audit.record(event);
  } catch {
    logUnrecorded(ctx, reason);
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

/** Last resort when the ledger cannot record the outcome: a log line without any identifier. */
function logUnrecorded(ctx: AppContext, reason: string): void {
  try {
    ctx.ops.logger.log('error', 'break-glass webhook failed and the failure could not be audited', { component: 'breakglass', reason });
  } catch {
    // Nothing else is left to try; the access itself stays listed for review.
  }
}
