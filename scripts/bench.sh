#!/usr/bin/env bash
# npm run bench [-- name…]: services up, build, run the named benchmarks (all by default);
# results go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh up
npx nx run-many -t build --output-style=stream-without-prefixes >/dev/null
exec node tools/bench/dist/main.js "$@"
