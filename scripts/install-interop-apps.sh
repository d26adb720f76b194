#!/usr/bin/env bash
# Installs the interop test apps (test/interop/apps/*: real instrumentation libraries, each folder with its own
# package.json and lock) with `npm ci`, only where node_modules is missing or older than the lock. Runs npm under the
# project's Node 24 so that versions are picked for it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
for app in test/interop/apps/*/; do
  lock="$app/package-lock.json"
  stamp="$app/node_modules/.package-lock.json"
  [ -f "$lock" ] || continue
  if [ -f "$stamp" ] && [ "$stamp" -nt "$lock" ]; then continue; fi
  echo "install-interop-apps: npm ci in $app"
  (cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
done
