// Builds the engine for browsers and the vault inspector with esbuild, and reports sizes.
//
//   <out>/browser/penumbra-sync.js   the engine (engine/browser/index.ts): ESM, minified, deps included
//   <out>/browser/worker.js          its Web Worker (hashing, packing, compression)
//   <out>/browser/device-worker.js   the device worker (a whole device: vault, store, sync; DeviceClient's other side)
//   <out>/site/app/                  the inspector: index.html, style.css, app.js (the page: DOM + proxy),
//                                    device-worker.js (the engine), sw.js
//
// platform "browser" with no Node built-ins allowed: an import of node:* (or fs, crypto, ...)
// anywhere under the entry points fails the build, naming the file that imports it.
//
//   node --import tsx scripts/build-browser.ts [--out dist] [--json]
import { build, type Metafile, type Plugin } from "esbuild";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

export interface BuiltFile {
  file: string;
  bytes: number;
  gzip: number;
}

export interface BrowserBuild {
  files: BuiltFile[];
  /** What a page loads, gzipped, per way of using the engine (goal: each <= SIZE_GOAL). */
  totals: { name: string; files: string[]; gzip: number }[];
  /** Folder to serve at /app/ (contains index.html). */
  appDir: string;
  /** Folder to deploy as Workers static assets (contains app/). */
  siteDir: string;
}

/** Fails on any Node built-in, naming the importer (esbuild alone would only say "could not resolve"). */
const noNodeBuiltins: Plugin = {
  name: "no-node-builtins",
  setup(b) {
    b.onResolve({ filter: /^[a-z:_/]+$/ }, (args) => {
      if (!BUILTINS.has(args.path)) return undefined;
      return { errors: [{ text: `Node built-in "${args.path}" imported by ${path.relative(ROOT, args.importer)}: the browser build must not use Node built-ins` }] };
    });
  },
};

async function bundle(entry: string, outfile: string, minify: boolean): Promise<Metafile> {
  const r = await build({
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify,
    sourcemap: "linked",
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
    plugins: [noNodeBuiltins],
  });
  return r.metafile;
}

async function sizeOf(file: string): Promise<BuiltFile> {
  const b = await readFile(file);
  return { file: path.relative(ROOT, file), bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
}

export async function buildBrowser(opts: { out?: string; minify?: boolean; engine?: boolean } = {}): Promise<BrowserBuild> {
  const out = path.resolve(opts.out ?? path.join(ROOT, "dist"));
  const minify = opts.minify ?? true;
  const siteDir = path.join(out, "site");
  const appDir = path.join(siteDir, "app");
  await mkdir(appDir, { recursive: true });
  const jobs: [string, string][] = [
    ["app/app.ts", path.join(appDir, "app.js")],
    ["engine/browser/device-worker.ts", path.join(appDir, "device-worker.js")],
    ["app/sw.ts", path.join(appDir, "sw.js")],
  ];
  if (opts.engine ?? true) {
    jobs.push(
      ["engine/browser/index.ts", path.join(out, "browser", "penumbra-sync.js")],
      ["engine/browser/worker.ts", path.join(out, "browser", "worker.js")],
      ["engine/browser/device-worker.ts", path.join(out, "browser", "device-worker.js")],
    );
  }
  await Promise.all(jobs.map(([entry, file]) => bundle(entry, file, minify)));
  await copyFile(path.join(ROOT, "app", "index.html"), path.join(appDir, "index.html"));
  await copyFile(path.join(ROOT, "app", "style.css"), path.join(appDir, "style.css"));
  const files = await Promise.all([...jobs.map(([, f]) => f), path.join(appDir, "index.html"), path.join(appDir, "style.css")].map(sizeOf));
  const total = (name: string, ...names: string[]) => {
    const picked = names.map((n) => files.find((f) => f.file.endsWith(n)) as BuiltFile).filter(Boolean);
    return picked.length === names.length ? [{ name, files: picked.map((f) => f.file), gzip: picked.reduce((n, f) => n + f.gzip, 0) }] : [];
  };
  const totals = [
    ...total("the inspector (page + device worker)", "site/app/app.js", "site/app/device-worker.js"),
    ...total("the engine in a page (+ its compute worker)", "browser/penumbra-sync.js", "browser/worker.js"),
  ];
  return { files, totals, appDir, siteDir };
}

/** The goal for what a page loads of the engine, dependencies included. */
export const SIZE_GOAL = 60 * 1024;

const KiB = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const t0 = performance.now();
  try {
    const r = await buildBrowser({ out: outAt >= 0 ? args[outAt + 1] : undefined });
    if (args.includes("--json")) console.log(JSON.stringify(r, null, 2));
    else {
      console.log(`built in ${Math.round(performance.now() - t0)} ms (minified; gzip -9 sizes)`);
      for (const f of r.files) console.log(`  ${f.file.padEnd(44)} ${KiB(f.bytes).padStart(10)} ${KiB(f.gzip).padStart(10)} gzip`);
      for (const t of r.totals) console.log(`  ${t.name.padEnd(55)} ${KiB(t.gzip).padStart(10)} gzip (goal <= ${KiB(SIZE_GOAL)})${t.gzip > SIZE_GOAL ? "  OVER THE GOAL" : ""}`);
    }
  } catch (e) {
    const errors = (e as { errors?: { text: string }[] }).errors;
    console.error(`browser build failed: ${errors?.map((x) => x.text).join("\n") ?? (e as Error).message}`);
    process.exit(1);
  }
}
