// The two-step verification pages: the second step at sign-in, enrolment (authenticator app by QR
// code, or a passkey), the one-time display of recovery codes, and the account's security page.
// Passkey forms carry their WebAuthn options in a data attribute and are driven by
// /static/webauthn.js, which enables their button once it is ready (without script a passkey
// cannot be used, so the button stays disabled); everything else works without script.
import { html, page, when, type Raw } from '../../http/html.js';
import type { MfaFactorRecord } from '../../storage/types.js';

/** The error under a field, named by the field's aria-describedby. */
function fieldError(id: string, message: string | undefined): Raw | '' {
  return message ? html`<div class="field-message" id="${id}"><p class="error" role="alert">${message}</p></div>` : '';
}

function codeField(id: string, label: string, error?: string): Raw {
  return html`<label for="${id}">${label}</label>
<input type="text" id="${id}" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required${error ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''}>
${fieldError(`${id}-error`, error)}`;
}

function passkeyForm(input: { action: string; csrf: string; mode: 'register' | 'authenticate'; options: string; label: string; primary?: boolean }): Raw {
  return html`<form method="post" action="${input.action}" data-webauthn="${input.mode}" data-options="${input.options}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="credential" value="">
<p class="error" role="alert" data-webauthn-error hidden></p>
<div class="actions"><button type="submit" class="${input.primary ? 'primary' : 'secondary'}" disabled>${input.label}</button></div>
</form>`;
}

export function secondFactorPage(input: { csrf: string; hasTotp: boolean; passkeyOptions?: string; error?: string }): string {
  const passkey = input.passkeyOptions !== undefined;
  return page('Two-step verification', html`
<h1>Two-step verification</h1>
<p class="muted">Your password was right. Now confirm it is you with your second step.</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.hasTotp ? html`<form method="post" action="/login/mfa/totp">
<input type="hidden" name="csrf" value="${input.csrf}">
${codeField('code', '6-digit code from your authenticator app')}
<div class="actions"><button type="submit" class="primary">Verify</button></div>
</form>` : ''}
${passkey && input.hasTotp ? html`<p class="divider">or</p>` : ''}
${passkey ? passkeyForm({ action: '/login/mfa/passkey', csrf: input.csrf, mode: 'authenticate', options: input.passkeyOptions!, label: 'Use your passkey', primary: !input.hasTotp }) : ''}
<details>
<summary>Lost your device? Use a recovery code</summary>
<form method="post" action="/login/mfa/recovery">
<input type="hidden" name="csrf" value="${input.csrf}">
<label for="recovery-code">Recovery code</label>
<input type="text" id="recovery-code" name="code" class="code-input" autocomplete="off" autocapitalize="characters" spellcheck="false" required>
<div class="actions"><button type="submit" class="secondary">Use recovery code</button></div>
</form>
</details>`, { webauthnScript: passkey });
}

export interface EnrolPageInput {
  csrf: string;
  /** Sign-in enrolment (the role requires a second step) or from the account page. */
  required: boolean;
  qrDataUrl: string;
  /** The TOTP secret in groups of four, for typing in by hand. */
  secretText: string;
  totpAction: string;
  passkeyAction?: string;
  passkeyOptions?: string;
  error?: string;
  backHref?: string;
}

export function enrolPage(input: EnrolPageInput): string {
  const passkey = input.passkeyAction !== undefined && input.passkeyOptions !== undefined;
  return page('Set up two-step verification', html`
<h1>Set up two-step verification</h1>
<p>${input.required
    ? 'Your account needs a second step at sign-in, as well as your password. Set one up now to continue.'
    : 'Add a second step to your sign-in, as well as your password.'}</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<h2>Authenticator app</h2>
<ol class="steps">
<li>Open an authenticator app on your phone.</li>
<li>Scan this QR code, or type in the key below it.</li>
<li>Enter the 6-digit code the app shows.</li>
</ol>
<img class="qr" src="${input.qrDataUrl}" alt="QR code that adds this account to an authenticator app" width="200" height="200">
<p class="muted">Key for typing in:</p>
<code class="secret" id="totp-secret">${input.secretText}</code>
<form method="post" action="${input.totpAction}">
<input type="hidden" name="csrf" value="${input.csrf}">
${codeField('code', '6-digit code')}
<div class="actions"><button type="submit" class="primary">Verify and continue</button></div>
</form>
${passkey ? html`<h2>Or a passkey</h2>
<p class="muted">Use a passkey on this device, or a security key.</p>
${passkeyForm({ action: input.passkeyAction!, csrf: input.csrf, mode: 'register', options: input.passkeyOptions!, label: 'Set up a passkey' })}` : ''}
${input.backHref ? html`<p><a href="${input.backHref}">Cancel</a></p>` : ''}`, { webauthnScript: passkey });
}

/**
 * The one showing of new recovery codes, with Copy and Print buttons (the page script reveals
 * them where they work; the print layout keeps only the codes and what they are for).
 */
export function recoveryCodesPage(input: { codes: string[]; continueHref: string; createdAt?: number }): string {
  const items = input.codes.map((c) => html`<li>${c}</li>`);
  return page('Save your recovery codes', html`
<h1>Save your recovery codes</h1>
<p>If you lose your phone or passkey, each code lets you sign in once. Keep them somewhere safe, such as a password manager or a printed copy.</p>
<p class="notice no-print" role="status"><strong>This is the only time they are shown.</strong></p>
${input.createdAt !== undefined ? html`<p class="print-only">Caduceus recovery codes, created ${when(input.createdAt, 'day')}. Each code works once.</p>` : ''}
<ol class="codes" id="recovery-codes" aria-label="Recovery codes">${items}</ol>
<div class="actions">
<button type="button" class="secondary" data-copy="recovery-codes" data-status="codes-status" hidden>Copy codes</button>
<button type="button" class="secondary" data-print hidden>Print codes</button>
</div>
<p class="muted no-print" id="codes-status" role="status"></p>
<div class="actions"><a class="button primary" href="${input.continueHref}">I have saved them, continue</a></div>`, { pageScript: true });
}

const FACTOR_NAMES: Record<MfaFactorRecord['kind'], string> = { totp: 'authenticator app', webauthn: 'passkey' };

/** "the authenticator app" / "the passkey": how the pages name a factor in a sentence. */
export const factorName = (factor: Pick<MfaFactorRecord, 'kind'>) => `the ${FACTOR_NAMES[factor.kind]}`;

export function securityPage(input: {
  csrf: string; factors: MfaFactorRecord[]; unusedRecoveryCodes: number; passkeyOptions: string; required: boolean; notice?: string; error?: string;
}): string {
  const items = input.factors.map((f) => html`<li><strong>${f.label}</strong><br>
<span class="muted">Added ${when(f.createdAt, 'day')}${f.lastUsedAt !== null ? html`, last used ${when(f.lastUsedAt, 'day')}` : ''}</span>
<div class="actions"><a class="button secondary" href="/account/security/factors/${f.id}/remove" aria-label="Remove ${factorName(f)} added ${new Date(f.createdAt).toISOString().slice(0, 10)}">Remove</a></div></li>`);
  const hasTotp = input.factors.some((f) => f.kind === 'totp');
  return page('Sign-in security', html`
<h1>Sign-in security</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<h2>Second steps</h2>
${input.factors.length ? html`<ul class="factors">${items}</ul>`
    : html`<p>${input.required ? 'Your account needs a second step: you will set one up at your next sign-in.' : 'You sign in with your password only.'}</p>`}
${hasTotp ? '' : html`<div class="actions"><a class="button secondary" href="/account/security/totp">Set up an authenticator app</a></div>`}
${passkeyForm({ action: '/account/security/passkey', csrf: input.csrf, mode: 'register', options: input.passkeyOptions, label: 'Add a passkey' })}
${input.factors.length ? html`<h2>Recovery codes</h2>
<p class="muted">Recovery codes left: ${input.unusedRecoveryCodes}</p>
<div class="actions"><a class="button secondary" href="/account/security/recovery-codes/new">Create new recovery codes</a></div>` : ''}
<p><a href="/account">Back to your connected apps</a></p>`, { webauthnScript: true, pageScript: true });
}

export interface StepUpPageInput {
  title: string;
  /** What will happen, said before the user confirms. */
  intro: string;
  action: string;
  csrf: string;
  submitLabel: string;
  /** Confirmation by authenticator-app code is offered. */
  hasTotp: boolean;
  /** WebAuthn request options (JSON) when the user has a passkey. */
  passkeyOptions?: string;
  /** Errors next to their field: the app code, the recovery code, the passkey. */
  errors?: { code?: string; recovery?: string; passkey?: string };
  /** Why nothing can be confirmed here (e.g. the last required factor): no forms are shown. */
  blocked?: string;
}

/**
 * Confirms a change to the second steps with a second step (re-authentication before a security
 * change, OWASP ASVS 4.0 V3.7.1): an authenticator-app code, a passkey, or a recovery code.
 */
export function stepUpPage(input: StepUpPageInput): string {
  const errors = input.errors ?? {};
  const passkey = input.passkeyOptions !== undefined && !input.blocked;
  return page(input.title, html`
<h1>${input.title}</h1>
<p>${input.intro}</p>
${input.blocked ? html`<p class="error" role="alert">${input.blocked}</p>` : html`<p class="muted">To make sure it is you, confirm with your second step.</p>
${input.hasTotp ? html`<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="method" value="otp">
${codeField('code', '6-digit code from your authenticator app', errors.code)}
<div class="actions"><button type="submit" class="danger">${input.submitLabel}</button></div>
</form>` : ''}
${passkey ? html`${input.hasTotp ? html`<p class="divider">or</p>` : ''}
${fieldError('passkey-error', errors.passkey)}
<form method="post" action="${input.action}" data-webauthn="authenticate" data-options="${input.passkeyOptions!}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="method" value="hwk">
<input type="hidden" name="credential" value="">
<p class="error" role="alert" data-webauthn-error hidden></p>
<div class="actions"><button type="submit" class="danger" disabled>Confirm with your passkey</button></div>
</form>` : ''}
<details${errors.recovery ? html` open` : ''}>
<summary>Use a recovery code instead</summary>
<form method="post" action="${input.action}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="method" value="recovery">
<label for="recovery-code">Recovery code</label>
<input type="text" id="recovery-code" name="code" class="code-input" autocomplete="off" autocapitalize="characters" spellcheck="false" required${errors.recovery ? html` aria-invalid="true" aria-describedby="recovery-code-error"` : ''}>
${fieldError('recovery-code-error', errors.recovery)}
<div class="actions"><button type="submit" class="danger">${input.submitLabel} with this code</button></div>
</form>
</details>`}
<p><a href="/account/security">Cancel</a></p>`, { webauthnScript: passkey });
}
