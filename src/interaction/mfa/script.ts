// The one script Caduceus serves: GET /static/webauthn.js, loaded only by the passkey pages (CSP
// `script-src 'self'`, no inline script). It runs the WebAuthn ceremony of each
// <form data-webauthn="register|authenticate" data-options="…"> when the form is submitted, puts
// the credential (JSON, base64url fields as in WebAuthn Level 3 toJSON()) in its hidden
// `credential` field and submits the form, so the server sees an ordinary form POST.
export const WEBAUTHN_SCRIPT = `'use strict';
(function () {
  function toBytes(text) {
    var b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = '';
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  function withIds(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }
  function creationOptions(o) {
    return Object.assign({}, o, {
      challenge: toBytes(o.challenge),
      user: Object.assign({}, o.user, { id: toBytes(o.user.id) }),
      excludeCredentials: withIds(o.excludeCredentials),
    });
  }
  function requestOptions(o) {
    return Object.assign({}, o, { challenge: toBytes(o.challenge), allowCredentials: withIds(o.allowCredentials) });
  }
  function credentialJson(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: response,
    };
  }
  function showError(form, text) {
    var el = form.querySelector('[data-webauthn-error]');
    if (el) { el.textContent = text; el.hidden = false; }
  }
  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    var button = form.querySelector('button');
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, 'This browser cannot use passkeys.');
      if (button) button.disabled = true;
      return;
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (button) button.disabled = true;
      var options = JSON.parse(form.dataset.options);
      var ceremony = form.dataset.webauthn === 'register'
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      ceremony.then(function (cred) {
        form.querySelector('input[name="credential"]').value = JSON.stringify(credentialJson(cred));
        form.submit();
      }).catch(function () {
        if (button) button.disabled = false;
        showError(form, 'The passkey did not answer, or the request was cancelled. Try again.');
      });
    });
    // Ready: the button was disabled in the page so that it cannot submit an empty form.
    if (button) button.disabled = false;
  });
})();
`;
