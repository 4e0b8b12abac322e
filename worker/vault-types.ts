// The contract between the Worker and the vault's Durable Object: what the RPC methods take and
// answer. Plain data only (it crosses the RPC boundary by structured clone).
import type { FrameRef } from "./pack-store.ts";

export interface VaultConfig {
  format: 1;
  addressing: "sha256" | "hmac-sha256";
  /** Opaque to the server (wrapped vault key, KDF parameters): any JSON object. `any` keeps the RPC stub types shallow. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  encryption: Record<string, any> | null;
}

export interface Head {
  snapshot: string;
  seq: number;
  committedAt: string;
}

export interface VaultStats {
  packs: number;
  objects: number;
  bytes: number;
  snapshots: number;
}

export interface VaultInfo {
  vault: string;
  config: VaultConfig;
  head: Head | null;
  stats: VaultStats;
}

export interface LogEntry {
  snapshot: string;
  seq: number;
  parents: string[];
  committedAt: string;
  root?: string;
  device?: string;
  time?: string;
  stats?: Record<string, number>;
}

/** Where one object's bytes are: a byte range of the raw (inflated) bytes of one frame of one pack. */
export interface ObjectLocation {
  pack: string;
  type: number;
  frame: FrameRef;
  off: number;
  len: number;
}

export interface LookupRequest {
  /** Tree nodes and chunk lists: the answer says which are complete and where the others are. */
  nodes: string[];
  /** Blobs and other leaves of the walk: existence only. */
  leaves: string[];
  /** Packs this request is storing: their objects count as stored for this request only. */
  own: string[];
}

export interface LookupResult {
  missing: string[];
  /** Nodes already proven to have every descendant stored: no need to walk them again. */
  complete: string[];
  /** Locations of the nodes found that are not complete. */
  locations: Record<string, ObjectLocation>;
  /** Settled packs holding found objects that no commit has stamped yet (stamped by this commit). */
  pendingPacks: string[];
}

export interface CommitRequest {
  snapshot: string;
  parents: string[];
  expect: string | null;
  /** Packs whose pending objects this commit stamps: those listed by the client, those of this request, and pendingPacks of the walk. */
  packs: string[];
  /** Packs this request stored (still 'uploading' until this commit settles them). */
  own: string[];
  /** Tree nodes and chunk lists the walk proved complete. */
  completeNodes: string[];
  /** Read from the snapshot object (plain vaults only), for the log. */
  root?: string;
  device?: string;
  time?: string;
  stats?: Record<string, number>;
  /** gcEpoch() read before the walk began: the commit is refused (gc_raced) if a GC removed or moved objects since. */
  gcEpoch?: number;
}

export type CommitResult =
  | { ok: true; seq: number; head: Head }
  | { ok: false; reason: "head_moved"; head: Head | null }
  | { ok: false; reason: "missing_packs"; packs: string[] }
  | { ok: false; reason: "missing_snapshot" }
  | { ok: false; reason: "not_a_snapshot" }
  | { ok: false; reason: "already_committed"; seq: number }
  | { ok: false; reason: "gc_raced" };

export interface PullPlan {
  head: Head | null;
  sinceSeq: number;
  headSeq: number;
  snapshots: LogEntry[];
  /** Packs to send (ids), with the wanted addresses each holds. */
  packs: { id: string; wanted: string[] }[];
  /** Wanted addresses the vault does not hold. */
  missing: string[];
}

export interface PackPlan {
  id: string;
  bytes: number;
  /** Every frame of the pack, in order. */
  frames: FrameRef[];
  objectCount: number;
  /** The objects to send, located in this pack. */
  objects: { addr: string; type: number; frame: number; off: number; len: number }[];
}

export interface LogPage {
  head: Head | null;
  snapshots: LogEntry[];
}
