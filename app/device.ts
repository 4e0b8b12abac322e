// The page as a device of a vault: the engine with an IndexedDB store, its heavy work in the
// engine worker, and the few operations the inspector offers (sync, history, restore, edit).
// All vault mutations go through one queue, so a sync never runs beside an edit.
import {
  Vault,
  HttpRemote,
  IdbStore,
  EngineWorker,
  VerifyingRemote,
  RemoteError,
  sync,
  diffTrees,
  lookup,
  utf8,
  addressOf,
  yieldToEventLoop,
  webDigest,
  type Address,
  type Entry,
  type LogEntry,
  type SyncReport,
  type VaultInfo,
} from "../engine/browser/index.ts";

export interface Profile {
  url: string;
  vault: string;
  token: string;
}

export interface Version {
  /** The oldest snapshot of a run of snapshots holding this version (null: only local, not pushed). */
  snapshot: Address | null;
  seq: number | null;
  time: string | null;
  device: string | null;
  entry: Entry | undefined;
  current: boolean;
}

const TREE = 3;
const LOG_CACHE = "inspector-log";

export function dbNameOf(p: Pick<Profile, "url" | "vault">): string {
  return `penumbra-sync:${new URL(p.url).origin}:${p.vault}`;
}

export class Device {
  private queue: Promise<unknown> = Promise.resolve();
  lastSyncError: RemoteError | Error | null = null;

  private constructor(
    readonly profile: Profile,
    readonly store: IdbStore,
    readonly vault: Vault,
    /** The sync's remote: its counters make the sync report, so nothing else uses it. */
    readonly remote: HttpRemote,
    /** For everything else the page asks the server (info, log, single objects). */
    readonly api: HttpRemote,
    readonly worker: EngineWorker,
  ) {}

  static async open(profile: Profile): Promise<Device> {
    const worker = new EngineWorker();
    // Pack ids: known from the worker's check for downloaded packs, else WebCrypto, else the worker.
    const digest = async (b: Uint8Array) => worker.knownPackId(b) ?? (globalThis.crypto?.subtle ? webDigest(b) : worker.digest(b));
    const store = await IdbStore.open({ name: dbNameOf(profile), compressor: worker.compressor, digest, packBlob: worker.packBlob, yieldAfterMs: 8 });
    const vault = await Vault.open({ store, compressor: worker.compressor });
    const remote = new HttpRemote({ url: profile.url, vault: profile.vault, token: profile.token });
    const api = new HttpRemote({ url: profile.url, vault: profile.vault, token: profile.token });
    return new Device(profile, store, vault, remote, api, worker);
  }

  /** Runs `fn` after every earlier queued operation. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  get hasQueuedChanges(): boolean {
    return this.vault.refs.head !== this.vault.refs.base || this.vault.hasUncommittedChanges;
  }

  /** pull + merge + push. Hashing and inflating of downloads run in the worker (VerifyingRemote). */
  sync(onProgress?: (p: { phase: "upload" | "download"; bytes: number; total?: number }) => void): Promise<SyncReport & { ms: number }> {
    return this.serial(async () => {
      const t0 = performance.now();
      try {
        const r = await sync(this.vault, new VerifyingRemote(this.remote, this.worker), { verifyAddresses: false, onProgress });
        this.lastSyncError = null;
        return { ...r, ms: Math.round(performance.now() - t0) };
      } catch (e) {
        this.lastSyncError = e as Error;
        throw e;
      }
    });
  }

  async info(): Promise<VaultInfo | null> {
    return this.api.info();
  }

  /** The server's log (newest first); the last one seen when the server cannot be reached. */
  async log(limit = 50): Promise<{ entries: LogEntry[]; cached: boolean }> {
    try {
      const r = await this.api.log(limit);
      await this.store.setMeta(LOG_CACHE, r.snapshots);
      return { entries: r.snapshots, cached: false };
    } catch (e) {
      if (e instanceof RemoteError && e.status === 0) return { entries: (await this.store.getMeta<LogEntry[]>(LOG_CACHE)) ?? [], cached: true };
      throw e;
    }
  }

  /** Notes, embeddings and positions in the working state. */
  counts(): { notes: number; embeddings: number; positions: number } {
    const c = { notes: 0, embeddings: 0, positions: 0 };
    for (const id of this.vault.ids()) {
      const e = this.vault.entry(id) as Entry;
      if (e.note) c.notes++;
      if (e.embedding) c.embeddings++;
      if (e.position) c.positions++;
    }
    return c;
  }

  /** Notes changed locally and not yet pushed (committed since base, plus uncommitted edits). */
  async queuedChanges(): Promise<number> {
    const { head, base } = this.vault.refs;
    if (head === base || !this.vault.headRoot) return 0;
    const d = await diffTrees(await this.vault.rootOf(base), this.vault.headRoot, this.load);
    return d.changes.length;
  }

  /** An object from the store, else from the server (checked against its address, then kept). */
  readonly load = async (addr: Address, type = TREE): Promise<Uint8Array> => {
    const local = await this.store.getObject(addr);
    if (local) return local;
    const b = await this.api.getObject(addr);
    if (!b || addressOf(b) !== addr) throw new Error(`object ${addr} is neither here nor on the server`);
    await this.store.putObjects([{ type: type as 1 | 2 | 3 | 4, addr, bytes: b }]);
    return b;
  };

  /** The raw bytes a snapshot added to its first parent (tree nodes and the parts that changed). */
  async bytesAdded(e: LogEntry): Promise<number | null> {
    // Local objects only: a snapshot this device does not hold yet shows no figure (no downloads).
    const local = async (a: Address) => {
      const b = await this.store.getObject(a);
      if (!b) throw new Error("not here");
      return b;
    };
    let root: Address;
    let parent: Address | null = null;
    let d;
    try {
      root = e.root ?? (await this.vault.snapshot(e.snapshot)).root;
      if (e.parents[0]) parent = (await this.vault.snapshot(e.parents[0])).root;
      d = await diffTrees(parent, root, local);
    } catch {
      return null;
    }
    let n = 0;
    for (const a of d.newNodes) n += this.store.objectSize(a) ?? 0;
    for (const c of d.changes) {
      if (!c.after) continue;
      for (const k of ["note", "embedding", "position"] as const) {
        const a = c.after[k];
        if (a && a !== c.before?.[k]) n += this.store.objectSize(a) ?? 0;
      }
    }
    return n;
  }

  /** A note's versions along the log, newest first; consecutive equal versions are one. */
  async history(id: string, log: LogEntry[]): Promise<Version[]> {
    const key = utf8(id);
    const out: Version[] = [];
    const same = (a?: Entry, b?: Entry) => a?.note === b?.note && a?.embedding === b?.embedding && a?.position === b?.position;
    const current = this.vault.entry(id);
    const { head, base } = this.vault.refs;
    if (head && head !== base) out.push({ snapshot: null, seq: null, time: null, device: this.vault.device, entry: current, current: true });
    for (const e of log) {
      const root = e.root ?? (await this.vault.snapshot(e.snapshot)).root;
      const entry = await lookup(root, key, this.load);
      const last = out[out.length - 1];
      const v: Version = { snapshot: e.snapshot, seq: e.seq, time: e.time ?? e.committedAt, device: e.device ?? null, entry, current: false };
      if (last && same(last.entry, entry)) {
        if (last.snapshot !== null) out[out.length - 1] = { ...v, current: last.current };
      } else out.push(v);
      await yieldToEventLoop();
    }
    // Snapshots from before the note existed are not versions of it.
    while (out.length && !out[out.length - 1].entry) out.pop();
    if (out.length && !out.some((v) => v.current) && same(out[0].entry, current)) out[0].current = true;
    return out;
  }

  async noteText(e: Entry | undefined): Promise<{ title: string; body: string } | null> {
    if (!e?.note) return null;
    let bytes = await this.vault.readPart(e.note, e.chunked).catch(() => null);
    if (!bytes) bytes = await this.load(e.note, e.chunked ? 2 : 1);
    const j = JSON.parse(new TextDecoder().decode(bytes)) as { title?: unknown; body?: unknown };
    return { title: typeof j.title === "string" ? j.title : "", body: typeof j.body === "string" ? j.body : "" };
  }

  /** Saves an edit as a local snapshot (kept in IndexedDB; pushed by the next sync). */
  saveNote(id: string, title: string, body: string): Promise<void> {
    return this.serial(async () => {
      const old = ((await this.vault.getNote(id).catch(() => undefined)) ?? {}) as Record<string, unknown>;
      await this.vault.putNote(id, { ...old, title, body, updated: new Date().toISOString() } as never);
      await this.vault.commit();
    });
  }

  /** Brings back a version of a note (all its parts) as a local edit. */
  restore(id: string, v: Version): Promise<void> {
    return this.serial(async () => {
      if (!v.entry) {
        this.vault.removeEntry(id);
      } else {
        // Make sure the version's parts are here (they may predate this device).
        for (const [a, t] of [[v.entry.note, v.entry.chunked ? 2 : 1], [v.entry.embedding, 1], [v.entry.position, 1]] as const) if (a) await this.load(a, t);
        this.vault.putEntry({ ...v.entry, id });
      }
      await this.vault.commit(`restore ${id}`);
    });
  }

  async close(): Promise<void> {
    await this.queue;
    await this.store.close();
    this.worker.close();
  }
}
