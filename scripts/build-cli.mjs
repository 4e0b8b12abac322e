// Bundles the command line (cli/main.ts and everything it imports from this repository) into ES
// modules under dist/cli/ (main.mjs, plus one chunk per command, each loaded when its command
// runs: `sync` never loads Miniflare or esbuild, which only `serve` and `demo` need), so that a command starts without compiling TypeScript: measured
// here, `sync --help` took 0.47 s and 93 MiB through tsx, 0.14 s and 47 MiB from the bundle. A
// one-shot no-op sync pays that start-up on every run.
//
// The bundle is a cache, never the source of truth: bin/penumbra-sync.js uses it only while every
// input listed in dist/cli/inputs.json still has the size and mtime it had at build time, and
// falls back to tsx otherwise (an edited source, a checkout, a missing build). Packages stay
// external (resolved from node_modules as usual).
//
// `new URL("<relative>", import.meta.url)` (worker thread entry points, the repository root) is
// rewritten to point from the bundle to the same place the source file pointed to, so threads and
// the local server find their files whichever way the CLI was loaded.
//
//   node scripts/build-cli.mjs        (run by `npm ci` through "prepare", and by scripts/test.sh)
import { build } from "esbuild";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const CLI_BUNDLE_DIR = path.join(ROOT, "dist", "cli");

/**
 * Thread entry points (worker-pool.ts loads them by URL): bundled as entries of their own, so pool
 * threads of a bundled CLI load plain JavaScript too, not tsx (~0.4 s and tens of MiB per thread).
 */
const THREAD_ENTRIES = ["cli/scan-worker.ts", "engine/node/seal-worker.ts", "cli/checkout-writer.ts"];

const RELATIVE_URL = /new URL\((["'])(\.{1,2}(?:\/[^"']*)?)\1,\s*import\.meta\.url\)/g;

/** Rewrites each `new URL("./x", import.meta.url)` of a source file to be relative to the bundle in OUT_DIR. */
const relocateUrls = (OUT_DIR) => ({
  name: "relocate-import-meta-urls",
  setup(b) {
    b.onLoad({ filter: /\.(ts|mjs|js)$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = await readFile(args.path, "utf8");
      const contents = source.replace(RELATIVE_URL, (_m, _q, rel) => {
        const target = path.resolve(path.dirname(args.path), rel);
        const entry = THREAD_ENTRIES.find((e) => path.resolve(ROOT, e) === target);
        if (entry) return `new URL(${JSON.stringify(`./${path.basename(entry, ".ts")}.mjs`)}, import.meta.url)`;
        let fromBundle = path.relative(OUT_DIR, target).split(path.sep).join("/");
        if (rel.endsWith("/") || rel === "." || rel === ".." || rel.endsWith("/..") || rel.endsWith("/.")) fromBundle += "/";
        return `new URL(${JSON.stringify(fromBundle)}, import.meta.url)`;
      });
      return { contents, loader: args.path.endsWith(".ts") ? "ts" : "js" };
    });
  },
});

/**
 * Bundles `entry` (a path under the repository) into `outDir`, replacing what was there: main
 * module `<entry's name>.mjs`, chunks beside it, and inputs.json, the manifest bin/fresh-bundle.js
 * checks. Answers the main module's path.
 */
export async function buildBundle(entry, outDir) {
  const OUT_DIR = path.resolve(outDir);
  const entries = [entry, ...THREAD_ENTRIES].map((e) => path.resolve(ROOT, e));
  const tmp = `${OUT_DIR}.${process.pid}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  const result = await build({
    entryPoints: entries,
    outdir: tmp,
    outExtension: { ".js": ".mjs" },
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    metafile: true,
    logLevel: "warning",
    plugins: [relocateUrls(OUT_DIR)],
  });
  const inputs = [];
  for (const rel of Object.keys(result.metafile.inputs).sort()) {
    const s = await stat(path.join(ROOT, rel));
    inputs.push({ path: rel, size: s.size, mtimeMs: s.mtimeMs });
  }
  const main = `${path.basename(entry).replace(/\.[^.]+$/, "")}.mjs`;
  // The manifest is written with the modules it describes, then the folder replaces the old one.
  await writeFile(path.join(tmp, "inputs.json"), JSON.stringify({ v: 1, bundle: main, inputs }));
  const old = `${OUT_DIR}.${process.pid}.old`;
  await rename(OUT_DIR, old).catch(() => {});
  await rename(tmp, OUT_DIR);
  await rm(old, { recursive: true, force: true });
  return { main: path.join(OUT_DIR, main), inputs: inputs.length };
}

/** Builds the CLI bundle into `outDir` (default dist/cli). */
export async function buildCli(outDir = CLI_BUNDLE_DIR) {
  const { inputs } = await buildBundle("cli/main.ts", outDir);
  return { out: path.resolve(outDir), inputs };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { out, inputs } = await buildCli();
  console.log(`built ${path.relative(ROOT, out)} from ${inputs} sources`);
}
