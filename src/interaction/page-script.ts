// GET /static/caduceus.js: the small same-origin script of the account and recovery-code pages (CSP
// `script-src 'self'`, never inline script; those routes use scriptPageOptions). Progressive
// enhancement only, every page works without it:
// - <time datetime="…"> elements (UTC text in the page) are shown in the browser's time zone, with
//   the UTC text kept as their title;
// - <button data-copy="ID" hidden> copies the items of element ID to the clipboard and says so in
//   the live region named by data-status;
// - <button data-print hidden> opens the print dialog (the stylesheet has a print layout).
// The buttons stay hidden where they cannot work (no script, no clipboard).
import type { FastifyInstance } from 'fastify';
import { PAGE_SCRIPT_PATH } from '../http/html.js';

export const PAGE_SCRIPT = `'use strict';
(function () {
  var full = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' };
  var day = { year: 'numeric', month: 'short', day: 'numeric' };
  document.querySelectorAll('time[datetime]').forEach(function (el) {
    var instant = new Date(el.getAttribute('datetime'));
    if (isNaN(instant.getTime())) return;
    try {
      var text = new Intl.DateTimeFormat(undefined, el.getAttribute('data-precision') === 'day' ? day : full).format(instant);
      el.title = el.textContent;
      el.textContent = text;
    } catch (e) { /* the UTC text stays */ }
  });
  function say(button, text) {
    var status = document.getElementById(button.getAttribute('data-status') || '');
    if (status) status.textContent = text;
  }
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source || !navigator.clipboard || !window.isSecureContext) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var items = source.querySelectorAll('li');
      var text = items.length
        ? Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join('\\n')
        : source.textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        say(button, 'Copied to the clipboard.');
      }, function () {
        say(button, 'Copying did not work here: select the codes and copy them by hand.');
      });
    });
  });
  document.querySelectorAll('button[data-print]').forEach(function (button) {
    if (typeof window.print !== 'function') return;
    button.hidden = false;
    button.addEventListener('click', function () { window.print(); });
  });
})();
`;

export function registerPageScript(app: FastifyInstance): void {
  app.get(PAGE_SCRIPT_PATH, async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8');
    return PAGE_SCRIPT;
  });
}
