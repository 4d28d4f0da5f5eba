#!/usr/bin/env bash
# Creates .venv and installs moodwatch with the pinned dependency set; does nothing when the
# pins have not changed since the last install. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required ($2)" >&2; exit 1; }; }
need python3.11 "install Python 3.11"
need java "install JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)"
need mvn "install Maven 3.8+ (Debian: apt-get install maven)"

VENV=${VENV:-.venv}
stamp="$VENV/.moodwatch-deps"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
echo "setup: installing Python dependencies into $VENV (first time: a few minutes, torch is large)"
started=$(date +%s)
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# One resolve with every pin: installing packages one by one breaks the faust/transformers
# click tangle (see shared INFRA notes), so never add packages here individually.
"$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"
"$VENV/bin/python" -m pip check
echo "$want" > "$stamp"
echo "setup: Python dependencies ready in $(( $(date +%s) - started )) s"
