// Messages between a page and its device worker (device-worker.ts): the page asks, the worker runs
// the whole device (Vault, IdbStore, HttpRemote, sync) and answers. Requests carry an id; the
// answer carries the same id with a result or an error. Events (sync progress, waiting for another
// tab, changes made by another tab, heads the server announces on the live socket) come unasked.
import type { Address } from "../core/hash.ts";
import type { Entry } from "../core/tree.ts";
import type { JsonObject } from "../core/canonical.ts";
import type { LogEntry, VaultInfo } from "../remote/remote.ts";
import type { SyncReport } from "../sync/report.ts";

/** The IndexedDB database of a vault in this browser (one per server origin and vault). */
export function dbNameOf(p: Pick<Profile, "url" | "vault">): string {
  return `penumbra-sync:${new URL(p.url).origin}:${p.vault}`;
}

/** Where a vault lives and how to reach it. */
export interface Profile {
  url: string;
  vault: string;
  token: string;
}

export interface OpenRequest {
  profile: Profile;
  /** Unlocks an encrypted vault's key (kept in this browser's store until `close({ forget })`). */
  passphrase?: string;
  /** Ask the server first (a first sign-in: the vault must exist); off, the device opens offline. */
  check?: boolean;
}

/** What the page shows about the device, sent after every change. */
export interface DeviceState {
  device: string;
  encrypted: boolean;
  head: Address | null;
  base: Address | null;
  unpushedPacks: number;
  unpushedBytes: number;
  /** Notes changed locally and not pushed yet. */
  queued: number;
  /** Note ids in the working state (any part). */
  size: number;
  notes: number;
  embeddings: number;
  positions: number;
  /** What this browser stores. */
  stored: { objects: number; packs: number; bytes: number };
  lastSyncError: SerializedError | null;
}

export interface NoteList {
  ids: string[];
  matching: number;
  total: number;
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

export interface SyncProgress {
  phase: "upload" | "download";
  bytes: number;
  total?: number;
}

export type TimedReport = SyncReport & { ms: number };

export interface SerializedError {
  name: string;
  message: string;
  /** RemoteError: HTTP status (0: the server could not be reached) and code. */
  status?: number;
  code?: string;
}

/** Every command, its arguments and its result. */
export interface DeviceCommands {
  open: { args: OpenRequest; result: DeviceState };
  state: { args: Record<string, never>; result: DeviceState };
  /** Note ids containing `query` (case-insensitive), sorted: the first `limit`, and how many match. */
  findNotes: { args: { query: string; limit: number }; result: NoteList };
  entry: { args: { id: string }; result: Entry | undefined };
  getNote: { args: { id: string }; result: JsonObject | undefined };
  noteText: { args: { entry: Entry | undefined }; result: { title: string; body: string } | null };
  putNote: { args: { id: string; note: JsonObject }; result: DeviceState };
  /** The inspector's edit: title and body over the note's other fields. */
  editNote: { args: { id: string; title: string; body: string }; result: DeviceState };
  deleteNote: { args: { id: string }; result: DeviceState };
  sync: { args: Record<string, never>; result: TimedReport };
  info: { args: Record<string, never>; result: VaultInfo | null };
  log: { args: { limit: number }; result: { entries: LogEntry[]; cached: boolean } };
  bytesAdded: { args: { entry: LogEntry }; result: number | null };
  history: { args: { id: string; log: LogEntry[] }; result: Version[] };
  restore: { args: { id: string; version: Version }; result: DeviceState };
  /** Listen on the vault's live socket (docs/protocol.md, GET live): `head` and `live` events follow. */
  listen: { args: Record<string, never>; result: null };
  close: { args: { forget?: boolean }; result: null };
}

export type CommandName = keyof DeviceCommands;

export type DeviceRequest = { [K in CommandName]: { id: number; op: K; args: DeviceCommands[K]["args"] } }[CommandName];

export type DeviceEvent =
  | { event: "progress"; call: number; progress: SyncProgress }
  /** Another tab of this vault holds its lock: this device waits for it. */
  | { event: "waiting" }
  /** Another tab changed the vault; this device has caught up. */
  | { event: "changed"; state: DeviceState }
  /** The server announced the vault's head (at each connect, then at each move): another device may have committed. */
  | { event: "head"; snapshot: Address | null }
  /** The live socket came up or went down. */
  | { event: "live"; up: boolean };

export type DeviceResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError };

export type DeviceMessage = DeviceResponse | DeviceEvent;
