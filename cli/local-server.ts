// The embedded local server: the real Worker (worker/index.ts) running in workerd through Miniflare,
// with its R2 bucket and Durable Objects persisted under one state folder on disk.
import { mkdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { CliError } from "./errors.ts";

export interface LocalServerOptions {
  /** Default 8787; 0 picks a free port (read the real one from `url`). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder for the build, R2 data (`r2/`) and Durable Object data (`do/`); created if missing. */
  state: string;
  /** Bearer token the Worker accepts (bound as SYNC_TOKEN). */
  token: string;
  /** Overrides of wrangler.toml [vars], e.g. limits or CORS_ORIGINS. */
  vars?: Record<string, string>;
  /** Serve the vault inspector at /app/ (built into <state>/.build/site; docs/browser.md). Default off. */
  app?: boolean;
}

export interface LocalServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8787 */
  url: string;
  token: string;
  stop(): Promise<void>;
}

// Resolved from this file, not the cwd, so `serve` works from any folder.
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WORKER_ENTRY = path.join(ROOT, "worker", "index.ts");
const WRANGLER_TOML = path.join(ROOT, "wrangler.toml");

// Names that must match wrangler.toml's [[r2_buckets]] and [[durable_objects.bindings]].
const BUCKET_NAME = "penumbra-sync";
const VAULT_CLASS = "VaultObject";

/** Same settings as scripts/offline-env.sh: no metrics, no update check, no cf.json download. */
function setOfflineEnv(): void {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.WRANGLER_SEND_ERROR_REPORTS = "false";
  process.env.WRANGLER_HIDE_BANNER = "true";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  process.env.XDG_CONFIG_HOME ??= path.join(ROOT, ".wrangler-home");
}

/** The slice of wrangler.toml the local server needs: the compatibility date and [vars]. */
export async function readWranglerConfig(file = WRANGLER_TOML): Promise<{ compatibilityDate: string; vars: Record<string, string> }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new CliError(`cannot read ${file}`, "run from a complete checkout of penumbra-sync");
  }
  // A minimal parser: `key = "value"` lines, top level and inside [vars]; tables/arrays are skipped.
  let section = "";
  let compatibilityDate = "";
  const vars: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const header = line.match(/^\[\[?\s*([^\]]+?)\s*\]\]?/);
    if (header) {
      section = header[1];
      continue;
    }
    const kv = line.match(/^([A-Za-z0-9_-]+)\s*=\s*"((?:[^"\\]|\\.)*)"/);
    if (!kv) continue;
    const value = kv[2].replace(/\\(.)/g, (_, c: string) => ({ n: "\n", t: "\t" })[c] ?? c);
    if (section === "" && kv[1] === "compatibility_date") compatibilityDate = value;
    if (section === "vars") vars[kv[1]] = value;
  }
  if (!compatibilityDate) throw new CliError(`no compatibility_date in ${file}`);
  return { compatibilityDate, vars };
}

/** Bundles the Worker into one ES module for workerd (~0.1 s). */
export async function buildWorker(outfile: string): Promise<void> {
  if (!existsSync(WORKER_ENTRY)) {
    throw new CliError(`the Worker is missing: ${WORKER_ENTRY}`, "run from a complete checkout of penumbra-sync");
  }
  try {
    await build({
      entryPoints: [WORKER_ENTRY],
      outfile,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      external: ["cloudflare:workers", "node:*"],
      sourcemap: "linked",
      logLevel: "silent",
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const first = errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : "";
    throw new CliError(`could not build the Worker: ${first?.text ?? (e as Error).message}${where}`);
  }
}

function portInUse(port: number, host: string): CliError {
  return new CliError(`port ${port} is in use`, `another server listens on ${host}:${port}; stop it or choose another with --port`, "port_in_use");
}

/**
 * Fails fast with a clear error when the port is taken or the host cannot be bound, before workerd
 * prints a fatal stack trace (or Miniflare crashes on an unhandled 'error'). A race with another
 * process is still caught from Miniflare's ERR_ADDRESS_IN_USE.
 */
async function checkPortFree(port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") reject(portInUse(port, host));
      else if (e.code === "EACCES") reject(new CliError(`not allowed to listen on port ${port}`, "choose a port above 1023 with --port"));
      else if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND") reject(new CliError(`cannot listen on host ${host}: ${e.code}`, "check --host"));
      else reject(new CliError(`cannot listen on ${host}:${port}: ${e.message}`));
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Passes workerd's output through, minus its fatal stack trace for a busy port (reported as a CliError). */
function forwardRuntimeOutput(stdout: Readable, stderr: Readable): void {
  const forward = (from: Readable, to: NodeJS.WriteStream) => {
    let skipStack = false;
    readline.createInterface({ input: from, crlfDelay: Infinity }).on("line", (line) => {
      if (/Fatal uncaught kj::Exception.*Address already in use/.test(line)) {
        skipStack = true;
        return;
      }
      if (skipStack && line.startsWith("stack:")) {
        skipStack = false;
        return;
      }
      skipStack = false;
      to.write(line + "\n");
    });
  };
  forward(stdout, process.stdout);
  forward(stderr, process.stderr);
}

export async function startLocalServer(opts: LocalServerOptions): Promise<LocalServer> {
  const port = opts.port ?? 8787;
  const host = opts.host ?? "127.0.0.1";
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`invalid port ${port}`, "use 0-65535");
  if (!opts.token) throw new CliError("no token given to the local server");
  const state = path.resolve(opts.state);

  setOfflineEnv();
  const { compatibilityDate, vars } = await readWranglerConfig();
  const scriptPath = path.join(state, ".build", "worker.js");
  await checkPortFree(port, host); // with port 0 this still checks that the host can be bound
  await mkdir(state, { recursive: true, mode: 0o700 }); // holds the token file and the vault data
  await buildWorker(scriptPath);
  let siteDir: string | undefined;
  if (opts.app) {
    const { buildBrowser } = await import("../scripts/build-browser.ts");
    siteDir = (await buildBrowser({ out: path.join(state, ".build"), engine: false })).siteDir;
  }

  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath), // module names must not climb out of it with ".."
    compatibilityDate,
    compatibilityFlags: [],
    r2Buckets: { BUCKET: BUCKET_NAME },
    r2Persist: path.join(state, "r2"),
    durableObjects: { VAULT: { className: VAULT_CLASS, useSQLite: true } },
    durableObjectsPersist: path.join(state, "do"),
    bindings: { ...vars, ...opts.vars, ...(siteDir ? { APP_ENABLED: "true" } : {}), SYNC_TOKEN: opts.token },
    serviceBindings: siteDir ? { ASSETS: { disk: { path: siteDir, writable: false } } } : undefined,
    cf: false,
    host,
    port,
    handleRuntimeStdio: forwardRuntimeOutput,
  });
  let ready: URL;
  try {
    ready = await mf.ready;
  } catch (e) {
    await mf.dispose().catch(() => {}); // dispose re-throws the startup error; it is reported below
    if ((e as { code?: string }).code === "ERR_ADDRESS_IN_USE") throw portInUse(port, host);
    throw new CliError(`the local server did not start: ${(e as Error).message}`);
  }

  let stopped: Promise<void> | undefined;
  return {
    url: ready.origin,
    token: opts.token,
    stop: () => (stopped ??= mf.dispose()),
  };
}
