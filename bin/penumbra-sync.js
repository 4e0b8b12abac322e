#!/usr/bin/env node
// The penumbra-sync command line. A fresh clone works after `npm ci` with no build step: the
// sources are TypeScript, compiled on the fly by tsx. When dist/cli/ holds a bundle built from
// exactly the sources in this checkout (scripts/build-cli.mjs; `npm ci` and `npm test` build it),
// that bundle runs instead: the same code, without ~0.3 s and ~40 MiB of compiling at every start.
// PENUMBRA_SYNC_NO_BUNDLE=1 always takes the sources.
import { freshBundle } from "./fresh-bundle.js";

const root = new URL("../", import.meta.url);
const bundle = process.env.PENUMBRA_SYNC_NO_BUNDLE ? null : freshBundle(new URL("dist/cli/", root), root);
let main;
if (bundle) ({ main } = await import(bundle.href));
else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
