// In-process fixtures for merge tests: snapshots of models written straight into a MemoryStore-backed
// Vault (encodeSnapshot + store.putObjects, no server), merges run, results read back as models.
import { encodeJsonPart, encodeEmbedding, decodeEmbedding, decodeJsonPart } from "../../engine/core/parts.ts";
import { LARGE_BLOB, splitLargeBlob } from "../../engine/core/chunklist.ts";
import { addressOf, type Address } from "../../engine/core/hash.ts";
import { ObjectType, type StoredObject } from "../../engine/core/object.ts";
import { buildTree, iterateTree, type BuiltTree, type Entry } from "../../engine/core/tree.ts";
import { encodeSnapshot } from "../../engine/core/snapshot.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { Vault } from "../../engine/vault/vault.ts";
import { mergeTrees, type TreeMerge } from "../../engine/sync/merge.ts";
import type { JsonObject } from "../../engine/core/canonical.ts";
import type { Model, ModelEntry } from "./generators.ts";

export async function newVault(device = "dev-test"): Promise<Vault> {
  return Vault.open({ store: new MemoryStore(), device });
}

/** The objects and entry of one model entry, encoded as the Vault encodes them. */
export function encodeEntry(id: string, e: ModelEntry, objects: StoredObject[]): Entry {
  const entry: Entry = { id };
  if (e.note) {
    const bytes = encodeJsonPart(e.note);
    if (bytes.length <= LARGE_BLOB) {
      entry.note = addressOf(bytes);
      objects.push({ type: ObjectType.Blob, addr: entry.note, bytes });
    } else {
      const split = splitLargeBlob(bytes);
      for (const c of split.chunks) objects.push({ type: ObjectType.Blob, addr: c.addr, bytes: c.bytes });
      objects.push({ type: ObjectType.ChunkList, addr: split.listAddr, bytes: split.list });
      entry.note = split.listAddr;
      entry.chunked = true;
    }
  }
  if (e.embedding) {
    const bytes = encodeEmbedding(e.embedding);
    entry.embedding = addressOf(bytes);
    entry.dims = e.embedding.length;
    objects.push({ type: ObjectType.Blob, addr: entry.embedding, bytes });
  }
  if (e.position) {
    const bytes = encodeJsonPart(e.position);
    entry.position = addressOf(bytes);
    objects.push({ type: ObjectType.Blob, addr: entry.position, bytes });
  }
  return entry;
}

export interface WrittenSnapshot {
  snapshot: Address;
  root: Address;
}

let clock = 0;
/** A distinct, increasing time per snapshot written (times only order ancestry walks). */
export function nextTime(): string {
  clock++;
  return new Date(Date.UTC(2026, 0, 1) + clock * 1000).toISOString();
}

/** Writes a model as a snapshot with these parents into the vault's store. */
export async function writeModel(v: Vault, model: Model, parents: Address[] = [], device = "dev-test", time = nextTime()): Promise<WrittenSnapshot> {
  const objects: StoredObject[] = [];
  const entries = [...model].map(([id, e]) => encodeEntry(id, e, objects));
  const tree = buildTree(entries);
  for (const [addr, bytes] of tree.nodes) objects.push({ type: ObjectType.Tree, addr, bytes });
  const snap = encodeSnapshot({ parents, root: tree.root, device, time, stats: { notes: 0, embeddings: 0, positions: 0 } });
  objects.push({ type: ObjectType.Snapshot, addr: snap.addr, bytes: snap.bytes });
  await v.store.putObjects(objects);
  return { snapshot: snap.addr, root: tree.root };
}

/** Reads a tree (stored, staged, or just built) back as a model. */
export async function readTree(v: Vault, root: Address, tree?: BuiltTree): Promise<Model> {
  const load = async (a: Address) => tree?.nodes.get(a) ?? v.load(a);
  const m: Model = new Map();
  for await (const e of iterateTree(root, load)) {
    const me: ModelEntry = {};
    if (e.note) me.note = decodeJsonPart(await v.readPart(e.note, e.chunked), "note");
    if (e.embedding) me.embedding = [...decodeEmbedding(await v.load(e.embedding))];
    if (e.position) me.position = decodeJsonPart(await v.load(e.position), "position");
    m.set(e.id, me);
  }
  return m;
}

export async function readEntries(v: Vault, root: Address, tree?: BuiltTree): Promise<Map<string, Entry>> {
  const load = async (a: Address) => tree?.nodes.get(a) ?? v.load(a);
  const m = new Map<string, Entry>();
  for await (const e of iterateTree(root, load)) m.set(e.id, e);
  return m;
}

export interface MergeRun {
  v: Vault;
  base: WrittenSnapshot | null;
  a: WrittenSnapshot;
  b: WrittenSnapshot;
  merge: TreeMerge;
  result: Model;
}

/** Writes base, a and b (a and b children of base) into a fresh vault and merges a with b. */
export async function runMerge(base: Model | null, a: Model, b: Model, deviceA = "dev-a", deviceB = "dev-b"): Promise<MergeRun> {
  const v = await newVault();
  const bs = base ? await writeModel(v, base, [], "dev-base") : null;
  const as = await writeModel(v, a, bs ? [bs.snapshot] : [], deviceA);
  const bsn = await writeModel(v, b, bs ? [bs.snapshot] : [], deviceB);
  const merge = await mergeTrees(v, bs?.root ?? null, { root: as.root, device: deviceA }, { root: bsn.root, device: deviceB });
  return { v, base: bs, a: as, b: bsn, merge, result: await readTree(v, merge.tree.root, merge.tree) };
}

/** A model as a plain sorted object, for toEqual and readable failure output. */
export function plain(m: Model): Record<string, ModelEntry> {
  return Object.fromEntries([...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

export function note(title: string, body: string, updated?: string | number, extra: JsonObject = {}): JsonObject {
  const n: JsonObject = { title, body, ...extra };
  if (updated !== undefined) n.updated = updated;
  return n;
}

export const T0 = Date.UTC(2026, 0, 1);

/** Snapshots with a fixed small tree, differing by parents, time and device: enough for ancestry. */
export async function graph(v: Vault, nodes: { name: string; parents: string[]; time?: number; device?: string }[]): Promise<Record<string, Address>> {
  const { root } = await writeModel(v, new Map([["n", { note: { body: "x" } }]]));
  const addr: Record<string, Address> = {};
  const objects: StoredObject[] = [];
  nodes.forEach((n, i) => {
    const s = encodeSnapshot({
      parents: n.parents.map((p) => addr[p]),
      root,
      device: n.device ?? "dev",
      time: new Date(n.time ?? T0 + i * 1000).toISOString(),
      stats: { notes: 1, embeddings: 0, positions: 0 },
      message: n.name,
    });
    addr[n.name] = s.addr;
    objects.push({ type: ObjectType.Snapshot, addr: s.addr, bytes: s.bytes });
  });
  await v.store.putObjects(objects);
  return addr;
}


/**
 * Makes a vault's working state equal to a model through the app-facing API (putNote, putEmbedding,
 * putPosition, delete): the real-device step matching applyEdit() on the model, for the model-based
 * multi-device test. Parts already equal are left alone.
 */
export async function writeWorking(v: Vault, model: Model): Promise<void> {
  for (const id of v.ids()) if (!model.has(id)) await v.delete(id);
  for (const [id, e] of model) {
    const objects: StoredObject[] = [];
    const want = encodeEntry(id, e, objects);
    const have = v.entry(id);
    if (want.note !== have?.note) {
      if (e.note) await v.putNote(id, e.note);
      else await v.delete(id, "note");
    }
    if (want.embedding !== have?.embedding) {
      if (e.embedding) await v.putEmbedding(id, e.embedding);
      else await v.delete(id, "embedding");
    }
    if (want.position !== have?.position) {
      if (e.position) await v.putPosition(id, e.position);
      else await v.delete(id, "position");
    }
  }
}
