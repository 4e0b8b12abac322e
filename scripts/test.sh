#!/usr/bin/env bash
# The test command (`npm test`): type-check, build the deployable Worker bundle, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/offline-env.sh
echo "== tsc --noEmit"
npx tsc --noEmit -p .
echo "== wrangler deploy --dry-run"
npx wrangler deploy --dry-run --outdir dist/worker >/dev/null
ls -la dist/worker/index.js
echo "== CLI bundle (the end-to-end tests run the CLI as bin/penumbra-sync.js does after npm ci)"
node scripts/build-cli.mjs
echo "== vitest"
npx vitest run "$@"
