// One `watch` per vault folder: <dir>/.penumbra-sync/watch.lock holds the pid of the watch that
// owns the folder and the path of its socket (watch-socket.ts: one-shot commands ask it to sync),
// created exclusively (O_EXCL), removed when it exits. A lock whose process is gone (a crash,
// kill -9) is stale and taken over.
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { STATE_DIR } from "./state-dir.ts";
import { CliError } from "./errors.ts";

export const LOCK_FILE = "watch.lock";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

export interface WatchLock {
  pid: number;
  /** Where the watch takes requests (absent in a lock written before watches had a socket). */
  socket?: string;
}

/** The lock of a running watch that holds the folder (not this process), or null. */
export function watchLock(dir: string): WatchLock | null {
  try {
    const o = JSON.parse(readFileSync(join(dir, STATE_DIR, LOCK_FILE), "utf8"));
    const pid = Number(o.pid);
    if (!Number.isInteger(pid) || pid === process.pid || !alive(pid)) return null;
    return typeof o.socket === "string" ? { pid, socket: o.socket } : { pid };
  } catch {
    return null;
  }
}

/** The pid of a running watch that holds the folder's lock, or null. */
export function watchHolder(dir: string): number | null {
  return watchLock(dir)?.pid ?? null;
}

/** Takes the folder's watch lock, or refuses with who holds it. Returns the release function. */
export function acquireWatchLock(dir: string, socket?: string): () => void {
  const path = join(dir, STATE_DIR, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // Unreadable (half-written by a process that died at once) or its process gone: stale.
      const holder = watchHolder(dir);
      if (holder !== null)
        throw new CliError(`another watch (pid ${holder}) is already running on ${dir}`, `stop it first (Ctrl-C in its terminal, or kill ${holder}); one watch per folder`, "watch_locked");
      try {
        unlinkSync(path);
      } catch {}
      continue;
    }
    writeSync(fd, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), ...(socket ? { socket } : {}) }) + "\n");
    closeSync(fd);
    return () => {
      try {
        if (Number(JSON.parse(readFileSync(path, "utf8")).pid) === process.pid) unlinkSync(path);
      } catch {}
    };
  }
  throw new CliError(`cannot take the watch lock ${path}`, "another watch started at the same moment; try again");
}
