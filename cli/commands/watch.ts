// watch <dir>: keep the folder in sync until stopped. Syncs once (full scan), then syncs the files
// the watcher saw change (only those are looked at), and pulls when the server announces a new
// head over the live socket. A full rescan runs at start, after each reconnect and every
// --rescan-s seconds (default 600), in case the watcher missed an event. SIGINT/SIGTERM let the
// sync in flight finish, then exit 0. One watch per folder (a lock in .penumbra-sync/). A one-shot
// sync run meanwhile asks this watch to sync instead of scanning (its socket: watch-socket.ts).
import { parse, emit } from "../args.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openFolder, tokenFrom, explain, saveCheckout, closeFolder, finishCheckout, STATE_DIR, type FolderContext } from "../context.ts";
import { ensureFolders, rescanPaths } from "../vault-folder.ts";
import { FolderWatcher, FULL_RESCAN_ABOVE } from "../folder-watcher.ts";
import { acquireWatchLock } from "../watch-lock.ts";
import { listenForRequests, watchSocketPath, type FolderSyncResult } from "../watch-socket.ts";
import { syncFolder } from "../folder-sync.ts";
import { startLive, LiveStoppedError, type LiveReason, type LiveSession } from "../../engine/sync/live.ts";
import { nodeLiveSocket } from "../../engine/node/live-socket.ts";
import type { SyncReport } from "../../engine/sync/report.ts";
import { CliError, UsageError } from "../errors.ts";

export const summary = "Keep the folder in sync: sync each change made here, pull each change the server announces.";
export const usage = "penumbra-sync watch <dir> [--debounce-ms 300] [--rescan-s 600] [--token <t>] [--json]";

/** The safety-net rescan: often enough that a missed event is not missed for long, rare enough to cost nothing (the checkout index). */
export const DEFAULT_RESCAN_S = 600;
export const DEFAULT_DEBOUNCE_MS = 300;

function positiveInt(v: string | undefined, fallback: number, flag: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

const kb = (n: number) => (n < 10240 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { "debounce-ms": { type: "string" }, "rescan-s": { type: "string" } });
  const debounceMs = positiveInt(values["debounce-ms"], DEFAULT_DEBOUNCE_MS, "--debounce-ms");
  const rescanS = positiveInt(values["rescan-s"], DEFAULT_RESCAN_S, "--rescan-s");
  const dir = positionals[0];
  const token = tokenFrom(values.token);
  // Locked before the folder is opened: opening may finish an interrupted checkout (writes files).
  // The socket listens for as long as the lock is held (a one-shot sync asking early waits for the loop).
  const socketPath = watchSocketPath(dir);
  const release = existsSync(join(dir, STATE_DIR)) ? acquireWatchLock(dir, socketPath) : null;
  let loop: WatchLoop | undefined;
  let markReady!: (loop: WatchLoop | null) => void;
  const ready = new Promise<WatchLoop | null>((r) => (markReady = r));
  let ctx: FolderContext;
  let closeSocket: (() => Promise<void>) | null = null;
  try {
    if (release)
      closeSocket = await listenForRequests(socketPath, async () => {
        const l = await ready;
        if (!l) throw new CliError("the watch stopped", undefined, "watch_stopped");
        return l.requested();
      });
    ctx = await openFolder(dir, token);
  } catch (e) {
    markReady(null);
    await closeSocket?.();
    release?.();
    throw e;
  }
  try {
    await ensureFolders(dir);
    const line = (event: Record<string, unknown>, human: string) => emit(values.json, { event: event.event, time: new Date().toISOString(), ...event }, () => `${new Date().toISOString().slice(11, 19)} ${human}`);
    loop = new WatchLoop(ctx, debounceMs, rescanS, line);
    line({ event: "watching", dir, rescanS, debounceMs }, `watching ${dir} (full rescan every ${rescanS} s; Ctrl-C stops)`);
    await loop.run(() => markReady(loop!));
    line({ event: "stopped" }, "stopped");
    return 0;
  } catch (e) {
    return explain(e, ctx);
  } finally {
    markReady(null);
    await closeSocket?.();
    try {
      await closeFolder(ctx);
    } finally {
      release?.(); // last: the folder's state is written and closed before another process may take it
    }
  }
}

type Line = (event: Record<string, unknown>, human: string) => void;

class WatchLoop {
  /** Paths the watcher reported since the last sync took them. */
  private readonly pending = new Set<string>();
  private rescanAll = true;
  private session: LiveSession | null = null;
  private readonly watcher: FolderWatcher;
  /** What each sync did to the folder, for the one-shot command that asked for it. */
  private readonly folderResults = new WeakMap<object, FolderSyncResult>();

  constructor(
    private readonly ctx: FolderContext,
    private readonly debounceMs: number,
    private readonly rescanS: number,
    private readonly line: Line,
  ) {
    this.watcher = new FolderWatcher(ctx.dir, (rel) => {
      if (rel === null) this.rescanAll = true;
      else this.pending.add(rel);
      this.session?.changed();
    });
  }

  /**
   * A one-shot command asked for a sync (watch-socket.ts): the next sync to start serves it,
   * coalesced with whatever else is pending. Rejects as that sync failed, or if the watch stops first.
   */
  async requested(): Promise<FolderSyncResult> {
    if (!this.session) throw new CliError("the watch stopped", undefined, "watch_stopped");
    let report;
    try {
      report = await this.session.syncNow();
    } catch (e) {
      if (e instanceof LiveStoppedError) throw new CliError("the watch stopped", undefined, "watch_stopped");
      explain(e, this.ctx); // throws what a one-shot sync would have said
    }
    // A "request" sync always reaches syncFolder, which records its result.
    const result = report && this.folderResults.get(report);
    if (!result) throw new Error("the watch's sync left no folder result");
    return result;
  }

  /** Until a signal (resolves) or a failure a retry cannot fix (throws). `started`: the session runs. */
  async run(started: () => void = () => {}): Promise<void> {
    this.watcher.start();
    const session = startLive(this.ctx.vault, this.ctx.remote, {
      socket: nodeLiveSocket,
      debounceMs: this.debounceMs,
      periodicMs: this.rescanS * 1000,
      run: (reasons) => this.syncOnce(reasons),
      onError: (e, retryMs) => {
        if (retryMs !== null) this.line({ event: "error", message: (e as Error).message, retryMs }, `sync failed: ${(e as Error).message}; retrying in ${(retryMs / 1000).toFixed(1)} s`);
      },
      onStatus: (status) => this.line({ event: status }, status === "live" ? "live: the server announces changes" : "offline: reconnecting"),
    });
    this.session = session;
    started();
    let onSignal = () => {};
    const signalled = new Promise<void>((resolve) => (onSignal = resolve));
    const stop = () => {
      onSignal();
      // A second signal while the last sync finishes: stop at once.
      process.once("SIGINT", () => process.exit(130));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      await Promise.race([signalled, session.done]);
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      await session.stop(); // the sync in flight finishes
      this.watcher.close();
    }
  }

  private async syncOnce(reasons: LiveReason[]): Promise<SyncReport | null> {
    const { ctx } = this;
    // A one-shot command asked: every change made before it asked must be in this sync. The
    // barrier's event comes after theirs; without it (no answer), only a full rescan is sure.
    const barrierMissed = reasons.includes("request") && !(await this.watcher.barrier());
    const full = barrierMissed || this.rescanAll || this.pending.size > FULL_RESCAN_ABOVE || reasons.some((r) => r === "start" || r === "reconnect" || r === "periodic");
    const paths = full ? [] : [...this.pending];
    this.pending.clear();
    let pre = { hashed: 0, ignored: [] as string[] };
    if (full) {
      this.rescanAll = false;
      this.watcher.start(); // a part folder made (again) since is watched from now on
    } else {
      // Just the changed files. Files this device's last pull wrote come back as events: when they
      // (and the rest) changed nothing and only local events asked, nothing is sent.
      await finishCheckout(ctx); // the folder at the head first (see syncFolder)
      const scan = await rescanPaths(ctx.dir, ctx.vault, ctx.checkout, paths);
      pre = scan;
      const { head, base } = ctx.vault.refs;
      if (!scan.changed && head === base && reasons.every((r) => r === "local")) {
        // Only signatures changed (a touch, our own writes): the rows still describe the head's
        // tree, so they may be saved. Rows of an uncommitted edit never are (a crash would lose it).
        if (!ctx.vault.hasUncommittedChanges) await saveCheckout(ctx, ctx.vault.headRoot);
        return null;
      }
    }
    const r = await syncFolder(ctx, "sync", undefined, full ? undefined : []);
    // Edited while this sync wrote the folder: left alone, sent by the next sync.
    for (const s of r.skipped) this.pending.add(s);
    // A part folder this sync's checkout replaced (a clone's staged folder, checkout-stage.ts) is
    // watched anew; an edit made in it before that is found by a full rescan, asked for now.
    if (this.watcher.start()) this.rescanAll = true;
    if (r.skipped.length || this.rescanAll) this.session?.changed();
    const result = { report: r.report, skipped: r.skipped, hashed: r.hashed + pre.hashed, ignored: [...pre.ignored, ...r.ignored] };
    this.folderResults.set(r.report, result);
    this.print(reasons, full, r.report, result);
    return r.report;
  }

  private print(reasons: LiveReason[], full: boolean, report: SyncReport, r: { skipped: string[]; ignored: string[]; hashed: number }): void {
    const p = report.pushed;
    const c = report.changes;
    const human = [
      `sync (${reasons.join(", ")}${full ? "; full rescan" : ""}): up +${p.added} ~${p.modified} -${p.deleted}, down +${c.added} ~${c.modified} -${c.deleted}; sent ${kb(report.uploaded.bytes)}, received ${kb(report.downloaded.bytes)}`,
      ...report.conflicts.map((x) => `  conflict: ${x.id}: ${x.kind}${x.copy ? ` -> copy ${x.copy}` : ""}`),
      ...r.skipped.map((s) => `  left alone (edited during sync, next sync sends it): ${s}`),
    ];
    this.line({ event: "sync", reasons, full, ...report, hashed: r.hashed, skipped: r.skipped, ignored: r.ignored }, human.join("\n"));
  }
}
