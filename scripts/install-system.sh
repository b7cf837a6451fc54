#!/usr/bin/env bash
# Install the Debian packages formsvc needs, only where missing (idempotent, quiet when all present).
set -euo pipefail

need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
/usr/bin/python3 -c 'import uno' >/dev/null 2>&1 || need+=(python3-uno)
[ -d /usr/share/fonts/truetype/liberation2 ] || need+=(fonts-liberation2)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
# emoji and symbols in typed names print in black and white (LibreOffice 7.4 exports a colour emoji
# font such as fonts-noto-color-emoji as blank space in a PDF, so do not install that one)
[ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || need+=(fonts-symbola)
if fc-list 2>/dev/null | grep -q "Noto Color Emoji"; then
  echo "warning: fonts-noto-color-emoji is installed; emoji print as blank space in PDFs." >&2
  echo "         Remove it (apt-get remove fonts-noto-color-emoji) so fonts-symbola is used." >&2
fi
# jobs (docs/adr/020): `make run` starts a private Redis for the Celery worker and beat
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# tests/pdfa.py runs `qpdf --check` on the PDFs the tests make
command -v qpdf >/dev/null 2>&1 || need+=(qpdf)
# the statistics chart's PNG download is drawn from its SVG by rsvg-convert (librsvg, Pango text)
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
# staff SSO with SAML: pysaml2 signs and verifies with xmlsec1; the tests' IdP is Debian's
# SimpleSAMLphp served by `php -S` (tests/idp/saml.py), which needs PHP's DOM/XML and mbstring
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
command -v php >/dev/null 2>&1 || need+=(php-cli)
if command -v php >/dev/null 2>&1; then
  php_modules=$(php -m 2>/dev/null || true)  # not `php -m | grep -q`: pipefail + SIGPIPE
  grep -qx dom <<<"$php_modules" || need+=(php-xml)
  grep -qx mbstring <<<"$php_modules" || need+=(php-mbstring)
else
  need+=(php-xml php-mbstring)
fi
[ -d /usr/share/simplesamlphp/www ] || need+=(simplesamlphp)
# issue 15: tests start private redis-server processes on free ports (tests/views/test_ops.py);
# chattr (e2fsprogs) makes a directory unwritable even to root there
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chattr >/dev/null 2>&1 || need+=(e2fsprogs)
# tests/cluster puts HAProxy (Debian's) in front of two app instances
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${FORMSVC_WITH_BROWSER:-0}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q

# simplesamlphp depends on a web server (apache2 is the first choice) and php on an Apache module:
# none is wanted here (the tests serve SimpleSAMLphp with `php -S`). A web server this script
# brings onto the machine is neither started during the installation nor at boot; one that was
# there before is left exactly as it was.
had_apache=0
dpkg -s apache2 >/dev/null 2>&1 && had_apache=1
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  # Debian's documented switch (invoke-rc.d): exit 101 = no service may start now
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  own_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" \
  || status=$?
[ "$own_policy" = 1 ] && $SUDO rm -f "$policy"
if [ "$had_apache" = 0 ] && dpkg -s apache2 >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now apache2 >/dev/null 2>&1 || true
  else
    $SUDO update-rc.d apache2 disable >/dev/null 2>&1 || true
    $SUDO service apache2 stop >/dev/null 2>&1 || true
  fi
  echo "apache2 came with simplesamlphp; it is disabled and not running (formsvc does not use it)."
fi
exit "$status"
