#!/usr/bin/env bash
# Installs the Python packages (into .venv) and bun, Reflex's JavaScript toolchain, from the npm
# registry (into .tools). Re-running is cheap: each step is skipped when already done.
#   scripts/bootstrap.sh                       the app's packages (requirements.txt)
#   scripts/bootstrap.sh requirements-dev.txt  and the tests' and tools' too
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS="${1:-requirements.txt}"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.$(basename "$REQUIREMENTS").sha"
want=$(cat requirements.txt "$REQUIREMENTS" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing Python packages ($REQUIREMENTS)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQUIREMENTS"
  echo "$want" > "$stamp"
fi

BUN_VERSION=1.4.5
if ! .tools/bin/bun --version >/dev/null 2>&1; then
  echo "== installing bun $BUN_VERSION from npm"
  command -v npm >/dev/null || { echo "npm is needed to install bun (apt-get install npm)" >&2; exit 1; }
  npm install -g --silent --prefix "$PWD/.tools" "bun@$BUN_VERSION" >/dev/null 2>&1 || true
  if ! .tools/bin/bun --version >/dev/null 2>&1; then
    # npm may refuse bun's postinstall script; the platform package carries the binary itself.
    npm install --silent --prefix "$PWD/.tools/oven" "@oven/bun-linux-x64@$BUN_VERSION" >/dev/null
    mkdir -p .tools/bin
    ln -sf "$PWD/.tools/oven/node_modules/@oven/bun-linux-x64/bin/bun" .tools/bin/bun
  fi
  .tools/bin/bun --version >/dev/null
fi
