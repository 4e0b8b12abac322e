// The local channel between a one-shot `sync` (or `push`, `pull`) and the `watch` that owns the
// folder. The watch already knows what changed (its file watcher), so a one-shot command run beside
// it does not scan: it asks the watch to sync now and prints that sync's report. Nothing is
// persisted for later: once the watch is gone, a one-shot command scans (docs/design.md, "Live
// sync").
//
// A Unix domain socket (a named pipe on Windows) whose path the watch records in its lock
// (watch-lock.ts); the watch listens for as long as it holds the lock, so a lock whose process is
// gone, or a socket nobody listens on, is stale: the one-shot command scans as if no watch ran.
// One JSON line each way: the request, then `{accepted}` at once, then the outcome.
import { createConnection, createServer, type Socket } from "node:net";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { STATE_DIR } from "./state-dir.ts";
import { CliError } from "./errors.ts";
import { LOCK_FILE, watchLock } from "./watch-lock.ts";
import type { SyncReport } from "../engine/sync/report.ts";

/** A socket path must fit sun_path (108 bytes on Linux, 104 on macOS); longer ones go to the temp folder. */
const MAX_SOCKET_PATH = 100;
/** A watch answers `accepted` at once (before it syncs): silence this long means it is stuck. */
export const ACCEPT_TIMEOUT_MS = 5000;
/** A watch that is stopping finishes its sync in flight, then releases the folder: wait this long for it. */
const RELEASE_WAIT_MS = 30_000;
const MAX_LINE = 64 * 1024;
const REFUSED_RETRIES = 10;

/** What the watch's sync did, as a one-shot sync reports it. */
export interface FolderSyncResult {
  report: SyncReport;
  ignored: string[];
  skipped: string[];
  hashed: number;
}

type Answer = { accepted: true; pid: number } | { ok: true; result: FolderSyncResult } | { ok: false; error: { message: string; hint?: string; code: string } };

/** Where the watch of folder `dir` listens. */
export function watchSocketPath(dir: string): string {
  const state = resolve(dir, STATE_DIR);
  const id = createHash("sha256").update(state).digest("hex").slice(0, 16);
  if (process.platform === "win32") return `\\\\.\\pipe\\penumbra-sync-${id}`;
  const inside = join(state, "watch.sock");
  return Buffer.byteLength(inside) <= MAX_SOCKET_PATH ? inside : join(tmpdir(), `penumbra-sync-${id}.sock`);
}

/** Reads one newline-terminated JSON value at a time from `socket`. */
function onLines(socket: Socket, onLine: (value: unknown) => void, onBad: () => void): void {
  let buf = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return onBad();
      }
      onLine(value);
    }
    if (buf.length > MAX_LINE) onBad();
  });
}

const send = (socket: Socket, answer: Answer) => socket.writable && socket.write(JSON.stringify(answer) + "\n");

/**
 * The watch's side: serves `sync` requests at `path` with `serve` until the returned close is
 * called (which removes the socket file). Called only while holding the folder's lock, so a file
 * already at `path` was left by a watch that was killed: it is replaced.
 */
export async function listenForRequests(path: string, serve: () => Promise<FolderSyncResult>): Promise<() => Promise<void>> {
  if (process.platform !== "win32") rmSync(path, { force: true });
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => {}); // the asker went away: its sync still runs, nobody reads the answer
    let asked = false;
    onLines(
      socket,
      (req) => {
        if (asked) return;
        asked = true;
        if ((req as { op?: unknown })?.op !== "sync") {
          send(socket, { ok: false, error: { message: "the watch only takes sync requests", code: "bad_request" } });
          return socket.end();
        }
        send(socket, { accepted: true, pid: process.pid });
        serve().then(
          (result) => send(socket, { ok: true, result }),
          (e: unknown) => send(socket, { ok: false, error: { message: (e as Error).message, hint: e instanceof CliError ? e.hint : undefined, code: e instanceof CliError ? e.code : "failed" } }),
        ).finally(() => socket.end());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(path, () => {
      server.off("error", fail);
      done();
    });
  });
  if (process.platform !== "win32") chmodSync(path, 0o600); // only the folder's owner may ask
  return () =>
    new Promise<void>((done) => {
      for (const s of open) s.destroy(); // an asker not yet answered sees the watch go and scans itself
      server.close(() => done());
    });
}

/** The outcome of asking: the watch's sync, or no watch to ask (`stale`: one was recorded but is gone). */
export type Asked = { servedBy: "watch"; pid: number; result: FolderSyncResult } | { servedBy: null; stale?: string };

/**
 * The one-shot command's side: asks the watch that owns `dir`, if one runs, to sync now, and
 * waits for that sync. A watch that fails the sync fails the command (CliError, as the sync would
 * have failed here); a watch that is stopping is waited for, then `servedBy: null`.
 */
export async function askWatch(dir: string, mode: string): Promise<Asked> {
  const lock = watchLock(dir);
  if (!lock) return existsSync(join(dir, STATE_DIR, LOCK_FILE)) ? { servedBy: null, stale: "the watch recorded in its lock is gone" } : { servedBy: null };
  if (!lock.socket) throw new CliError(`a watch (pid ${lock.pid}) is keeping ${dir} in sync`, `it already does what ${mode} would; stop it first to run ${mode} by hand`, "watch_running");
  // Refused while the lock's pid lives: a watch that has written its lock but not yet listens (a
  // moment), or a pid reused after the watch was killed. Asked again for a second, then stale.
  let answer = await request(lock.socket, lock.pid, dir, mode);
  for (let i = 0; answer === "refused" && i < REFUSED_RETRIES && watchLock(dir)?.pid === lock.pid; i++) {
    await new Promise((r) => setTimeout(r, 100));
    answer = await request(lock.socket, lock.pid, dir, mode);
  }
  if (answer === "refused") return { servedBy: null, stale: `nobody listens on the watch socket ${lock.socket}` };
  if (answer === "gone" || (!answer.ok && answer.error.code === "watch_stopped")) {
    await released(dir, lock.pid, mode);
    return { servedBy: null, stale: `the watch (pid ${lock.pid}) stopped before it synced` };
  }
  if (!answer.ok) throw new CliError(answer.error.message, answer.error.hint, answer.error.code);
  return { servedBy: "watch", pid: lock.pid, result: answer.result };
}

/** "refused": no listener (a stale socket); "gone": the watch hung up before answering. */
function request(path: string, pid: number, dir: string, mode: string): Promise<Extract<Answer, { ok: boolean }> | "refused" | "gone"> {
  return new Promise((done, fail) => {
    let accepted = false;
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      f();
    };
    const timer = setTimeout(
      () => finish(() => fail(new CliError(`the watch (pid ${pid}) that owns ${dir} did not answer within ${ACCEPT_TIMEOUT_MS / 1000} s`, `it may be stuck: stop it (kill ${pid}), then run ${mode} again`, "watch_unresponsive"))),
      ACCEPT_TIMEOUT_MS,
    );
    const socket = createConnection(path, () => socket.write(JSON.stringify({ op: "sync", mode }) + "\n"));
    socket.on("error", (e: NodeJS.ErrnoException) => finish(() => done(accepted ? "gone" : ["ENOENT", "ECONNREFUSED", "ENOTSOCK"].includes(e.code ?? "") ? "refused" : "gone")));
    socket.on("close", () => finish(() => done("gone")));
    onLines(
      socket,
      (value) => {
        const a = value as Answer;
        if ("accepted" in a) {
          accepted = true;
          clearTimeout(timer); // from now on the sync takes as long as it takes
        } else finish(() => done(a));
      },
      () => finish(() => done("gone")),
    );
  });
}

/** Waits for a stopping watch to release the folder (its sync in flight finishes first). */
async function released(dir: string, pid: number, mode: string): Promise<void> {
  for (const start = Date.now(); watchLock(dir)?.pid === pid; ) {
    if (Date.now() - start > RELEASE_WAIT_MS) throw new CliError(`the watch (pid ${pid}) on ${dir} stopped answering but still holds the folder`, `stop it (kill ${pid}), then run ${mode} again`, "watch_running");
    await new Promise((r) => setTimeout(r, 50));
  }
}
