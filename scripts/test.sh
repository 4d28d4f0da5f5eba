#!/usr/bin/env bash
# The test command: installs what is missing, starts real Kafka + Elasticsearch when they are
# not already up, runs lint, types and every test, and stops the services it started.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH"
# The dashboard's browser test drives Debian's Chromium.
scripts/install-chromium.sh || exit 1  # a no-op when Chromium and the emoji font are there
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

echo "== compose validator (docker compose config needs the Compose CLI; built once, cached)"
bash docker/install-compose.sh || exit 1

echo "== lint and types"
ruff check . || exit 1
mypy || exit 1

echo "== local services"
if moodwatch infra status --check >/dev/null 2>&1; then
  echo "Kafka and Elasticsearch already running: reusing them and leaving them up"
else
  moodwatch infra up || exit 1
  trap 'echo "== stopping the services this run started"; moodwatch infra down' EXIT
fi

echo "== tests"
pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's "no tests collected": fine for a narrow selection, a failure for the full suite.
  if [ "$#" -gt 0 ]; then echo "no tests matched: $*"; rc=0; else echo "no tests were collected" >&2; rc=1; fi
fi
exit "$rc"
