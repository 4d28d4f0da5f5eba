#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (Playwright drives it at /usr/bin/chromium;
# Playwright's own browser download does not work on these machines), with a colour emoji font:
# messages carry emoji, which Debian's Chromium otherwise draws as empty boxes in the dashboard's
# tables and screenshots. Does nothing when both are present.
set -euo pipefail
PACKAGES="chromium fonts-noto-color-emoji"
if [ -x /usr/bin/chromium ] && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "install-chromium: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
  exit 1
}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-chromium: installing Debian's $PACKAGES (once)"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # two package names, split on purpose
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
/usr/bin/chromium --version
