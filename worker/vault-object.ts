// One Durable Object per vault: the vault's metadata authority. Packs live in R2; this object keeps
// in SQLite which packs exist, where every object is (pack, frame, range), the snapshot log and the
// head, and moves the head with a compare-and-swap inside one transaction.
//
// The class is a thin face: every RPC method (the contract: worker/vault-types.ts VaultApi) hands
// its work to the store that owns the concept and its SQL:
//   vault-schema.ts   the tables, their migrations, the meta table (config, counters, GC epoch)
//   vault-record.ts   the vault itself: create, rekey, info
//   token-store.ts    access tokens (only their hashes)
//   pack-index.ts     packs and their states (uploading, pending, committed), rollback
//   object-index.ts   where each object is; what a walk, a pull or a repair may see
//   snapshot-log.ts   the log, the head's compare-and-swap (commit), pull plans
//   gc-store.ts       a GC run's state, the sweep, repacks, the Cron Trigger's question
//   repair-store.ts   repaired packs made the located copy
//   live.ts           hibernatable WebSockets: the head's moves pushed to listeners
// Every R2 delete goes through pack-store.ts (PackStore.delete), after the pack left the index.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { GcStore } from "./gc-store.ts";
import { runGc } from "./gc.ts";
import { acceptLive, broadcastHead, closeTokenSockets, installKeepAlive, onLiveClose, onLiveMessage } from "./live.ts";
import { ObjectIndex } from "./object-index.ts";
import { PackIndex } from "./pack-index.ts";
import { PackStore } from "./pack-store.ts";
import { RepairStore } from "./repair-store.ts";
import { policyOf } from "./retention.ts";
import { SnapshotLog } from "./snapshot-log.ts";
import { addToken, findToken, listTokens, removeToken, TOKEN_SCHEMA, type TokenInfo } from "./token-store.ts";
import type { TokenScope } from "./tokens.ts";
import { VaultRecord } from "./vault-record.ts";
import { installVaultSchema, VaultDb, VaultMeta } from "./vault-schema.ts";
import type {
  CommitRequest,
  CommitResult,
  GcBegin,
  GcPolicy,
  GcQueued,
  GcSweep,
  Head,
  LogEntry,
  LogPage,
  LookupRequest,
  LookupResult,
  ObjectLocation,
  PackPlan,
  PullPlan,
  ReplaceEncryptionResult,
  VaultApi,
  VaultConfig,
  VaultInfo,
  VaultStats,
} from "./vault-types.ts";

export class VaultObject extends DurableObject<Env> implements VaultApi {
  private readonly db: VaultDb;
  private readonly sql: SqlStorage;
  private readonly meta: VaultMeta;
  private readonly vault: VaultRecord;
  private readonly packs: PackIndex;
  private readonly objects: ObjectIndex;
  private readonly snapshots: SnapshotLog;
  private readonly gc: GcStore;
  private readonly repair: RepairStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.db = new VaultDb(ctx);
    this.sql = this.db.sql;
    installVaultSchema(this.sql);
    this.sql.exec(TOKEN_SCHEMA);
    installKeepAlive(ctx);
    this.meta = new VaultMeta(this.sql);
    const store = () => this.packStore();
    this.packs = new PackIndex(this.db, this.meta, store);
    this.objects = new ObjectIndex(this.db, this.meta);
    this.snapshots = new SnapshotLog(this.db, this.meta, this.packs, this.objects);
    this.vault = new VaultRecord(this.db, this.meta, this.snapshots);
    this.gc = new GcStore({ db: this.db, meta: this.meta, packs: this.packs, objects: this.objects, log: this.snapshots, store });
    this.repair = new RepairStore(this.db, this.meta, this.packs);
  }

  /** The vault's packs in R2 (its name is known once the vault exists). */
  private packStore(): PackStore {
    return new PackStore(this.env.BUCKET, this.meta.vaultName());
  }

  // ---- live sockets (worker/live.ts: hibernatable, the head's moves pushed to listeners) -------

  /** Only the live route's upgrade comes here; everything else is an RPC method. */
  override async fetch(request: Request): Promise<Response> {
    return acceptLive(this.ctx, request, this.meta.config() ? this.snapshots.head() : undefined);
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    onLiveMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    onLiveClose(ws, code);
  }

  override webSocketError(): void {
    // the runtime closes the socket; its client reconnects
  }

  // ---- access tokens (worker/token-store.ts; only their hashes are stored) ---------------------

  /** Null when the vault does not exist: tokens belong to a vault. */
  createToken(id: string, hash: string, scope: TokenScope, label: string, now: number = Date.now()): TokenInfo | "token_limit" | null {
    if (!this.meta.config()) return null;
    return this.db.transaction(() => addToken(this.sql, id, hash, scope, label, now));
  }

  listTokens(): TokenInfo[] | null {
    return this.meta.config() ? listTokens(this.sql) : null;
  }

  /** False when no such token; null when the vault does not exist. A revoked token's live sockets close at once. */
  revokeToken(id: string): boolean | null {
    if (!this.meta.config()) return null;
    const removed = removeToken(this.sql, id);
    if (removed) closeTokenSockets(this.ctx, id);
    return removed;
  }

  /** The scope of the token with this hash (and records its use), or null. */
  authenticateToken(hash: string, now: number = Date.now()): { id: string; scope: TokenScope } | null {
    return findToken(this.sql, hash, now);
  }

  // ---- the vault (worker/vault-record.ts) -------------------------------------------------------

  create(vault: string, config: VaultConfig): { created: boolean; conflict: boolean; info: VaultInfo } {
    return this.vault.create(vault, config);
  }

  replaceEncryption(config: VaultConfig, expect: string): ReplaceEncryptionResult {
    return this.vault.replaceEncryption(config, expect);
  }

  info(): VaultInfo | null {
    return this.vault.info();
  }

  // ---- packs (worker/pack-index.ts) -------------------------------------------------------------

  registerPack(id: string, bytes: number, header: Uint8Array, limitBytes?: number): { stored: boolean; quotaExceeded?: { used: number; limit: number } } {
    return this.packs.register(id, bytes, header, limitBytes);
  }

  releasePacks(ids: string[]): Promise<{ deleted: string[] }> {
    return this.packs.release(ids);
  }

  /** A request that stored packs and ended without a commit makes them visible. Answers the head. */
  settlePacks(own: string[]): Head | null {
    return this.db.transaction(() => {
      this.packs.settle(own);
      return this.snapshots.head();
    });
  }

  // ---- objects (worker/object-index.ts) ---------------------------------------------------------

  lookup(req: LookupRequest): LookupResult {
    return this.objects.lookup(req);
  }

  locate(addrs: string[]): { addressing: VaultConfig["addressing"]; locations: Record<string, ObjectLocation> } | null {
    return this.objects.locate(addrs);
  }

  missing(addrs: string[]): string[] | null {
    return this.objects.missing(addrs);
  }

  // ---- the log and its head (worker/snapshot-log.ts) --------------------------------------------

  /** The one place the head moves: the compare-and-swap, then every live socket hears of it. */
  commit(c: CommitRequest): CommitResult {
    const result = this.snapshots.commit(c);
    if (result.ok) broadcastHead(this.ctx, result.head);
    return result;
  }

  gcEpoch(): number {
    return this.meta.gcEpoch();
  }

  planPull(since: string | null, want: string[]): PullPlan | "unknown_vault" | "unknown_snapshot" {
    return this.snapshots.planPull(since, want);
  }

  planPack(id: string, sinceSeq: number, headSeq: number, wanted: string[]): PackPlan | null {
    return this.snapshots.planPack(id, sinceSeq, headSeq, wanted);
  }

  logEntries(ids: string[]): LogEntry[] {
    return this.snapshots.logEntries(ids);
  }

  log(limit: number, before: number | null): LogPage | null {
    return this.snapshots.log(limit, before);
  }

  // ---- garbage collection (worker/gc-store.ts; worker/gc.ts drives it, docs/reliability.md) ----

  gcBegin(policy: GcPolicy, lease: string, now: number = Date.now()): GcBegin {
    return this.gc.gcBegin(policy, lease, now);
  }

  gcNext(limit: number): GcQueued[] {
    return this.gc.gcNext(limit);
  }

  gcMark(done: string[], nodes: { addr: string; kind: number }[], leaves: string[]): number {
    return this.gc.gcMark(done, nodes, leaves);
  }

  gcCatchUp(): number {
    return this.gc.gcCatchUp();
  }

  gcSweep(now: number, maxPacks: number): Promise<GcSweep> {
    return this.gc.gcSweep(now, maxPacks);
  }

  gcLiveObjects(id: string, now: number): Record<string, ObjectLocation> | null {
    return this.gc.gcLiveObjects(id, now);
  }

  gcReplacePack(oldId: string, newId: string, bytes: number, header: Uint8Array, now: number): Promise<{ ok: boolean; freedBytes: number; r2Deletes: number }> {
    return this.gc.gcReplacePack(oldId, newId, bytes, header, now);
  }

  gcDeleteUnindexed(ids: string[]): Promise<number> {
    return this.gc.gcDeleteUnindexed(ids);
  }

  gcEnd(lease: string, finished: boolean, now: number = Date.now()): VaultStats {
    return this.gc.gcEnd(lease, finished, now);
  }

  /** The Cron Trigger's question: collect now? The work then runs in this object's alarm. */
  gcKick(now: number = Date.now(), minIntervalMs = 6 * 3600_000): Promise<boolean> {
    return this.gc.kick(now, minIntervalMs, policyOf(this.env).uploadLeaseSeconds);
  }

  /** One bounded GC step; another alarm follows while work remains. */
  override async alarm(): Promise<void> {
    const r = await runGc(this.gc, this.packStore(), policyOf(this.env));
    if (r.more || r.busy) await this.ctx.storage.setAlarm(Date.now() + (r.busy ? 60_000 : 1000));
  }

  // ---- repair (worker/repair-store.ts; docs/protocol.md, verify --repair) -----------------------

  unexpectedObjects(addrs: string[]): string[] {
    return this.objects.unexpectedObjects(addrs);
  }

  repairPacks(own: string[]): { repointed: number } {
    return this.repair.repairPacks(own);
  }
}
