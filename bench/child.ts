// Runs one client operation in a child process and collects what it reports, so that client CPU and
// peak RSS belong to the client alone (the counting proxy and the servers live elsewhere).
//
// A child prints one line `BENCH-RESULT <json>` on stdout; everything else it prints is passed on.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RESULT_PREFIX = "BENCH-RESULT ";

/** What every client child measures about itself. */
export interface ClientFigures {
  ok: boolean;
  error?: string;
  /** Wall time of the operation, from opening the folder to closing it (node + tsx start-up excluded). */
  wallMs: number;
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
}

/** Runs `node --import tsx <script> <json args>` and answers the child's BENCH-RESULT object. */
export function runChild<T extends ClientFigures>(script: string, args: object, opts: ChildOptions = {}): Promise<T> {
  const nodeArgs = [...(opts.nodeFlags ?? []), "--import", "tsx"];
  if (opts.heapMb) nodeArgs.push(`--max-old-space-size=${opts.heapMb}`);
  if (opts.cpuProfDir) nodeArgs.push("--cpu-prof", "--cpu-prof-dir", opts.cpuProfDir);
  nodeArgs.push(path.join(ROOT, script), JSON.stringify(args));
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
  const m: ClientFigures = { ok: false, wallMs: 0, cpuMs: 0, peakRssBytes: 0, requests: 0, r2A: 0, r2B: 0 };
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
