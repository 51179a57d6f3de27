#!/usr/bin/env bash
# Fails when package-lock.json is not exactly what `npm install` writes: a fresh clone must stay
# clean after `make run`/`make test`, and `npm ci` must accept the lockfile. Run after an install.
set -euo pipefail
cd "$(dirname "$0")/.."

# npm ci refuses a lockfile out of sync with the package.json files (e.g. other platforms'
# optional packages missing); --dry-run checks that without touching node_modules
if ! out=$(npm ci --dry-run --loglevel=error --no-audit --no-fund 2>&1); then
  echo "package-lock.json: npm ci rejects it (out of sync with package.json); run npm install and commit the lockfile:" >&2
  grep -E 'Missing:|Invalid:|npm error code' <<<"$out" | head -5 >&2 || true
  exit 1
fi
# the install before this must not have rewritten the committed lockfile
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- package-lock.json; then
  echo "package-lock.json: npm install changed the committed lockfile; commit what it wrote:" >&2
  git diff --stat -- package-lock.json >&2
  exit 1
fi
echo "package-lock.json: in sync, unchanged by install"
