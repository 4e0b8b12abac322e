// The commit step of a push: prove the new snapshot is whole, then move the head.
//
// Plain vaults: the snapshot object is read and decoded, its parents must be the commit's, and its
// tree is walked from the root: every tree node, chunk list and blob it references must be stored.
// Nodes the vault already proved complete (by an earlier commit) are not walked again, so the cost
// follows the size of the change, not of the vault. Encrypted vaults: the server cannot read
// objects, so only the snapshot object and the listed packs must be stored.
// The head then moves in one Durable Object transaction (compare-and-swap on `expect`).
import { FormatError } from "../engine/core/bytes.ts";
import { CanonicalJsonError } from "../engine/core/canonical.ts";
import { decodeChunkList } from "../engine/core/chunklist.ts";
import { decodeSnapshot, type Snapshot } from "../engine/core/snapshot.ts";
import { decodeNode, type Entry } from "../engine/core/tree.ts";
import type { VaultRequest } from "./context.ts";
import { ApiError } from "./http.ts";
import { readObjects } from "./object-reader.ts";
import type { Head, ObjectLocation } from "./vault-types.ts";

/**
 * What the commit reads of the push request carrying it (worker/push.ts PushSession has it): the
 * push depends on the commit step, never the other way round.
 */
export interface CommitSession {
  readonly req: VaultRequest;
  /** Plain vault: the snapshot is decoded and its tree walked. */
  readonly plain: boolean;
  /** Packs this request carried, and those it stored (still uploading: visible to it alone). */
  readonly packs: readonly { id: string }[];
  readonly own: string[];
  /** Structural objects of this request's packs, by address (read from memory, not R2). */
  readonly small: ReadonlyMap<string, Uint8Array>;
}

export interface CommitInput {
  snapshot: string;
  parents: string[];
  expect: string | null;
  packs: string[];
}

/** Nodes per Durable Object lookup during the walk (their locations come back with the answer). */
const NODE_BATCH = 500;
/** Leaves (blobs) per existence check. */
const LEAF_BATCH = 10_000;
/** How many missing addresses an error lists. */
const MISSING_SHOWN = 20;

const badCommit = (m: string) => new ApiError(400, "bad_commit", m);

function missingObjects(missing: string[]): ApiError {
  return new ApiError(400, "missing_objects", `the snapshot references ${missing.length >= MISSING_SHOWN ? "at least " : ""}${missing.length} object(s) the vault does not hold; upload them and retry`, {
    missing: missing.slice(0, MISSING_SHOWN),
  });
}

function headMoved(head: Head | null): ApiError {
  return new ApiError(409, "head_moved", "the vault's head is not `expect`: pull, merge, and commit again", { head });
}

export async function commitPush(session: CommitSession, c: CommitInput): Promise<{ seq: number; head: Head }> {
  // A garbage collection that removed or moved objects while we walked: walk again (gc_raced).
  for (let attempt = 1; ; attempt++) {
    const r = await commitOnce(session, c);
    if (r !== "gc_raced") return r;
    if (attempt >= 3) throw new ApiError(503, "gc_raced", "garbage collection kept moving objects during this commit; nothing was committed, retry");
  }
}

async function commitOnce(session: CommitSession, c: CommitInput): Promise<{ seq: number; head: Head } | "gc_raced"> {
  const { stub } = session.req;
  const gcEpoch = await stub.gcEpoch();
  // Cheap early answer for a stale `expect`; the compare-and-swap below is the one that counts.
  const now = await stub.info();
  if ((now?.head?.snapshot ?? null) !== c.expect) throw headMoved(now?.head ?? null);

  let snapshot: Snapshot | null = null;
  let walk: WalkResult = { completeNodes: [], pendingPacks: [] };
  if (session.plain) {
    const bytes = await loadOne(session, c.snapshot);
    try {
      snapshot = decodeSnapshot(bytes);
    } catch (e) {
      if (e instanceof FormatError || e instanceof CanonicalJsonError) throw badCommit(`object ${c.snapshot} is not a snapshot: ${e.message}`);
      throw e;
    }
    const a = [...new Set(snapshot.parents)].sort();
    const b = [...c.parents].sort();
    if (a.length !== b.length || a.some((p, i) => p !== b[i])) throw badCommit(`commit.parents ${JSON.stringify(b)} differ from the snapshot's parents ${JSON.stringify(a)}`);
    walk = await walkTree(session, snapshot.root);
  }

  const r = await stub.commit({
    snapshot: c.snapshot,
    parents: c.parents,
    expect: c.expect,
    packs: [...new Set([...c.packs, ...session.packs.map((p) => p.id), ...walk.pendingPacks])],
    own: session.own,
    completeNodes: walk.completeNodes,
    gcEpoch,
    ...(snapshot ? { root: snapshot.root, device: snapshot.device, time: snapshot.time, stats: { ...snapshot.stats } } : {}),
  });
  if (r.ok) return { seq: r.seq, head: r.head };
  switch (r.reason) {
    case "head_moved":
      throw headMoved(r.head);
    case "missing_packs":
      throw new ApiError(400, "missing_objects", `pack(s) ${r.packs.join(", ")} listed by the commit are not stored; upload them again`, { missing: [], packs: r.packs });
    case "missing_snapshot":
      throw missingObjects([c.snapshot]);
    case "not_a_snapshot":
      throw badCommit(`object ${c.snapshot} is not stored as a snapshot`);
    case "already_committed":
      throw badCommit(`snapshot ${c.snapshot} is already in the log (seq ${r.seq})`);
    case "gc_raced":
      return "gc_raced";
  }
}

/** One structural object's bytes: from this request's packs if seen there, else from R2. */
async function loadOne(session: CommitSession, addr: string): Promise<Uint8Array> {
  const cached = session.small.get(addr);
  if (cached) return cached;
  const found = await session.req.stub.lookup({ nodes: [addr], leaves: [], own: session.own });
  const loc = found.locations[addr];
  if (!loc) throw missingObjects([addr]);
  return (await readObjects(session.req.store, { [addr]: loc }, true)).get(addr)!;
}

interface WalkResult {
  completeNodes: string[];
  pendingPacks: string[];
}

type NodeKind = "tree" | "chunklist";

/**
 * Breadth-first over the part of the tree not yet proven complete, a batch of nodes at a time:
 * one lookup per batch (existence, completeness, locations), the incomplete ones read (request
 * memory or ranged R2 reads) and decoded, their children queued, their blobs checked in batches.
 */
async function walkTree(session: CommitSession, root: string): Promise<WalkResult> {
  const { stub, store } = session.req;
  const own = session.own;
  const queue: { addr: string; kind: NodeKind }[] = [{ addr: root, kind: "tree" }];
  const seen = new Map<string, NodeKind>([[root, "tree"]]);
  let leaves = new Set<string>();
  const missing: string[] = [];
  const completeNodes: string[] = [];
  const pendingPacks = new Set<string>();

  const checkLeaves = async () => {
    if (!leaves.size) return;
    const r = await stub.lookup({ nodes: [], leaves: [...leaves], own });
    leaves = new Set();
    missing.push(...r.missing);
    for (const p of r.pendingPacks) pendingPacks.add(p);
  };
  const enqueue = (addr: string, kind: NodeKind) => {
    const before = seen.get(addr);
    if (before === kind) return;
    if (before) throw badCommit(`object ${addr} is referenced both as a tree node and as a chunk list`);
    seen.set(addr, kind);
    queue.push({ addr, kind });
  };
  const addEntry = (e: Entry) => {
    if (e.note) {
      if (e.chunked) enqueue(e.note, "chunklist");
      else leaves.add(e.note);
    }
    if (e.embedding) leaves.add(e.embedding);
    if (e.position) leaves.add(e.position);
  };

  while (queue.length && missing.length < MISSING_SHOWN) {
    const batch = queue.splice(0, NODE_BATCH);
    const kinds = new Map(batch.map((b) => [b.addr, b.kind]));
    const r = await stub.lookup({ nodes: batch.map((b) => b.addr), leaves: [], own });
    missing.push(...r.missing);
    for (const p of r.pendingPacks) pendingPacks.add(p);
    const fromR2: Record<string, ObjectLocation> = {};
    const bytes = new Map<string, Uint8Array>();
    for (const addr of Object.keys(r.locations)) {
      const cached = session.small.get(addr);
      if (cached) bytes.set(addr, cached);
      else fromR2[addr] = r.locations[addr];
    }
    for (const [addr, b] of await readObjects(store, fromR2, true)) bytes.set(addr, b);
    for (const [addr, b] of bytes) {
      const kind = kinds.get(addr)!;
      try {
        if (kind === "chunklist") {
          for (const c of decodeChunkList(b).chunks) leaves.add(c.addr);
        } else {
          const node = decodeNode(b);
          if (node.level === 0) for (const e of (node as { entries: Entry[] }).entries) addEntry(e);
          else for (const c of (node as { children: { addr: string }[] }).children) enqueue(c.addr, "tree");
        }
      } catch (e) {
        if (e instanceof FormatError) throw badCommit(`object ${addr} is referenced as a ${kind === "tree" ? "tree node" : "chunk list"} but is not one: ${e.message}`);
        throw e;
      }
      completeNodes.push(addr);
      if (leaves.size >= LEAF_BATCH) await checkLeaves();
    }
  }
  if (missing.length < MISSING_SHOWN) await checkLeaves();
  if (missing.length) throw missingObjects(missing);
  return { completeNodes, pendingPacks: [...pendingPacks] };
}
