// `penumbra-sync watch` as a child process: its JSON lines as they come, waits on them, and a stop
// by signal with its exit code (test/e2e/watch.test.ts, bench/live.ts).
import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";
import { BIN, ROOT } from "./cli.ts";

export interface WatchEvent {
  event: string;
  [k: string]: any;
}

export interface WatchProcess {
  child: ChildProcess;
  events: WatchEvent[];
  stderr: string[];
  /** Resolves with the first event (from the start) that satisfies `pred`; rejects if the process exits first. */
  waitFor(pred: (e: WatchEvent) => boolean, what: string): Promise<WatchEvent>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export function spawnWatch(dir: string, args: string[] = [], env: Record<string, string> = {}): WatchProcess {
  const child = spawn(process.execPath, [BIN, "watch", dir, "--json", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const events: WatchEvent[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (e: WatchEvent) => boolean; resolve: (e: WatchEvent) => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    let e: WatchEvent;
    try {
      e = JSON.parse(line);
    } catch {
      e = { event: "unparsed", line };
    }
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e)) waiters.splice(waiters.indexOf(w), 1), w.resolve(e);
  });
  readline.createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    events,
    stderr,
    exited,
    waitFor(pred, what) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        exited.then((code) => reject(new Error(`watch exited (${code}) before: ${what}; stderr: ${stderr.join("\n")}`)));
      });
    },
    stop(signal = "SIGINT") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
