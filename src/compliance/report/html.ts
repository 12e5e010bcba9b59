// The printable HTML rendering of the evidence report: one self-contained page, no script, no
// external resources, every value escaped. The print stylesheet keeps tables and headings together
// and prints link targets.
import { sortFindings, summaryLine } from '../format.js';
import type { Evidence, Safeguard } from './evidence.js';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid #1b1f24; padding-bottom: .2rem; }
.safeguard { font-size: .85rem; color: #444; margin: .2rem 0 .8rem; }
.meta { color: #444; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #c8ccd0; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef0f2; }
td code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; word-break: break-all; }
.sev-error { color: #a40e26; font-weight: 600; }
.sev-warning { color: #8a5300; font-weight: 600; }
.sev-note { color: #3d4a57; }
.ok { color: #116329; font-weight: 600; }
.bad { color: #a40e26; font-weight: 600; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: .5rem; border: 1px solid #c8ccd0; font-size: .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, pre, tr { break-inside: avoid; page-break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a[href]::after { content: " (" attr(href) ")"; font-size: .8em; }
}
`;

const safeguardLine = (s: Safeguard[]) => `<p class="safeguard">Evidences: ${s.map((x) => `${escapeHtml(x.name)} (${escapeHtml(x.citation)})`).join('; ')}</p>`;
const list = (items: readonly string[]) => (items.length ? items.map((i) => `<code>${escapeHtml(i)}</code>`).join('<br>') : '<em>none</em>');
const table = (head: string[], rows: string[][]) =>
  `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
const kv = (rows: Array<[string, string]>) => table(['Setting', 'Value'], rows.map(([k, v]) => [escapeHtml(k), v]));

export function renderEvidenceHtml(e: Evidence): string {
  const s = e.sections;
  const rules = new Map(e.check.rules.map((r) => [r.id, r]));
  const findings = sortFindings(e.check);
  const l = s.ledger.ledger;
  const ledgerStatus = l.status === 'verified'
    ? `<span class="ok">verified</span>: ${l.size} events, ${l.checkpointsChecked ?? 0} checkpoints checked${l.signaturesChecked ? ' with signatures' : ' (signatures not checked)'}; events up to ${l.checkpointedSize ?? 0} are covered by a signed checkpoint`
    : l.status === 'failed'
      ? `<span class="bad">FAILED</span>: ${escapeHtml(l.failure?.code)} at event ${escapeHtml(l.failure?.firstBadSeq)}: ${escapeHtml(l.failure?.reason)}`
      : `<span class="bad">not verified</span>${l.reason ? `: ${escapeHtml(l.reason)}` : ''}`;
  const cert = s.transmission.certificate;
  const body = `
<h1>Caduceus compliance evidence</h1>
<p class="meta">Issuer <code>${escapeHtml(e.issuer)}</code> · configuration <code>${escapeHtml(e.target)}</code> · generated ${escapeHtml(e.generatedAt)} · Caduceus ${escapeHtml(e.version)}</p>

<h2 id="findings">1. Configuration findings</h2>
${safeguardLine(s.findings.safeguards)}
<p>${escapeHtml(summaryLine(e.check))} from ${e.check.rules.length} rules (catalogue: docs/compliance.md).</p>
${findings.length ? table(['Severity', 'Rule', 'Where', 'Finding', 'Fix', 'Citations'], findings.map((f) => [
    `<span class="sev-${f.severity}">${escapeHtml(f.severity)}</span>`, `<code>${escapeHtml(f.ruleId)}</code><br>${escapeHtml(rules.get(f.ruleId)?.title)}`,
    `<code>${escapeHtml(f.location)}</code>`, escapeHtml(f.message), escapeHtml(f.fix), escapeHtml(rules.get(f.ruleId)?.citations.join('; ')),
  ])) : '<p class="ok">No findings.</p>'}

<h2 id="ledger">2. Audit ledger</h2>
${safeguardLine(s.ledger.safeguards)}
${kv([
    ['Verification', ledgerStatus],
    ['Events', escapeHtml(l.size)],
    ['Root hash (whole log)', l.rootHash ? `<code>${escapeHtml(l.rootHash)}</code>` : '—'],
    ['Latest signed checkpoint', l.latestCheckpoint ? `size ${escapeHtml(l.latestCheckpoint.size)}, signed ${escapeHtml(l.latestCheckpoint.createdAt)}, root <code>${escapeHtml(l.latestCheckpoint.rootHash)}</code>` : '<span class="bad">none</span>'],
    ['Witness file', l.witnessFile ? `<code>${escapeHtml(l.witnessFile)}</code>` : '<span class="bad">not configured</span>'],
    ['Retention', `${escapeHtml(l.retentionYears)} years`],
  ])}
${l.latestCheckpoint ? `<p>Latest checkpoint note (C2SP signed note; verify with the ledger's verifier key):</p><pre>${escapeHtml(l.latestCheckpoint.note)}</pre>` : ''}

<h2 id="keys">3. Token signing key rotation history</h2>
${safeguardLine(s.keys.safeguards)}
${s.keys.keys.length ? table(['Key id', 'Algorithm', 'Created', 'Activated', 'Retired', 'Unpublished after', 'State'], s.keys.keys.map((k) => [
    `<code>${escapeHtml(k.kid)}</code>`, escapeHtml(k.alg), escapeHtml(k.created), escapeHtml(k.activated), escapeHtml(k.retired ?? '—'), escapeHtml(k.expires ?? '—'), escapeHtml(k.state),
  ])) : '<p>No signing keys.</p>'}

<h2 id="clients">4. Clients, scopes and redirect URIs</h2>
${safeguardLine(s.clients.safeguards)}
${s.clients.clients.length ? table(['Client', 'Source', 'Grants', 'Authentication', 'Scopes', 'Redirect URIs', 'Resources'], s.clients.clients.map((c) => [
    `<code>${escapeHtml(c.clientId)}</code><br>${escapeHtml(c.name)}`, escapeHtml(c.source), list(c.grantTypes), escapeHtml(c.authMethod), list(c.scopes), list(c.redirectUris), list(c.resources),
  ])) : '<p>No clients.</p>'}

<h2 id="consents">5. Consents and emergency access</h2>
${safeguardLine(s.consents.safeguards)}
<p>${escapeHtml(s.consents.stats.total)} consent records: ${escapeHtml(s.consents.stats.active)} active, ${escapeHtml(s.consents.stats.revoked)} revoked.</p>
${s.consents.stats.byClient.length ? table(['Client', 'Consents', 'Active', 'Revoked'], s.consents.stats.byClient.map((c) => [`<code>${escapeHtml(c.clientId)}</code>`, escapeHtml(c.total), escapeHtml(c.active), escapeHtml(c.revoked)])) : ''}
<p>${escapeHtml(s.consents.breakGlass)}</p>

<h2 id="logoff">6. Session and token lifetimes</h2>
${safeguardLine(s.sessions.safeguards)}
${kv([
    ['Login session idle timeout', `${escapeHtml(s.sessions.idleTimeout)} s (limit ${escapeHtml(s.sessions.idleTimeoutLimit)} s)`],
    ['Login session absolute timeout', `${escapeHtml(s.sessions.absoluteTimeout)} s`],
    ['Access token lifetime', `${escapeHtml(s.sessions.accessTokenTtl)} s`],
    ['Refresh token idle expiry', `${escapeHtml(s.sessions.refreshTokenIdleTtl)} s`],
    ['Refresh token absolute expiry', `${escapeHtml(s.sessions.refreshTokenAbsoluteTtl)} s`],
  ])}

<h2 id="authentication">7. Person and entity authentication</h2>
${safeguardLine(s.authentication.safeguards)}
${kv([
    ['Active users', escapeHtml(s.authentication.users.active)],
    ['Disabled users', escapeHtml(s.authentication.users.disabled)],
    ['Users linked to a Practitioner', escapeHtml(s.authentication.users.practitioners)],
    ['Multi-factor authentication', escapeHtml(s.authentication.mfa)],
    ['Client authentication methods', escapeHtml(Object.entries(s.authentication.clientAuthMethods).map(([m, n]) => `${m}: ${n}`).join(', ') || 'no clients')],
  ])}

<h2 id="transmission">8. Transmission security</h2>
${safeguardLine(s.transmission.safeguards)}
${kv([
    ['TLS', escapeHtml(s.transmission.tls === 'listener' ? 'terminated by Caduceus' : s.transmission.tls === 'proxy' ? 'terminated by a reverse proxy (not inspected; run caduceus probe)' : 'NONE')],
    ['Protocol versions', `${escapeHtml(s.transmission.minVersion)} and newer`],
    ['Cipher suites', list(s.transmission.ciphers)],
    ['HSTS max-age', escapeHtml(s.transmission.hstsMaxAge ?? '—')],
    ['Certificate', cert ? (cert.error ? `<span class="bad">${escapeHtml(cert.error)}</span>` : `${escapeHtml(cert.subject)}; ${escapeHtml(cert.keyType)} ${escapeHtml(cert.keyBits ?? '')} bits; valid ${escapeHtml(cert.validFrom ? new Date(cert.validFrom).toISOString() : '?')} to ${escapeHtml(cert.validTo ? new Date(cert.validTo).toISOString() : '?')}`) : '—'],
    ['Database connection', escapeHtml(s.transmission.database)],
  ])}
`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Caduceus compliance evidence — ${escapeHtml(e.issuer)}</title>
<style>${CSS}</style>
</head>
<body>${body}</body>
</html>
`;
}
