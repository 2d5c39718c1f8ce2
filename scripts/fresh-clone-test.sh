#!/bin/sh
# `npm run test:fresh` (CI runs it after npm test): the README's commands work as the FIRST command of a
# fresh clone (no node_modules). Clones this checkout's HEAD into a temp dir and runs, each in its own
# clone: `npm test` (one small unit file), `npm run bench -- --help`, `orch wizard --help`; each must
# install the npm packages itself and succeed. ~1-3 min (one npm ci per clone, from npm's cache).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/orch-fresh-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fresh() {
  git clone -q "$src" "$tmp/$1"
  [ ! -e "$tmp/$1/node_modules" ] || { echo "fresh-clone: $1 already has node_modules" >&2; exit 1; }
  cd "$tmp/$1"
}
check() {
  [ -f node_modules/tsx/package.json ] || { echo "fresh-clone: $1 did not install the npm packages" >&2; exit 1; }
  echo "fresh-clone: ok: $1"
}

fresh test
npm test --silent -- --project unit test/unit/net.test.ts
check 'npm test'

fresh bench
npm run bench --silent -- --help >/dev/null
check 'npm run bench -- --help'

fresh wizard
node bin/orch.js wizard --help | grep -q 'wizard'
check 'orch wizard --help'
