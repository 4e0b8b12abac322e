// Live sync for apps that embed the engine: sync when the server announces a head move, and
// shortly after the app says something changed locally; one sync at a time, reasons that arrive
// during a sync coalesce into the next one; failures retry with backoff; stop() lets the sync in
// flight finish. The CLI's `watch` runs the same loop with its own sync step (folder in, folder out).
//
//   const session = startLive(vault, remote, { onChange: (r) => refresh(r) });
//   await vault.putNote(...); session.changed();
//   ...; await session.stop();
import type { LiveHead } from "../core/live-protocol.ts";
import { RemoteError, type Remote } from "../remote/remote.ts";
import type { Vault } from "../vault/vault.ts";
import { backoffDelay, DEFAULT_BACKOFF, LiveChannel, type Backoff, type LiveSocketFactory } from "./live-channel.ts";
import type { SyncReport } from "./report.ts";
import { sync, SyncError, type SyncOptions } from "./sync.ts";

/**
 * Why a sync ran: the first one, the server announced a head, a local change, after a reconnect,
 * the periodic one, or a caller asked for it (syncNow: e.g. a one-shot `sync` delegated to `watch`).
 */
export type LiveReason = "start" | "remote" | "local" | "reconnect" | "periodic" | "request";

export interface LiveSyncEvent {
  reasons: LiveReason[];
  report: SyncReport;
}

export interface LiveOptions {
  /** After a sync that applied changes from other devices (to refresh what the app shows). */
  onChange?(report: SyncReport): void;
  /** After every sync. */
  onSync?(event: LiveSyncEvent): void;
  /** A sync failed; it runs again in `retryMs` (null: the failure is final and the session ends). */
  onError?(error: unknown, retryMs: number | null): void;
  /** The live socket came up or went down. */
  onStatus?(status: "live" | "offline"): void;
  /** How to open the socket; default the runtime's WebSocket (browsers; Node 22+). */
  socket?: LiveSocketFactory;
  /** Local changes are synced this long after the last one (an editor's save is several writes). Default 300 ms. */
  debounceMs?: number;
  /** A sync at least this often even if nothing is announced (a safety net); 0 = never. Default 0. */
  periodicMs?: number;
  pingMs?: number;
  backoff?: Backoff;
  syncOptions?: SyncOptions;
  /** The sync step; default `sync(vault, remote)`. The CLI's watch passes its folder sync. Null: it found nothing to do (not counted). */
  run?(reasons: LiveReason[]): Promise<SyncReport | null>;
}

export interface LiveSession {
  /** Something changed locally: sync after the debounce. */
  changed(): void;
  /**
   * Sync now: the first sync that starts after this call (the one in flight may have read the
   * state already), coalesced with whatever else is pending. Resolves with its report (null: the
   * sync step found nothing to do), rejects with its error, or when the session stops first.
   */
  syncNow(): Promise<SyncReport | null>;
  /** Ends the session: the sync in flight (if any) finishes, no other starts. */
  stop(): Promise<void>;
  /** Settles when the session ends: resolves after stop(), rejects on a final failure. */
  readonly done: Promise<void>;
  /** Syncs run so far, and connections the socket made (the first and each reconnect). */
  readonly counts: { syncs: number; connections: number };
}

/** syncNow was called on, or still waiting when, the session stopped: no sync will serve it. */
export class LiveStoppedError extends Error {
  override name = "LiveStoppedError";
  constructor() {
    super("the live session stopped before the sync ran");
  }
}

/** Retried with backoff; anything else (401, 403, an unknown vault, a bug) ends the session. */
export function isTransient(e: unknown): boolean {
  if (e instanceof RemoteError) return e.retryable || e.code === "head_moved" || e.code === "gc_raced";
  if (e instanceof SyncError) return e.code === "too_many_conflicts";
  return false;
}

export function startLive(vault: Vault, remote: Remote, opts: LiveOptions = {}): LiveSession {
  const endpoint = remote.liveEndpoint?.();
  if (!endpoint) throw new Error("this remote has no live endpoint");
  const debounceMs = opts.debounceMs ?? 300;
  const run = opts.run ?? (() => sync(vault, remote, opts.syncOptions));
  const pending = new Set<LiveReason>();
  let announced: LiveHead | null | undefined;
  let running: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let timerDue = 0;
  let failures = 0;
  let stopping = false;
  let wasUp = false;
  /** syncNow callers, waiting for the next sync to start and end. */
  let asked: { resolve(r: SyncReport | null): void; reject(e: unknown): void }[] = [];
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  done.catch(() => {}); // the caller may not await it; the error also went to onError
  let syncs = 0;
  let localTimer: ReturnType<typeof setTimeout> | null = null;
  let firstLocal = 0;

  /** Runs the pending reasons in `ms` (an earlier schedule stands if it is sooner). */
  const schedule = (ms: number) => {
    if (stopping) return;
    const due = Date.now() + ms;
    if (timer && timerDue <= due) return;
    if (timer) clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(() => {
      timer = null;
      kick();
    }, ms);
  };

  const kick = () => {
    if (running || stopping || !pending.size) return;
    running = runOnce().finally(() => {
      running = null;
      if (pending.size && !timer) kick();
    });
  };

  const runOnce = async () => {
    const reasons = [...pending];
    pending.clear();
    const serving = asked; // every syncNow caller so far is served by this sync
    asked = [];
    // Our own push comes back as an announcement: nothing to pull for a head we are at.
    if (reasons.length === 1 && reasons[0] === "remote" && announced !== undefined && (announced?.snapshot ?? null) === vault.refs.base && vault.refs.head === vault.refs.base) return;
    try {
      const report = await run(reasons);
      failures = 0;
      for (const w of serving) w.resolve(report);
      if (!report) return;
      syncs++;
      opts.onSync?.({ reasons, report });
      const c = report.changes;
      if (c.added + c.modified + c.deleted > 0) opts.onChange?.(report);
    } catch (e) {
      // The caller hears of this failure as a one-shot sync would; the session retries on its own.
      for (const w of serving) w.reject(e);
      if (stopping) return;
      if (!isTransient(e)) {
        opts.onError?.(e, null);
        shutdown();
        fail(e);
        return;
      }
      const retryMs = backoffDelay(opts.backoff ?? DEFAULT_BACKOFF, failures++);
      opts.onError?.(e, retryMs);
      for (const r of reasons) pending.add(r);
      schedule(retryMs);
    }
  };

  const request = (reason: LiveReason, ms: number) => {
    if (stopping) return;
    pending.add(reason);
    if (ms === 0 && !timer) kick();
    else schedule(ms);
  };

  const channel = new LiveChannel(endpoint, {
    socket: opts.socket,
    pingMs: opts.pingMs,
    backoff: opts.backoff,
    onHead: (head) => {
      announced = head;
      request("remote", 0);
    },
    onUp: () => {
      opts.onStatus?.("live");
      // Whatever happened while the socket was down: catch up (the CLI rescans its folder).
      if (wasUp) request("reconnect", 0);
      wasUp = true;
    },
    onDown: () => opts.onStatus?.("offline"),
  });

  // Trailing debounce: a burst of changes is one sync, but a steady stream still syncs every ~2 s.
  const maxWaitMs = Math.max(debounceMs, 2000);
  const localChange = () => {
    if (stopping) return;
    const now = Date.now();
    if (!localTimer) firstLocal = now;
    else if (now - firstLocal >= maxWaitMs) return;
    else clearTimeout(localTimer);
    localTimer = setTimeout(() => {
      localTimer = null;
      request("local", 0);
    }, Math.min(debounceMs, maxWaitMs - (now - firstLocal)));
  };

  const periodic = opts.periodicMs ? setInterval(() => request("periodic", 0), opts.periodicMs) : null;

  const shutdown = () => {
    stopping = true;
    if (timer) clearTimeout(timer);
    if (localTimer) clearTimeout(localTimer);
    timer = localTimer = null;
    if (periodic) clearInterval(periodic);
    channel.stop();
    // The sync in flight serves its own callers; no other sync will run for these.
    for (const w of asked.splice(0)) w.reject(new LiveStoppedError());
  };

  request("start", 0);
  channel.start();

  return {
    changed: localChange,
    syncNow: () => {
      if (stopping) return Promise.reject(new LiveStoppedError());
      const outcome = new Promise<SyncReport | null>((resolve, reject) => asked.push({ resolve, reject }));
      request("request", 0);
      return outcome;
    },
    async stop() {
      shutdown();
      await running;
      finish();
      await done.catch(() => {});
    },
    done,
    counts: {
      get syncs() {
        return syncs;
      },
      get connections() {
        return channel.connections;
      },
    },
  };
}
