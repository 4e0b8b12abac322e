// The page's side of a device worker (device-worker.ts): a thin promise proxy. The page holds no
// engine, only the last DeviceState the worker sent, so its main thread never decodes, hashes,
// packs or walks a tree. Errors come back with their name; a RemoteError is rebuilt as one, so a
// page can tell "the server cannot be reached" (status 0) from a refusal.
import { RemoteError, type LogEntry, type VaultInfo } from "../remote/remote.ts";
import type { Entry } from "../core/tree.ts";
import type { JsonObject } from "../core/canonical.ts";
import type { Address } from "../core/hash.ts";
import type { CommandName, DeviceCommands, DeviceMessage, DeviceState, NoteList, OpenRequest, Profile, SerializedError, SyncProgress, TimedReport, Version } from "./device-protocol.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (p: SyncProgress) => void };

/** An error the device worker reported (not a RemoteError), with its original name and code. */
export class DeviceTaskError extends Error {
  constructor(name: string, message: string, readonly code?: string) {
    super(message);
    this.name = name;
  }
}

function revive(e: SerializedError): Error {
  if (e.name === "RemoteError" && e.status !== undefined) return new RemoteError(e.status, e.code ?? "error", e.message);
  return new DeviceTaskError(e.name, e.message, e.code);
}

export interface DeviceClientOptions extends OpenRequest {
  /** URL of the built device worker (default: device-worker.js beside this bundle). */
  url?: string | URL;
  /** Another tab holds the vault's lock: a write or sync of this one waits for it. */
  onWaiting?: () => void;
  /** Another tab changed the vault; `state` is already the new one. */
  onChanged?: (state: DeviceState) => void;
  /** After listen(): the server announced the vault's head (at each connect, then at each move). */
  onHead?: (snapshot: Address | null) => void;
  /** After listen(): the live socket came up or went down. */
  onLive?: (up: boolean) => void;
}

export class DeviceClient {
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** The device as of the last answer that changed it. */
  state!: DeviceState;

  private constructor(private readonly worker: Worker, readonly profile: Profile, private readonly opts: DeviceClientOptions) {
    worker.onmessage = (e: MessageEvent<DeviceMessage>) => this.receive(e.data);
    worker.onerror = (e) => this.failAll(new Error(`the device worker failed: ${e.message || "could not load it"}`));
  }

  /** Starts a device worker and opens the vault in it (throws, and stops the worker, if it cannot). */
  static async open(opts: DeviceClientOptions): Promise<DeviceClient> {
    const url = opts.url ?? new URL("./device-worker.js", import.meta.url);
    const c = new DeviceClient(new Worker(url, { type: "module", name: "penumbra-device" }), opts.profile, opts);
    try {
      c.state = await c.call("open", { profile: opts.profile, passphrase: opts.passphrase, check: opts.check });
    } catch (e) {
      c.terminate();
      throw e;
    }
    return c;
  }

  private receive(m: DeviceMessage): void {
    if ("event" in m) {
      if (m.event === "progress") this.pending.get(m.call)?.onProgress?.(m.progress);
      else if (m.event === "waiting") this.opts.onWaiting?.();
      else if (m.event === "head") this.opts.onHead?.(m.snapshot);
      else if (m.event === "live") this.opts.onLive?.(m.up);
      else {
        this.state = m.state;
        this.opts.onChanged?.(m.state);
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(revive(m.error));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call<K extends CommandName>(op: K, args: DeviceCommands[K]["args"], onProgress?: (p: SyncProgress) => void): Promise<DeviceCommands[K]["result"]> {
    if (this.closed) return Promise.reject(new Error("the device is closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.worker.postMessage({ id, op, args });
    });
  }

  private async changing(p: Promise<DeviceState>): Promise<DeviceState> {
    this.state = await p;
    return this.state;
  }

  async refresh(): Promise<DeviceState> {
    return this.changing(this.call("state", {}));
  }

  /** Note ids containing `query`, sorted: the first `limit`, and how many match of how many. */
  findNotes(query: string, limit = 200): Promise<NoteList> {
    return this.call("findNotes", { query, limit });
  }

  entry(id: string): Promise<Entry | undefined> {
    return this.call("entry", { id });
  }

  getNote(id: string): Promise<JsonObject | undefined> {
    return this.call("getNote", { id });
  }

  noteText(entry: Entry | undefined): Promise<{ title: string; body: string } | null> {
    return this.call("noteText", { entry });
  }

  putNote(id: string, note: JsonObject): Promise<DeviceState> {
    return this.changing(this.call("putNote", { id, note }));
  }

  editNote(id: string, title: string, body: string): Promise<DeviceState> {
    return this.changing(this.call("editNote", { id, title, body }));
  }

  deleteNote(id: string): Promise<DeviceState> {
    return this.changing(this.call("deleteNote", { id }));
  }

  /** pull + merge + push, in the worker; progress as it goes. */
  async sync(onProgress?: (p: SyncProgress) => void): Promise<TimedReport> {
    try {
      return await this.call("sync", {}, onProgress);
    } finally {
      // The state changed even when the sync failed midway (a pull stored, a merge committed).
      await this.refresh().catch(() => {});
    }
  }

  info(): Promise<VaultInfo | null> {
    return this.call("info", {});
  }

  log(limit = 50): Promise<{ entries: LogEntry[]; cached: boolean }> {
    return this.call("log", { limit });
  }

  bytesAdded(entry: LogEntry): Promise<number | null> {
    return this.call("bytesAdded", { entry });
  }

  history(id: string, log: LogEntry[]): Promise<Version[]> {
    return this.call("history", { id, log });
  }

  restore(id: string, version: Version): Promise<DeviceState> {
    return this.changing(this.call("restore", { id, version }));
  }

  /** Listens on the vault's live socket (in the worker): onHead and onLive report what it hears. */
  listen(): Promise<null> {
    return this.call("listen", {});
  }

  /** Closes the vault and stops the worker; `forget` drops an encrypted vault's kept key (sign-out). */
  async close(opts: { forget?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      await this.call("close", { forget: opts.forget });
    } finally {
      this.terminate();
    }
  }

  private terminate(): void {
    this.closed = true;
    this.worker.terminate();
    this.failAll(new Error("the device was closed"));
  }
}
