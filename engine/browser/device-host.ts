// A device of a vault, whole, inside a dedicated Web Worker: the Vault, its IndexedDB store, the
// HTTP remote and sync. The page keeps only a thin proxy (device-client.ts), so its main thread
// never decodes, hashes, packs or walks trees. Everything runs in this one worker: plain vaults
// have each downloaded pack checked whole with WebCrypto (LocalPackChecker, VerifyingRemote),
// encrypted vaults authenticate every object as it is ingested.
//
// Commands that change the vault run one at a time (a queue) and under the vault's Web Lock
// (vault-lock.ts), after catching up with whatever another tab wrote; when they change the refs,
// the other tabs hear of it on a BroadcastChannel and catch up in turn.
import { Vault, type Refs } from "../vault/vault.ts";
import { IdbStore, webDigest } from "../store/idb-store.ts";
import { HttpRemote } from "../remote/http-remote.ts";
import { RemoteError, type LogEntry } from "../remote/remote.ts";
import { sync } from "../sync/sync.ts";
import { LiveChannel } from "../sync/live-channel.ts";
import { diffTrees, lookup, type Entry } from "../core/tree.ts";
import { decodeChunkList } from "../core/chunklist.ts";
import { countParts } from "../core/snapshot.ts";
import { fromHex, toHex } from "../core/bytes.ts";
import type { Address } from "../core/hash.ts";
import type { JsonObject } from "../core/canonical.ts";
import { VaultKeys } from "../crypto/keys.ts";
import { unlockEncryption } from "../crypto/envelope.ts";
import { LocalPackChecker } from "./pack-checker.ts";
import { VerifyingRemote } from "./verifying-remote.ts";
import { vaultLockName, withVaultLock } from "./vault-lock.ts";
import { dbNameOf, type DeviceState, type NoteList, type OpenRequest, type Profile, type SerializedError, type SyncProgress, type TimedReport, type Version } from "./device-protocol.ts";

const TREE = 3;
const LOG_CACHE = "inspector-log";
/** The vault key of an encrypted vault, kept by this browser as the CLI keeps its key file. */
const KEY_META = "vault-key";

/** An error the page can show and act on (a RemoteError keeps its status and code). */
export class DeviceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "DeviceError";
  }
}

export function serializeError(e: unknown): SerializedError {
  const err = e as Error & { status?: number; code?: string };
  const out: SerializedError = { name: err?.name ?? "Error", message: err?.message ?? String(e) };
  if (typeof err?.status === "number") out.status = err.status;
  if (typeof err?.code === "string") out.code = err.code;
  return out;
}

export interface DeviceHostEvents {
  /** Another tab holds the vault's lock; the command waits for it. */
  waiting(): void;
  /** Another tab changed the vault and this device caught up. */
  changed(state: DeviceState): void;
  /** The server announced the vault's head (listen()). */
  head?(snapshot: Address | null): void;
  /** The live socket came up or went down (listen()). */
  live?(up: boolean): void;
}

export class DeviceHost {
  private queue: Promise<unknown> = Promise.resolve();
  private lastSyncError: SerializedError | null = null;
  private readonly lockName: string;
  private readonly channel: BroadcastChannel | null;
  private live: LiveChannel | null = null;

  private constructor(
    readonly profile: Profile,
    readonly store: IdbStore,
    private vault: Vault,
    private readonly keys: VaultKeys | undefined,
    /** The sync's remote: its counters make the sync report, so nothing else uses it. */
    private readonly remote: HttpRemote,
    /** For everything else (info, log, single objects). */
    private readonly api: HttpRemote,
    private readonly checker: LocalPackChecker,
    private readonly events: DeviceHostEvents,
  ) {
    this.lockName = vaultLockName(store.name);
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(this.lockName) : null;
    if (this.channel) this.channel.onmessage = () => void this.catchUpFromOtherTab();
  }

  static async open(req: OpenRequest, events: DeviceHostEvents): Promise<DeviceHost> {
    const { profile } = req;
    const api = new HttpRemote({ url: profile.url, vault: profile.vault, token: profile.token });
    // A first sign-in asks the server, so a typo is caught here; a saved one opens offline too.
    const info = req.check ? await api.info() : undefined;
    if (info === null) throw new DeviceError("not_found", `the vault "${profile.vault}" does not exist on ${profile.url} (create it with the CLI: init)`);
    const checker = new LocalPackChecker();
    const digest = async (b: Uint8Array) => checker.knownPackId(b) ?? webDigest(b);
    const store = await IdbStore.open({ name: dbNameOf(profile), compressor: checker.compressor, digest, packBlob: checker.packBlob });
    try {
      const keys = await unlock(store, info?.config.encryption ?? undefined, req.passphrase);
      const vault = await Vault.open({ store, compressor: checker.compressor, keys });
      const remote = new HttpRemote({ url: profile.url, vault: profile.vault, token: profile.token });
      return new DeviceHost(profile, store, vault, keys, remote, api, checker, events);
    } catch (e) {
      await store.close();
      if ((e as Error).name === "VaultKeyError" && !req.passphrase) throw new DeviceError("passphrase_required", "this vault is encrypted: enter its passphrase");
      throw e;
    }
  }

  /** Runs `fn` after every earlier queued command. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** A command that changes the vault: queued, under the vault's lock, on an up-to-date vault. */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(() =>
      withVaultLock(
        this.lockName,
        async () => {
          await this.catchUp();
          const before = JSON.stringify(this.vault.refs);
          try {
            return await fn();
          } finally {
            if (JSON.stringify(this.vault.refs) !== before) this.channel?.postMessage("changed");
          }
        },
        () => this.events.waiting(),
      ),
    );
  }

  /** Reloads the vault when another tab moved its refs (their packs are stored before the refs). */
  private async catchUp(): Promise<boolean> {
    const stored = (await this.store.getMeta<Refs>("refs")) ?? { head: null, base: null, unpushed: [] };
    const mine = this.vault.refs;
    if (stored.head === mine.head && stored.base === mine.base && stored.unpushed.join() === mine.unpushed.join()) return false;
    await this.store.refresh();
    this.vault = await Vault.open({ store: this.store, compressor: this.checker.compressor, keys: this.keys });
    return true;
  }

  private catchUpFromOtherTab(): Promise<void> {
    return this.serial(async () => {
      if (await this.catchUp()) this.events.changed(await this.state());
    });
  }

  async state(): Promise<DeviceState> {
    const v = this.vault;
    const c = { notes: 0, embeddings: 0, positions: 0 };
    for (const id of v.ids()) countParts(c, v.entry(id));
    return {
      device: v.device,
      encrypted: v.encrypted,
      head: v.refs.head,
      base: v.refs.base,
      unpushedPacks: v.refs.unpushed.length,
      unpushedBytes: v.refs.unpushedBytes ?? 0,
      queued: await this.queuedChanges(),
      size: v.size,
      ...c,
      stored: this.store.stats(),
      lastSyncError: this.lastSyncError,
    };
  }

  /** Notes changed locally and not yet pushed (committed since base, plus uncommitted edits). */
  private async queuedChanges(): Promise<number> {
    const { head, base } = this.vault.refs;
    if (head === base || !this.vault.headRoot) return 0;
    const d = await diffTrees(await this.vault.rootOf(base), this.vault.headRoot, this.load);
    return d.changes.length;
  }

  /** The page asks for one screenful: a vault of 100,000 ids never crosses to it whole. */
  findNotes(query: string, limit: number): NoteList {
    const q = query.trim().toLowerCase();
    const all = this.vault.ids();
    const matching = q ? all.filter((id) => id.toLowerCase().includes(q)) : all;
    return { ids: matching.slice(0, limit), matching: matching.length, total: all.length };
  }

  entry(id: string): Entry | undefined {
    return this.vault.entry(id);
  }

  getNote(id: string): Promise<JsonObject | undefined> {
    return this.vault.getNote(id);
  }

  /** pull + merge + push. */
  sync(onProgress?: (p: SyncProgress) => void): Promise<TimedReport> {
    return this.write(async () => {
      const t0 = performance.now();
      try {
        // Plain vaults: every downloaded pack is checked whole (WebCrypto) before the engine sees it,
        // so the sync need not hash again. Encrypted ones: every object is authenticated on ingest.
        const r = this.keys ? await sync(this.vault, this.remote, { onProgress }) : await sync(this.vault, new VerifyingRemote(this.remote, this.checker), { verifyAddresses: false, onProgress });
        this.lastSyncError = null;
        return { ...r, ms: Math.round(performance.now() - t0) };
      } catch (e) {
        this.lastSyncError = serializeError(e);
        throw e;
      }
    });
  }

  info() {
    return this.api.info();
  }

  /** The server's log (newest first); the last one seen when the server cannot be reached. */
  async log(limit = 50): Promise<{ entries: LogEntry[]; cached: boolean }> {
    try {
      const r = await this.api.log(limit);
      const entries = await Promise.all(r.snapshots.map((e) => this.withSnapshotFields(e)));
      await this.store.setMeta(LOG_CACHE, entries);
      return { entries, cached: false };
    } catch (e) {
      if (e instanceof RemoteError && e.status === 0) return { entries: (await this.store.getMeta<LogEntry[]>(LOG_CACHE)) ?? [], cached: true };
      throw e;
    }
  }

  /**
   * Encrypted vaults: the server cannot read snapshots, so its log lacks root, device, time and
   * counts; this device reads them from the snapshots it holds.
   */
  private async withSnapshotFields(e: LogEntry): Promise<LogEntry> {
    if (e.root || !this.keys) return e;
    const bytes = await this.vault.readStored(e.snapshot).catch(() => undefined);
    if (!bytes) return e;
    const snap = await this.vault.snapshot(e.snapshot);
    return { ...e, root: snap.root, device: snap.device, time: snap.time, stats: snap.stats };
  }

  /** An object from the store, else from the server (checked against its address, then kept). Opened in encrypted vaults. */
  private readonly load = async (addr: Address, type = TREE): Promise<Uint8Array> => {
    const local = await this.vault.readStored(addr);
    if (local) return local;
    const b = await this.api.getObject(addr);
    if (!b) throw new Error(`object ${addr} is neither here nor on the server`);
    // Plain: the address is the SHA-256; encrypted: opening authenticates it.
    const plain = this.keys ? this.keys.openObject(addr, b, type as never).bytes : b;
    if (!this.keys && this.vault.addressOf(b) !== addr) throw new Error(`the server's object ${addr} does not match its address`);
    await this.store.putObjects([{ type: type as 1 | 2 | 3 | 4, addr, bytes: b }]);
    return plain;
  };

  /** The raw bytes a snapshot added to its first parent (tree nodes and the parts that changed). */
  async bytesAdded(e: LogEntry): Promise<number | null> {
    // Local objects only: a snapshot this device does not hold yet shows no figure (no downloads).
    const local = async (a: Address) => {
      const b = await this.vault.readStored(a);
      if (!b) throw new Error("not here");
      return b;
    };
    let d;
    try {
      const root = e.root ?? (await this.vault.snapshot(e.snapshot)).root;
      const parent = e.parents[0] ? (await this.vault.snapshot(e.parents[0])).root : null;
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
    const key = this.vault.keying.keyOf(id);
    const out: Version[] = [];
    const same = (a?: Entry, b?: Entry) => a?.note === b?.note && a?.embedding === b?.embedding && a?.position === b?.position;
    const current = this.vault.entry(id);
    const { head, base } = this.vault.refs;
    if (head && head !== base) out.push({ snapshot: null, seq: null, time: null, device: this.vault.device, entry: current, current: true });
    for (const e of log) {
      // Encrypted vaults: the server's log carries no root (snapshots are sealed); read it here.
      const root = e.root ?? (await this.snapshotAnywhere(e.snapshot)).root;
      const found = await lookup(root, key, this.load);
      const entry = found ? { ...found, id } : undefined;
      const last = out[out.length - 1];
      const v: Version = { snapshot: e.snapshot, seq: e.seq, time: e.time ?? e.committedAt, device: e.device ?? null, entry, current: false };
      if (last && same(last.entry, entry)) {
        if (last.snapshot !== null) out[out.length - 1] = { ...v, current: last.current };
      } else out.push(v);
    }
    // Snapshots from before the note existed are not versions of it.
    while (out.length && !out[out.length - 1].entry) out.pop();
    if (out.length && !out.some((v) => v.current) && same(out[0].entry, current)) out[0].current = true;
    return out;
  }

  /** A snapshot this device may not hold (older than its first sync): fetched and kept. */
  private async snapshotAnywhere(addr: Address) {
    try {
      return await this.vault.snapshot(addr);
    } catch {
      await this.load(addr, 4);
      return this.vault.snapshot(addr);
    }
  }

  async noteText(e: Entry | undefined): Promise<{ title: string; body: string } | null> {
    if (!e?.note) return null;
    let bytes = await this.vault.readPart(e.note, e.chunked).catch(() => null);
    if (!bytes) bytes = await this.load(e.note, e.chunked ? 2 : 1);
    const j = JSON.parse(new TextDecoder().decode(bytes)) as { title?: unknown; body?: unknown };
    return { title: typeof j.title === "string" ? j.title : "", body: typeof j.body === "string" ? j.body : "" };
  }

  /** Saves a note as a local snapshot (kept in IndexedDB; pushed by the next sync). */
  putNote(id: string, note: JsonObject): Promise<DeviceState> {
    return this.write(async () => {
      await this.vault.putNote(id, note);
      await this.vault.commit();
      return this.state();
    });
  }

  /** The inspector's edit: a new title and body, the note's other fields kept. */
  editNote(id: string, title: string, body: string): Promise<DeviceState> {
    return this.write(async () => {
      const old = ((await this.vault.getNote(id).catch(() => undefined)) ?? {}) as Record<string, unknown>;
      await this.vault.putNote(id, { ...old, title, body, updated: new Date().toISOString() } as JsonObject);
      await this.vault.commit();
      return this.state();
    });
  }

  deleteNote(id: string): Promise<DeviceState> {
    return this.write(async () => {
      await this.vault.delete(id);
      await this.vault.commit(`delete ${id}`);
      return this.state();
    });
  }

  /** Brings back a version of a note (all its parts) as a local edit. */
  restore(id: string, v: Version): Promise<DeviceState> {
    return this.write(async () => {
      if (!v.entry) {
        this.vault.removeEntry(id);
      } else {
        // Make sure the version's parts are here (they may predate this device).
        for (const [a, t] of [[v.entry.note, v.entry.chunked ? 2 : 1], [v.entry.embedding, 1], [v.entry.position, 1]] as const) if (a) await this.load(a, t);
        if (v.entry.note && v.entry.chunked) {
          for (const ch of decodeChunkList(await this.load(v.entry.note, 2)).chunks) await this.load(ch.addr, 1);
        }
        this.vault.putEntry({ ...v.entry, id });
      }
      await this.vault.commit(`restore ${id}`);
      return this.state();
    });
  }

  /**
   * Listens on the vault's live socket: each head the server announces goes to the page, which
   * decides whether to sync (it owns the sync's progress and report). The socket reconnects with
   * backoff; the browser's WebSocket sends the token as a subprotocol (docs/browser.md).
   */
  listen(): void {
    if (this.live) return;
    this.live = new LiveChannel(this.api.liveEndpoint(), {
      onHead: (head) => this.events.head?.(head?.snapshot ?? null),
      onUp: () => this.events.live?.(true),
      onDown: () => this.events.live?.(false),
    });
    this.live.start();
  }

  /** Closes the device; `forget` also drops an encrypted vault's key from this browser (sign-out). */
  async close(forget = false): Promise<void> {
    this.live?.stop();
    await this.queue;
    if (forget) await this.store.setMeta(KEY_META, undefined);
    this.channel?.close();
    await this.store.close();
  }
}

/**
 * The keys of an encrypted vault: from the passphrase (checked against the vault's encryption
 * block, then kept in the store), else the key this browser kept. Plain vaults: undefined.
 */
async function unlock(store: IdbStore, encryption: unknown, passphrase: string | undefined): Promise<VaultKeys | undefined> {
  const kept = await store.getMeta<{ keyId: string; key: string }>(KEY_META);
  if (encryption && passphrase) {
    const keys = await unlockEncryption(encryption, passphrase);
    await store.setMeta(KEY_META, { keyId: keys.keyId, key: toHex(keys.exportVaultKey()) });
    return keys;
  }
  if (encryption && !kept) throw new DeviceError("passphrase_required", "this vault is encrypted: enter its passphrase");
  if (kept) {
    const keys = VaultKeys.fromVaultKey(fromHex(kept.key));
    if (keys.keyId !== kept.keyId) throw new DeviceError("vault_key", "the vault key kept in this browser is damaged: sign out and in again with the passphrase");
    return keys;
  }
  return undefined;
}
