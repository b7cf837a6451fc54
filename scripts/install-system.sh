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
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# tests/pdfa.py runs `qpdf --check` on the PDFs the tests make
command -v qpdf >/dev/null 2>&1 || need+=(qpdf)
# the statistics chart's PNG download is drawn from its SVG by rsvg-convert (librsvg, Pango text)
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
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
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
