#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (Playwright drives it at /usr/bin/chromium;
# Playwright's own browser download does not work on these machines). Does nothing when present.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "install-chromium: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
  exit 1
}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-chromium: installing Debian's chromium package (once)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
