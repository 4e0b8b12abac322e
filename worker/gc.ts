// Garbage collection of one vault (docs/reliability.md): mark what the retained snapshots reach,
// sweep packs with no live object, repack packs that are mostly garbage, prune the log.
//
// The Durable Object keeps the run's state (marks, work queue, lease) in SQLite, so a run can span
// several requests: each request does a bounded amount of R2 work (R2_BUDGET calls) and answers
// `"more": true` while work remains. The same code runs from the route (POST /v1/vaults/:vault/gc,
// the caller's subrequest budget) and from the vault object's alarm (the Cron Trigger's path).
//
//   mark    tree nodes are read with ranged R2 reads of their frames (a frame cache per request),
//           inner nodes queue their children, leaves mark their blobs and queue chunk lists,
//           chunk lists mark their chunks. Plain vaults only: encrypted vaults cannot be walked.
//   sweep   in one transaction with the object's other events held back: marking must be complete
//           up to the current head (snapshots committed meanwhile are walked first), then the log is
//           pruned and packs with no live object are unindexed (the GC epoch moves, so a commit whose
//           walk began before is refused and re-walks), then deleted from R2 (<= 1,000 keys a call).
//   repack  a committed pack more than half dead: its live objects are copied (frames re-built by
//           the core PackBuilder) into a new pack, stored, re-pointed in one transaction, and the
//           old pack deleted.
import { decodeChunkList } from "../engine/core/chunklist.ts";
import { streamCompressor } from "../engine/core/compress.ts";
import { ObjectType } from "../engine/core/object.ts";
import { Codec, decodeFrame, decodePackHeader, PackBuilder } from "../engine/core/pack.ts";
import { decodeSnapshot } from "../engine/core/snapshot.ts";
import { decodeNode, type Entry } from "../engine/core/tree.ts";
import type { VaultRequest } from "./context.ts";
import { CountingBucket } from "./counting-bucket.ts";
import { sha256Hex } from "./crypto.ts";
import { ApiError, json, readLimitedBytes, badRequest } from "./http.ts";
import { PackStore } from "./pack-store.ts";
import { headOnlyPolicy, policyOf } from "./retention.ts";
import type { GcPolicy, GcVault, ObjectLocation, VaultStats } from "./vault-types.ts";

/** R2 calls one GC request may make (the platform allows ~1,000 subrequests per invocation). */
export const R2_BUDGET = 900;
/** Nodes read per step of the mark phase. */
const MARK_BATCH = 400;
/** Packs unindexed (and deleted from R2 in one call) per sweep step. */
const SWEEP_PACKS = 1000;
/** Raw frame bytes kept by the per-request frame cache. */
const FRAME_CACHE_BYTES = 32 * 1024 * 1024;

export interface GcCounts {
  bytes: number;
  packs: number;
  objects: number;
}

export interface GcAnswer {
  before: GcCounts;
  after: GcCounts;
  deletedPacks: number;
  repackedPacks: number;
  prunedSnapshots: number;
  /** Work remains: call again (the Cron Trigger's alarm does). */
  more: boolean;
  /** Another GC of this vault holds the lease: nothing was done. */
  busy?: boolean;
  /** Encrypted vaults: only pending packs past the grace period are collected. */
  plain: boolean;
  /** The mark phase could not read these objects (damaged or missing): nothing was swept. Repair first. */
  unreadable?: string[];
  r2: { A: number; B: number };
}

const counts = (s: VaultStats): GcCounts => ({ bytes: s.bytes, packs: s.packs, objects: s.objects });

/**
 * Reads objects by location through a frame cache; an object whose pack is missing or truncated,
 * whose frame does not inflate, or (with `verify`, plain vaults) whose bytes do not hash to its
 * address is reported in `bad` instead of failing the whole read.
 */
export class NodeReader {
  private frames = new Map<string, Uint8Array>();
  private cached = 0;
  constructor(
    private readonly store: PackStore,
    private readonly verify = true,
  ) {}

  /**
   * Reads and (plain vaults) re-hashes the objects at `locs`: `bytes` the good ones (unless `keep`
   * is false: a check needs only the verdict), `bad` those whose frame could not be read or decoded
   * or whose bytes fail their hash. Each frame's objects are taken the moment it is at hand, so the
   * frame cache evicting it later in a big batch cannot turn good objects into "bad" ones.
   */
  async read(locs: [string, ObjectLocation][], keep = true): Promise<{ bytes: Map<string, Uint8Array>; bad: string[] }> {
    const bytes = new Map<string, Uint8Array>();
    const good = new Set<string>();
    const byFrame = new Map<string, { pack: string; frame: ObjectLocation["frame"]; objects: [string, ObjectLocation][]; taken: boolean }>();
    for (const [addr, l] of locs) {
      const key = `${l.pack}:${l.frame.idx}`;
      let g = byFrame.get(key);
      if (!g) byFrame.set(key, (g = { pack: l.pack, frame: l.frame, objects: [], taken: false }));
      g.objects.push([addr, l]);
    }
    const take = async (key: string, raw: Uint8Array) => {
      const g = byFrame.get(key);
      if (!g || g.taken) return;
      g.taken = true;
      for (const [addr, l] of g.objects) {
        const b = l.off + l.len <= raw.length ? raw.slice(l.off, l.off + l.len) : null;
        if (!b || (this.verify && (await sha256Hex(b)) !== addr)) continue;
        good.add(addr);
        if (keep) bytes.set(addr, b);
      }
    };
    const need = new Map<string, ObjectLocation["frame"][]>();
    for (const [key, g] of byFrame) {
      const cached = this.frames.get(key);
      if (cached) await take(key, cached);
      else need.set(g.pack, [...(need.get(g.pack) ?? []), g.frame]);
    }
    const onFrame = (pack: string) => async (f: ObjectLocation["frame"], stored: Uint8Array) => {
      let raw: Uint8Array;
      try {
        raw = await decodeFrame(f.codec, stored, f.rawLength, streamCompressor);
      } catch {
        return; // a damaged frame: its objects are reported below
      }
      this.remember(`${pack}:${f.idx}`, raw);
      await take(`${pack}:${f.idx}`, raw);
    };
    for (const [pack, frames] of need) {
      try {
        await this.store.readFrames(pack, frames, onFrame(pack));
      } catch (e) {
        if (e instanceof ApiError && e.code === "storage_unavailable") throw e;
        if (frames.length === 1) continue; // missing or truncated pack: its objects are reported below
        // One coalesced read failed (a truncated pack?): frame by frame, to name exactly what is lost.
        for (const f of frames) await this.store.readFrames(pack, [f], onFrame(pack)).catch(() => {});
      }
    }
    return { bytes, bad: locs.filter(([addr]) => !good.has(addr)).map(([addr]) => addr) };
  }

  private remember(key: string, raw: Uint8Array): void {
    while (this.cached + raw.length > FRAME_CACHE_BYTES && this.frames.size) {
      const [k, v] = this.frames.entries().next().value as [string, Uint8Array];
      this.frames.delete(k);
      this.cached -= v.length;
    }
    this.frames.set(key, raw);
    this.cached += raw.length;
  }
}

/** The children a node's bytes reference: nodes to queue (tree nodes, chunk lists) and leaves to mark. */
function childrenOf(kind: number, bytes: Uint8Array): { nodes: { addr: string; kind: number }[]; leaves: string[] } {
  const nodes: { addr: string; kind: number }[] = [];
  const leaves: string[] = [];
  if (kind === ObjectType.Snapshot) nodes.push({ addr: decodeSnapshot(bytes).root, kind: ObjectType.Tree });
  else if (kind === ObjectType.ChunkList) for (const c of decodeChunkList(bytes).chunks) leaves.push(c.addr);
  else {
    const node = decodeNode(bytes);
    if (node.level > 0) for (const c of (node as { children: { addr: string }[] }).children) nodes.push({ addr: c.addr, kind: ObjectType.Tree });
    else
      for (const e of (node as { entries: Entry[] }).entries) {
        if (e.note) (e.chunked ? nodes.push({ addr: e.note, kind: ObjectType.ChunkList }) : leaves.push(e.note));
        if (e.embedding) leaves.push(e.embedding);
        if (e.position) leaves.push(e.position);
      }
  }
  return { nodes, leaves };
}

const CODEC_OF: Record<number, boolean | Codec> = { [Codec.Stored]: false, [Codec.Gzip]: true, [Codec.Shuffle4Gzip]: Codec.Shuffle4Gzip };

/** One bounded GC step (or a whole small GC). */
export async function runGc(vault: GcVault, baseStore: PackStore, policy: GcPolicy, opts: { budget?: number; now?: () => number } = {}): Promise<GcAnswer> {
  const bucket = new CountingBucket(baseStore.bucket);
  const store = new PackStore(bucket, baseStore.vault);
  const budget = opts.budget ?? R2_BUDGET;
  const now = opts.now ?? (() => Date.now());
  let extraA = 0;
  const used = () => bucket.classA + bucket.classB + extraA;
  // Stop before the budget runs out; but every step does at least one unit of work, so runs finish.
  const reserve = Math.min(20, Math.floor(budget / 4));
  let progressed = false;
  const exhausted = () => progressed && used() >= budget - reserve;
  const lease = crypto.randomUUID();
  const begin = await vault.gcBegin(policy, lease, now());
  if (begin.status === "unknown_vault") throw new ApiError(404, "unknown_vault", `vault ${store.vault} does not exist`);
  if (begin.status === "busy") {
    const z = { bytes: 0, packs: 0, objects: 0 };
    return { before: z, after: z, deletedPacks: 0, repackedPacks: 0, prunedSnapshots: 0, more: true, busy: true, plain: true, r2: { A: 0, B: 0 } };
  }
  const answer: GcAnswer = { before: counts(begin.stats), after: counts(begin.stats), deletedPacks: 0, repackedPacks: 0, prunedSnapshots: 0, more: false, plain: begin.plain, r2: { A: 0, B: 0 } };
  let finished = false;
  try {
    const reader = new NodeReader(store);
    // ---- mark (plain vaults), then sweep; a commit landing meanwhile sends us back to marking.
    for (let rounds = 0; ; rounds++) {
      if (begin.plain) {
        for (;;) {
          if (exhausted()) return (answer.more = true), answer;
          const batch = await vault.gcNext(MARK_BATCH);
          if (!batch.length) {
            if ((await vault.gcCatchUp()) === 0) break;
            continue;
          }
          const located = batch.filter((b) => b.location) as { addr: string; kind: number; location: ObjectLocation }[];
          const unlocated = batch.filter((b) => !b.location).map((b) => b.addr);
          const { bytes, bad } = await reader.read(located.map((b) => [b.addr, b.location]));
          if (unlocated.length || bad.length) {
            // A node we cannot read may hide live descendants: sweeping now could delete them.
            answer.unreadable = [...unlocated, ...bad].slice(0, 20);
            return answer;
          }
          const nodes: { addr: string; kind: number }[] = [];
          const leaves: string[] = [];
          for (const b of located) {
            const c = childrenOf(b.kind, bytes.get(b.addr)!);
            nodes.push(...c.nodes);
            leaves.push(...c.leaves);
          }
          await vault.gcMark(
            batch.map((b) => b.addr),
            nodes,
            leaves,
          );
          progressed = true;
        }
      }
      const sweep = await vault.gcSweep(now(), SWEEP_PACKS);
      extraA += sweep.r2Deletes ?? 0;
      if (sweep.again) {
        if (rounds > 5) return (answer.more = true), answer;
        continue;
      }
      answer.deletedPacks += sweep.deletedPacks;
      answer.prunedSnapshots += sweep.prunedSnapshots;
      if (sweep.morePacks) return (answer.more = true), answer;
      // ---- repack
      for (const id of sweep.repack) {
        if (exhausted()) return (answer.more = true), answer;
        const live = await vault.gcLiveObjects(id, now());
        if (!live || !Object.keys(live).length) continue;
        const { bytes, bad } = await reader.read(Object.entries(live));
        if (bad.length) continue; // damaged: left for repair, never copied
        const b = new PackBuilder();
        for (const [addr, loc] of Object.entries(live)) b.add(loc.type as ObjectType, addr, bytes.get(addr)!, CODEC_OF[loc.frame.codec] ?? true);
        const built = await b.finish(streamCompressor);
        const header = built.bytes.slice(0, decodePackHeader(built.bytes).headerEnd);
        await store.put(built.id, built.bytes);
        const r = await vault.gcReplacePack(id, built.id, built.bytes.length, header, now());
        extraA += r.r2Deletes;
        progressed = true;
        if (r.ok) answer.repackedPacks++;
        else {
          extraA++;
          await vault.gcDeleteUnindexed([built.id]);
        }
      }
      finished = true;
      return answer;
    }
  } finally {
    answer.after = counts(await vault.gcEnd(lease, finished, now()));
    answer.r2 = { A: bucket.classA + extraA, B: bucket.classB };
    if (baseStore.bucket instanceof CountingBucket) {
      baseStore.bucket.addClassA(extraA);
    }
  }
}

/**
 * POST /v1/vaults/:vault/gc: one bounded GC step with the deployed policy; body optional:
 * `{"keep": "head"}` keeps only the head (what /sync/clear does). Answer: GcAnswer.
 */
export async function handleGc(req: VaultRequest): Promise<Response> {
  let body: Record<string, unknown> = {};
  {
    const text = new TextDecoder().decode(await readLimitedBytes(req.request, 4096));
    if (text.trim()) {
      try {
        body = JSON.parse(text);
      } catch {
        throw badRequest("the body must be empty or a JSON object");
      }
      if (!body || typeof body !== "object" || Array.isArray(body)) throw badRequest("the body must be empty or a JSON object");
    }
  }
  if (body.keep !== undefined && body.keep !== "head") throw badRequest('`keep` may only be "head"');
  const base = policyOf(req.env);
  const policy = body.keep === "head" ? headOnlyPolicy(base) : base;
  const answer = await runGc(req.stub, req.store, policy);
  return json(answer);
}

/** GC until done (or `maxSteps` steps): /sync/clear. */
export async function gcToCompletion(vault: GcVault, store: PackStore, policy: GcPolicy, maxSteps = 4): Promise<GcAnswer> {
  let first: GcAnswer | null = null;
  let last: GcAnswer | null = null;
  for (let i = 0; i < maxSteps; i++) {
    last = await runGc(vault, store, policy);
    if (!first && !last.busy) first = last;
    else if (first && !last.busy) {
      first.deletedPacks += last.deletedPacks;
      first.repackedPacks += last.repackedPacks;
      first.prunedSnapshots += last.prunedSnapshots;
      first.after = last.after;
      first.more = last.more;
    }
    if (!last.more || last.busy) break;
  }
  return first ?? last!;
}

