/* The BankID page (templates/signing/bankid.html): asks the server once a second how the order
   stands. While it is pending the answer carries the next animated QR code (made on the server
   from the order's secret, which never reaches the page) and the hint; when the order is over it
   says where to go. Without this script the page reloads itself every two seconds instead. */
(function () {
  'use strict';
  var box = document.querySelector('[data-bankid-status]');
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute('data-bankid-status');
  var qr = box.querySelector('[data-bankid-qr]');
  var hint = box.querySelector('[data-bankid-hint]');
  var failures = 0;

  function show(state) {
    if (state.next) {
      window.location.assign(state.next);
      return false;
    }
    if (state.qr && qr) {
      qr.innerHTML = state.qr;
      qr.setAttribute('data-qr-payload', state.qr_payload || '');
    }
    if (state.hint && hint && hint.textContent !== state.hint) {
      hint.textContent = state.hint;
    }
    return true;
  }

  function poll() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error(String(resp.status)); }
        return resp.json();
      })
      .then(function (state) {
        failures = 0;
        if (show(state)) { window.setTimeout(poll, 1000); }
      })
      .catch(function () {
        // a lost connection or a busy server: try again a little later; after a while let
        // the page itself say what is wrong
        failures += 1;
        if (failures >= 10) { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      });
  }

  window.setTimeout(poll, 1000);
}());
