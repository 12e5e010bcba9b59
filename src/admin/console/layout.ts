// The console's page frame: the same escaping, stylesheet and CSP as the other pages (no script),
// plus a wider frame for tables and the section navigation. Every page is rendered on the server
// and works without JavaScript.
import { escapeHtml, html, raw, type Raw } from '../../http/html.js';

export const ADMIN_STYLESHEET_PATH = '/static/admin.css';

/** The console's sections, in navigation order: [path under /admin, label]. */
export const SECTIONS: readonly (readonly [string, string])[] = [
  ['', 'Overview'],
  ['/clients', 'Clients'],
  ['/agents', 'AI agents'],
  ['/users', 'Users'],
  ['/grants', 'Grants'],
  ['/audit', 'Audit'],
  ['/breakglass', 'Emergency access'],
  ['/report', 'Evidence report'],
];

export interface AdminPageInput {
  title: string;
  /** The signed-in administrator's username; absent on the sign-in pages. */
  username?: string;
  /** The CSRF token of the session, for the sign-out form. */
  csrf?: string;
  /** The section path (as in SECTIONS) to mark as current. */
  section?: string;
  /** A notice at the top (role="status"), e.g. the result of the last action. */
  notice?: string;
  /** Reloads the page after this many seconds (a job's progress, when the administrator asked for it). */
  refreshSeconds?: number;
  body: Raw;
}

export function adminPage(input: AdminPageInput): string {
  const nav = input.username === undefined ? '' : html`<nav aria-label="Console sections"><ul>${SECTIONS.map(([path, label]) => html`<li><a href="/admin${path}"${raw(path === input.section ? ' aria-current="page"' : '')}>${label}</a></li>`)}</ul>
<form method="post" action="/admin/logout" class="signout"><input type="hidden" name="csrf" value="${input.csrf ?? ''}"><span class="muted">Signed in as ${input.username}</span> <button type="submit" class="secondary">Sign out</button></form></nav>`.html;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} · Caduceus admin</title>
${input.refreshSeconds === undefined ? '' : `<meta http-equiv="refresh" content="${Math.max(1, Math.floor(input.refreshSeconds))}">\n`}<link rel="stylesheet" href="/static/caduceus.css">
<link rel="stylesheet" href="${ADMIN_STYLESHEET_PATH}">
</head>
<body class="admin">
<header><p class="brand">Caduceus admin</p>${nav}</header>
<main id="main">
<h1>${escapeHtml(input.title)}</h1>
${input.notice ? `<p class="notice" role="status">${escapeHtml(input.notice)}</p>` : ''}
${input.body.html}
</main>
</body>
</html>`;
}

/** A form's CSRF field. */
export function csrfField(csrf: string): Raw {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

/** Console additions to /static/caduceus.css: a wide frame, navigation, tables, badges. Contrast per WCAG 2.1 AA. */
export const ADMIN_STYLESHEET = `
body.admin{background:#f3f5f8}
body.admin header{background:#fff;border-bottom:1px solid #c9d1da;padding:.5rem 1.5rem}
body.admin header .brand{margin:.25rem 0}
body.admin nav{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5rem}
body.admin nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:0;padding:0}
body.admin nav a{display:inline-block;padding:.4rem .2rem;text-decoration:none}
body.admin nav a[aria-current=page]{font-weight:700;text-decoration:underline;text-underline-offset:.3em}
body.admin nav .signout{display:flex;align-items:center;gap:.5rem;margin:0}
body.admin nav .signout button{padding:.4rem .8rem;min-height:36px}
body.admin main{max-width:72rem;margin:1.5rem auto;background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
body.admin table{margin:.5rem 0 1rem}
body.admin th{background:#f3f5f8}
body.admin form.inline{display:inline}
body.admin .filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end}
body.admin .filters label{margin:0}
body.admin input[type=text],body.admin input[type=password],body.admin input[type=search],body.admin input[type=date],body.admin input[type=datetime-local],body.admin select,body.admin textarea{padding:.5rem;border:1px solid #6b7785;border-radius:6px;font-size:1rem;font-family:inherit;max-width:100%}
body.admin textarea{width:100%;min-height:4rem}
body.admin button{padding:.5rem 1rem;min-height:40px}
body.admin .danger{background:#fff;color:#a3200f;border-color:#a3200f}
body.admin .badge{display:inline-block;border-radius:999px;padding:0 .6rem;font-size:.85rem;border:1px solid #6b7785}
body.admin .badge.ok{background:#e6f4ea;border-color:#1e6b34;color:#1e4d2b}
body.admin .badge.warn{background:#fff4e5;border-color:#8a5300;color:#5c3800}
body.admin .badge.bad{background:#fdecea;border-color:#a3200f;color:#7a1a0e}
body.admin .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}
body.admin .grid section{border:1px solid #c9d1da;border-radius:8px;padding:.75rem 1rem}
body.admin .grid h2{margin-top:0}
body.admin code,body.admin .mono{font-family:ui-monospace,monospace;font-size:.85rem;overflow-wrap:anywhere}
body.admin .pager{display:flex;gap:1rem;margin:.5rem 0}
body.admin .nowrap{white-space:nowrap;overflow-wrap:normal}
@media print{body.admin header,body.admin .filters,body.admin .pager,body.admin form{display:none}body.admin main{box-shadow:none;margin:0;max-width:none}}
body.admin form.compact .actions{margin-top:.5rem}body.admin form.compact .actions button{flex:0 0 auto}
body.admin .filters .filter{display:flex;flex-direction:column}body.admin .table-wrap{overflow-x:auto}body.admin td.reason{max-width:24rem}body.admin .evidence pre{white-space:pre-wrap;overflow-wrap:anywhere}body.admin .evidence .ok{color:#116329;font-weight:600}body.admin .evidence .bad,body.admin .evidence .sev-error{color:#a40e26;font-weight:600}body.admin .evidence .sev-warning{color:#8a5300;font-weight:600}body.admin .evidence .safeguard,body.admin .evidence .meta{color:#4a5868;font-size:.9rem}@media print{body.admin .downloads{display:none}}
`;
