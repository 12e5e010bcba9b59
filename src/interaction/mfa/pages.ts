// The two-step verification pages: the second step at sign-in, enrolment (authenticator app by QR
// code, or a passkey), the one-time display of recovery codes, and the account's security page.
// Passkey forms carry their WebAuthn options in a data attribute and are driven by
// /static/webauthn.js, which enables their button once it is ready (without script a passkey
// cannot be used, so the button stays disabled); everything else works without script.
import { html, page, type Raw } from '../../http/html.js';
import type { MfaFactorRecord } from '../../storage/types.js';

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function codeField(id: string, label: string): Raw {
  return html`<label for="${id}">${label}</label>
<input type="text" id="${id}" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required>`;
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

export function recoveryCodesPage(input: { codes: string[]; continueHref: string }): string {
  const items = input.codes.map((c) => html`<li>${c}</li>`);
  return page('Save your recovery codes', html`
<h1>Save your recovery codes</h1>
<p>If you lose your phone or passkey, each code lets you sign in once. Keep them somewhere safe, such as a password manager.</p>
<p class="notice" role="status"><strong>This is the only time they are shown.</strong></p>
<ol class="codes" aria-label="Recovery codes">${items}</ol>
<div class="actions"><a class="button primary" href="${input.continueHref}">I have saved them, continue</a></div>`);
}

export function securityPage(input: {
  csrf: string; factors: MfaFactorRecord[]; unusedRecoveryCodes: number; passkeyOptions: string; required: boolean; notice?: string; error?: string;
}): string {
  const items = input.factors.map((f) => html`<li><strong>${f.label}</strong><br>
<span class="muted">Added ${day(f.createdAt)}${f.lastUsedAt !== null ? `, last used ${day(f.lastUsedAt)}` : ''}</span></li>`);
  return page('Sign-in security', html`
<h1>Sign-in security</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<h2>Second steps</h2>
${input.factors.length ? html`<ul class="factors">${items}</ul>`
    : html`<p>${input.required ? 'Your account needs a second step: you will set one up at your next sign-in.' : 'You sign in with your password only.'}</p>`}
<p class="muted">Recovery codes left: ${input.unusedRecoveryCodes}</p>
<div class="actions"><a class="button secondary" href="/account/security/totp">Set up an authenticator app</a></div>
${passkeyForm({ action: '/account/security/passkey', csrf: input.csrf, mode: 'register', options: input.passkeyOptions, label: 'Add a passkey' })}
${input.factors.length ? html`<form method="post" action="/account/security/recovery-codes">
<input type="hidden" name="csrf" value="${input.csrf}">
<div class="actions"><button type="submit" class="secondary">Create new recovery codes</button></div>
</form>` : ''}
<p><a href="/account">Back to your connected apps</a></p>`, { webauthnScript: true });
}
