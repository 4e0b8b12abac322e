// The contract between the Worker and the vault's Durable Object: the RPC methods (VaultApi, at the
// end) and the plain data they take and answer (it crosses the RPC boundary by structured clone).
// Callers (env.ts, context.ts, the routes, gc.ts) depend on this file, never on the class, so the
// Durable Object (worker/vault-object.ts) sits at the top of the import graph and implements it.
import type { FrameRef } from "./pack-store.ts";
import type { TokenInfo } from "./token-store.ts";
import type { TokenScope } from "./tokens.ts";

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

// ---- garbage collection (worker/gc.ts drives it, worker/retention.ts sets the policy) ----------

export interface GcPolicy {
  /** Keep every snapshot committed less than this many days ago (0: none by age). */
  retentionDays: number;
  /** Keep the newest this many snapshots (at least 1: the head). */
  retentionSnapshots: number;
  /** Pending (uploaded, uncommitted) packs younger than this are kept. */
  graceSeconds: number;
  /** Objects first committed less than this ago are kept even if no retained snapshot reaches them. */
  committedGraceSeconds: number;
  /**
   * An uploading pack's lease: far longer than any request can run (Workers allow at most 5 minutes
   * of CPU; a 32 MiB body at 100 kB/s takes ~6). Past it, its request is dead and GC releases the pack.
   */
  uploadLeaseSeconds: number;
}

export type GcBegin = { status: "unknown_vault" } | { status: "busy" } | { status: "ok"; plain: boolean; resumed: boolean; stats: VaultStats };

export interface GcSweep {
  /** Marking is not complete up to the head (a commit landed): mark again first. */
  again: boolean;
  deletedPacks: number;
  deletedBytes: number;
  prunedSnapshots: number;
  morePacks: boolean;
  /** Committed packs more than half dead. */
  repack: string[];
  r2Deletes?: number;
}

/** A node the mark phase reads next; location null: not stored or not visible. */
export interface GcQueued {
  addr: string;
  kind: number;
  location: ObjectLocation | null;
}

/**
 * What a GC run needs of the vault (worker/gc.ts runGc): the Durable Object itself in its alarm, its
 * RPC stub in the Worker. Either answers, so each method may answer a value or a promise of one.
 */
export interface GcVault {
  gcBegin(policy: GcPolicy, lease: string, now?: number): Promise<GcBegin> | GcBegin;
  gcNext(limit: number): Promise<GcQueued[]> | GcQueued[];
  gcMark(done: string[], nodes: { addr: string; kind: number }[], leaves: string[]): Promise<number> | number;
  gcCatchUp(): Promise<number> | number;
  gcSweep(now: number, maxPacks: number): Promise<GcSweep>;
  gcLiveObjects(id: string, now: number): Promise<Record<string, ObjectLocation> | null> | Record<string, ObjectLocation> | null;
  gcReplacePack(oldId: string, newId: string, bytes: number, header: Uint8Array, now: number): Promise<{ ok: boolean; freedBytes: number; r2Deletes: number }>;
  gcDeleteUnindexed(ids: string[]): Promise<number>;
  gcEnd(lease: string, finished: boolean, now?: number): Promise<VaultStats> | VaultStats;
}

// ---- the Durable Object's RPC methods, by concept (the banners of worker/vault-object.ts) -------
// Written as the object answers (plain values); a stub, DurableObjectStub<VaultApi>, answers the
// same values as promises.

/** Access tokens (worker/token-store.ts): only their hashes are stored. */
export interface VaultTokensApi {
  /** Null when the vault does not exist: tokens belong to a vault. */
  createToken(id: string, hash: string, scope: TokenScope, label: string, now?: number): TokenInfo | "token_limit" | null;
  listTokens(): TokenInfo[] | null;
  /** False when no such token; null when the vault does not exist. */
  revokeToken(id: string): boolean | null;
  /** The scope of the token with this hash (and records its use), or null. */
  authenticateToken(hash: string, now?: number): { id: string; scope: TokenScope } | null;
}

/** The vault itself: its creation, config and counters. */
export interface VaultMetaApi {
  create(vault: string, config: VaultConfig): { created: boolean; conflict: boolean; info: VaultInfo };
  replaceEncryption(config: VaultConfig, expect: string): { ok: true; info: VaultInfo } | { ok: false; reason: "unknown_vault" | "not_encrypted" | "config_differs" | "encryption_changed"; config?: VaultConfig };
  /** Null when the vault was never created. */
  info(): VaultInfo | null;
}

/** The pack index: packs stored by pushes and repairs, and their states. */
export interface PackIndexApi {
  registerPack(id: string, bytes: number, header: Uint8Array, limitBytes?: number): { stored: boolean; quotaExceeded?: { used: number; limit: number } };
  releasePacks(ids: string[]): Promise<{ deleted: string[] }>;
  settlePacks(own: string[]): Head | null;
  /** Of these addresses, those a repair may not bring (not held as committed): see worker/repair.ts. */
  unexpectedObjects(addrs: string[]): string[];
  repairPacks(own: string[]): { repointed: number };
}

/** The object index: where each object is. */
export interface ObjectIndexApi {
  lookup(req: LookupRequest): LookupResult;
  locate(addrs: string[]): { addressing: VaultConfig["addressing"]; locations: Record<string, ObjectLocation> } | null;
  missing(addrs: string[]): string[] | null;
}

/** The snapshot log and its head: the commit (compare-and-swap), pull plans, the log pages. */
export interface VaultLogApi {
  commit(c: CommitRequest): CommitResult;
  /** Bumped by every GC step that removes or moves indexed objects; commits compare it (gc_raced). */
  gcEpoch(): number;
  planPull(since: string | null, want: string[]): PullPlan | "unknown_vault" | "unknown_snapshot";
  planPack(id: string, sinceSeq: number, headSeq: number, wanted: string[]): PackPlan | null;
  logEntries(ids: string[]): LogEntry[];
  log(limit: number, before: number | null): LogPage | null;
}

/** Every RPC method of the vault's Durable Object (worker/vault-object.ts implements it). */
export interface VaultApi extends Rpc.DurableObjectBranded, VaultTokensApi, VaultMetaApi, PackIndexApi, ObjectIndexApi, VaultLogApi, GcVault {
  /** The Cron Trigger's question: collect now? (the GC then runs in the object's alarm). */
  gcKick(now?: number, minIntervalMs?: number): Promise<boolean>;
}
