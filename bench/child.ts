// Runs one client operation in a child process and collects what it reports, so that client CPU and
// peak RSS belong to the client alone (the counting proxy and the servers live elsewhere).
//
// A child prints one line `BENCH-RESULT <json>` on stdout; everything else it prints is passed on.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildBundle } from "../scripts/build-cli.mjs";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RESULT_PREFIX = "BENCH-RESULT ";

/** What every client child measures about itself. */
export interface ClientFigures {
  ok: boolean;
  error?: string;
  /** Wall time of the operation, from opening the folder to closing it (start-up excluded: see startupMs). */
  wallMs: number;
  /** From the process's start to the operation's (Node's boot and loading the client's modules). */
  startupMs?: number;
  /** process.cpuUsage() delta over the same span, user + system, all threads (zlib's pool included). */
  cpuMs: number;
  /** process.resourceUsage().maxRSS of the child at the end: its peak RSS over its whole life. */
  peakRssBytes: number;
  requests: number;
  r2A: number;
  r2B: number;
  [k: string]: unknown;
}

export function printResult(r: object): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(r) + "\n");
}

export interface ChildOptions {
  /** Write a V8 CPU profile of the child into this folder. */
  cpuProfDir?: string;
  /** Echo the child's output (default: only on failure). */
  verbose?: boolean;
  /** Extra node flags (e.g. --experimental-websocket). */
  nodeFlags?: string[];
  /** --max-old-space-size for the child; default: Node's own default, as a user runs the CLI. */
  heapMb?: number;
  /** Run the TypeScript sources through tsx instead of a bundle (tsx then counts in start-up and RSS). */
  sources?: boolean;
}

const bundles = new Map<string, Promise<string>>();

/**
 * The child script bundled as bin/penumbra-sync.js runs the CLI after `npm ci` (scripts/build-cli.mjs),
 * built once per benchmark process: the client's RSS and start-up are then what a user's are, not
 * tsx's compiler's.
 */
function bundled(script: string): Promise<string> {
  let b = bundles.get(script);
  if (!b) {
    b = buildBundle(script, path.join(ROOT, "dist", "bench", path.basename(script).replace(/\.ts$/, ""))).then((r) => r.main);
    bundles.set(script, b);
  }
  return b;
}

/** Runs `node <script bundled> <json args>` (or the sources through tsx) and answers the child's BENCH-RESULT object. */
export async function runChild<T extends ClientFigures>(script: string, args: object, opts: ChildOptions = {}): Promise<T> {
  const nodeArgs = [...(opts.nodeFlags ?? [])];
  if (opts.sources) nodeArgs.push("--import", "tsx");
  if (opts.heapMb) nodeArgs.push(`--max-old-space-size=${opts.heapMb}`);
  if (opts.cpuProfDir) nodeArgs.push("--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir);
  nodeArgs.push(opts.sources ? path.join(ROOT, script) : await bundled(script), JSON.stringify(args));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
      if (opts.verbose || !line) process.stderr.write(out.split("\n").filter((l) => !l.startsWith(RESULT_PREFIX)).join("\n") + err);
      if (!line) return reject(new Error(`${script} exited with ${code ?? signal} and no result: ${err.trim().split("\n").slice(-5).join(" | ")}`));
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T);
    });
  });
}

/** Wraps a child's body: timers, CPU, peak RSS, and a result line even when it fails. */
export async function measureSelf(body: (m: ClientFigures) => Promise<void>): Promise<void> {
  const m: ClientFigures = { ok: false, wallMs: 0, startupMs: performance.now(), cpuMs: 0, peakRssBytes: 0, requests: 0, r2A: 0, r2B: 0 };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await body(m);
    m.ok = true;
  } catch (e) {
    m.ok = false;
    m.error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  m.wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  m.cpuMs = (cpu.user + cpu.system) / 1000;
  m.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  printResult(m);
}
