// Server-rendered pages: the page frame and the error page, which the interaction and demo pages
// build on. Escaped text only, one same-origin stylesheet, no inline script (the CSP forbids it),
// labelled controls. The passkey pages load one same-origin script file, /static/webauthn.js, and
// only they are served with `script-src 'self'` (src/interaction/mfa/routes.ts).

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Tagged template: interpolated values are escaped unless wrapped with raw(). */
export class Raw {
  constructor(readonly html: string) {}
}
export const raw = (html: string) => new Raw(html);

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.html : escapeHtml(x))).join('') : v instanceof Raw ? v.html : v === undefined || v === null || v === false ? '' : escapeHtml(v);
    out += part + strings[i + 1]!;
  });
  return new Raw(out);
}

export const WEBAUTHN_SCRIPT_PATH = '/static/webauthn.js';
/** Local times, copy and print buttons (src/interaction/page-script.ts). */
export const PAGE_SCRIPT_PATH = '/static/caduceus.js';

/**
 * A page. `webauthnScript` and `pageScript` load those same-origin script files: a route that
 * serves such a page must send the CSP that allows them (scriptPageOptions in
 * src/interaction/mfa/routes.ts). Without script every page still works; the page script only
 * adds local times and the copy and print buttons.
 */
export function page(title: string, body: Raw, options: { webauthnScript?: boolean; pageScript?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Caduceus</title>
<link rel="stylesheet" href="/static/caduceus.css">
${options.webauthnScript ? `<script src="${WEBAUTHN_SCRIPT_PATH}" defer></script>\n` : ''}${options.pageScript ? `<script src="${PAGE_SCRIPT_PATH}" defer></script>\n` : ''}</head>
<body>
<main class="card">
<p class="brand">Caduceus</p>
${body.html}
</main>
</body>
</html>`;
}

/**
 * A time as "2026-11-01 09:30 UTC" (or "2026-11-01" with precision day), with the exact instant in
 * the datetime attribute: the page script shows it in the browser's time zone, and without script
 * the UTC text stays.
 */
export function when(ms: number, precision: 'minute' | 'day' = 'minute'): Raw {
  const iso = new Date(ms).toISOString();
  return precision === 'day'
    ? html`<time datetime="${iso}" data-precision="day">${iso.slice(0, 10)}</time>`
    : html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 16)} UTC</time>`;
}

// Colours meet WCAG 2.1 AA: text 4.5:1; input borders and the focus ring 3:1 against the white card
// (SC 1.4.11 non-text contrast: #6b7785 is 4.6:1, #0b5cab 6.7:1).
export const STYLESHEET = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f8;color:#1b2430}
.card{max-width:30rem;margin:2rem auto;background:#fff;border-radius:12px;padding:1.5rem 1.5rem 2rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
@media (max-width:480px){.card{margin:0;border-radius:0;min-height:100vh}}
.brand{margin:0 0 .5rem;font-weight:700;color:#0b5cab;letter-spacing:.02em}
h1{font-size:1.4rem;margin:.25rem 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=password],input[type=date]{width:100%;padding:.7rem;border:1px solid #6b7785;border-radius:8px;font:inherit;font-size:1rem;background:#fff;color:inherit}
:focus-visible{outline:3px solid #0b5cab;outline-offset:2px}
input:focus,textarea:focus{outline:3px solid #0b5cab;outline-offset:2px}
[aria-invalid=true]{border:2px solid #a3231a}
.field-message .error{margin:.35rem 0 0;padding:.4rem .6rem;font-size:.95rem}
button{font-family:inherit;font-size:1rem;padding:.75rem 1.25rem;border-radius:8px;border:1px solid #0b5cab;cursor:pointer;min-height:44px}
.primary{background:#0b5cab;color:#fff}
.secondary{background:#fff;color:#0b5cab}
.actions{display:flex;gap:.75rem;margin-top:1.25rem;flex-wrap:wrap}
.actions button{flex:1 1 8rem}
.error{background:#fdecea;border:1px solid #f5c2bd;color:#8a1c12;padding:.75rem;border-radius:8px}
.notice{background:#eef5fc;border:1px solid #c4dbf3;padding:.75rem;border-radius:8px}
ul.scopes{list-style:none;padding:0;margin:0}
ul.scopes li{border:1px solid #dde3ea;border-radius:8px;padding:.6rem .75rem;margin:.5rem 0}
ul.scopes label{display:flex;gap:.6rem;align-items:flex-start;font-weight:400;margin:0}
ul.scopes input{margin-top:.3rem;width:1.2rem;height:1.2rem;flex:none}
.scope-name{font-family:ui-monospace,monospace;font-size:.85rem;color:#4a5868}
table{width:100%;border-collapse:collapse;font-size:.9rem}
td,th{text-align:left;padding:.4rem;border-bottom:1px solid #dde3ea;vertical-align:top}
.muted{color:#4a5868;font-size:.9rem}
[hidden]{display:none!important}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
a{color:#0b5cab}
a.button{display:inline-flex;align-items:center;justify-content:center;text-decoration:none;font-size:1rem;padding:.75rem 1.25rem;border-radius:8px;border:1px solid #0b5cab;min-height:44px;flex:1 1 8rem;text-align:center}
a.button.primary{background:#0b5cab;color:#fff}
a.button.secondary{background:#fff;color:#0b5cab}
.code-input{font-family:ui-monospace,monospace;font-size:1.25rem;letter-spacing:.15em}
.qr{display:block;width:200px;height:200px;margin:.75rem auto;image-rendering:pixelated}
.secret{display:block;font-family:ui-monospace,monospace;font-size:1rem;word-spacing:.3em;background:#f3f5f8;border-radius:8px;padding:.6rem .75rem;margin:.25rem 0;overflow-wrap:anywhere}
ol.steps{padding-left:1.25rem;margin:.25rem 0}
ol.codes{list-style:none;padding:0;margin:1rem 0;display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.5rem}
ol.codes li{font-family:ui-monospace,monospace;font-size:1.05rem;background:#f3f5f8;border-radius:8px;padding:.5rem;text-align:center}
details{margin-top:1.5rem;border-top:1px solid #dde3ea;padding-top:1rem}
fieldset.picker{border:1px solid #dde3ea;border-radius:8px;padding:.5rem .75rem;margin:.75rem 0}
fieldset.picker legend{font-weight:600;padding:0 .25rem}
label.choice{display:flex;gap:.6rem;align-items:center;font-weight:400;min-height:44px;margin:0;border-bottom:1px solid #eef1f4}
label.choice:last-child{border-bottom:0}
label.choice input{width:1.2rem;height:1.2rem;margin:0;flex:none}
p.choice{margin:0;padding:.5rem 0;border-bottom:1px solid #eef1f4}
fieldset.find{border:0;padding:0;margin:1rem 0 0}
fieldset.find legend{font-weight:700;padding:0}
textarea{width:100%;box-sizing:border-box;font:inherit;padding:.6rem;border:1px solid #6b7785;border-radius:8px}
.patient-context{background:#f3f5f8;border-radius:8px;padding:.6rem .75rem}
.agent-notice{border:2px solid #8a4b00;background:#fff8ec;border-radius:8px;padding:.6rem .75rem;margin:.75rem 0}
summary{cursor:pointer;color:#0b5cab;font-weight:600;min-height:44px;display:flex;align-items:center;gap:.6rem;list-style:none}
summary::-webkit-details-marker{display:none}
summary::before{content:"";flex:none;width:.5rem;height:.5rem;border-right:2px solid currentColor;border-bottom:2px solid currentColor;transform:rotate(-45deg);margin:0 .15rem}
details[open]>summary::before{transform:rotate(45deg)}
details.break-glass>summary{color:#a3231a;border:1px solid #a3231a;border-radius:8px;padding:.6rem .9rem;background:#fff}
details.break-glass[open]>summary{margin-bottom:.75rem}
ul.factors{list-style:none;padding:0;margin:0}
ul.factors li{border:1px solid #dde3ea;border-radius:8px;padding:.6rem .75rem;margin:.5rem 0}
.divider{display:flex;align-items:center;gap:.75rem;color:#4a5868;margin:1.5rem 0 .5rem}
.divider::before,.divider::after{content:"";flex:1;border-top:1px solid #dde3ea}
.danger{background:#fff;color:#a3231a;border-color:#a3231a}
ul.apps,ul.revoked{list-style:none;padding:0;margin:0}
li.app{border:1px solid #dde3ea;border-radius:10px;padding:.75rem 1rem 1rem;margin:.75rem 0}
li.app h3{margin:0 0 .5rem;font-size:1.05rem;overflow-wrap:anywhere}
li.app.emergency{border:2px solid #a3231a}
.emergency-badge{display:inline-block;font-size:.8rem;font-weight:700;color:#fff;background:#a3231a;border-radius:4px;padding:.1rem .45rem;vertical-align:.1em}
dl.facts{display:grid;grid-template-columns:auto minmax(0,1fr);gap:.25rem .75rem;margin:0 0 .75rem;font-size:.95rem}
dl.facts dt{font-weight:600;color:#4a5868}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.facts-label{font-weight:600;color:#4a5868;font-size:.95rem;margin:.5rem 0 0}
li.app ul.scopes li{font-size:.95rem;margin:.5rem 0;padding:.1rem 0 .1rem .75rem;border:0;border-left:3px solid #c4dbf3;border-radius:0}
li.app .actions{margin-top:.75rem}
ul.revoked li{padding:.5rem 0;border-bottom:1px solid #dde3ea;overflow-wrap:anywhere}
ul.factors .actions{margin-top:.5rem}
.print-only{display:none}
@media print{
body{background:#fff;color:#000}
.card{box-shadow:none;margin:0;max-width:none;padding:0}
.actions,form,.no-print{display:none!important}
.print-only{display:block}
ol.codes li{background:#fff;border:1px solid #000}
}
`;

/** The error page of browser flows: the authorization endpoint, the interaction pages, the error handler. */
export function errorPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p class="error" role="alert">${message}</p>
<p class="muted">Close this window and start again from the application.</p>`);
}
