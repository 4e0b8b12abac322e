// The engine's Web Worker: the CPU-heavy work of a sync, off the page's main thread.
//   gzip / gunzip   frame compression (CompressionStream, else fflate)
//   digest          SHA-256 of a pack (its id; WebCrypto, else @noble/hashes)
//   verifyPack      a downloaded pack: layout, every frame inflated, every object's SHA-256
//   stage           notes -> canonical JSON, embeddings, chunks, addresses, packs (bulk imports)
// Built as its own module (dist/.../worker.js); the page talks to it through client.ts.
import { addressOf, type Address } from "../core/hash.ts";
import { PackBuilder, Codec } from "../core/pack.ts";
import { webCompressor, addressAsync } from "./web-compress.ts";
import { verifyPack } from "./verify-pack.ts";
import { ObjectType, type StoredObject } from "../core/object.ts";
import { LARGE_BLOB, splitLargeBlob } from "../core/chunklist.ts";
import { assertNoteId, encodeEmbedding, encodeJsonPart } from "../core/parts.ts";
import type { JsonObject } from "../core/canonical.ts";
import type { Entry } from "../core/tree.ts";
import type { NoteInput, StageResult, StagedPack, WorkerRequest, WorkerResponse } from "./protocol.ts";

declare const self: { onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null; postMessage(msg: WorkerResponse, transfer?: Transferable[]): void };

const c = webCompressor;

function buffersOf(...arrays: Uint8Array[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const a of arrays) if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) seen.add(a.buffer as ArrayBuffer);
  return [...seen];
}

async function stage(notes: NoteInput[], packTarget: number): Promise<StageResult> {
  const entries: StageResult["entries"] = [];
  const rejected: StageResult["rejected"] = [];
  const packs: StagedPack[] = [];
  let b = new PackBuilder();
  let objs: StoredObject[] = [];
  let est = 0;
  const flush = async () => {
    if (!objs.length) return;
    const built = await b.finish(c);
    const total = objs.reduce((n, o) => n + o.bytes.length, 0);
    const data = new Uint8Array(total);
    const starts: number[] = [];
    let at = 0;
    for (const o of objs) {
      starts.push(at);
      data.set(o.bytes, at);
      at += o.bytes.length;
    }
    packs.push({ id: built.id, bytes: built.bytes, data, addrs: objs.map((o) => o.addr), types: objs.map((o) => o.type), starts });
    b = new PackBuilder();
    objs = [];
    est = 0;
  };
  const add = async (type: ObjectType, bytes: Uint8Array, codec: boolean | Codec): Promise<Address> => {
    const addr = addressOf(bytes);
    if (!b.has(addr)) {
      b.add(type, addr, bytes, codec);
      objs.push({ type, addr, bytes });
      est += codec === false ? bytes.length : codec === true ? bytes.length * 0.5 : bytes.length * 0.9;
      if (est >= packTarget || b.full) await flush();
    }
    return addr;
  };
  for (const n of notes) {
    try {
      assertNoteId(n.id);
      const e: Partial<Entry> & { id: string } = { id: n.id };
      if (n.note !== undefined) {
        const bytes = encodeJsonPart(n.note);
        if (bytes.length <= LARGE_BLOB) {
          e.note = await add(ObjectType.Blob, bytes, true);
          e.chunked = undefined;
        } else {
          const split = splitLargeBlob(bytes);
          for (const ch of split.chunks) await add(ObjectType.Blob, ch.bytes, true);
          e.note = await add(ObjectType.ChunkList, split.list, false);
          e.chunked = true;
        }
      }
      if (n.embedding !== undefined) {
        const bytes = encodeEmbedding(n.embedding);
        if (bytes.length === 0) throw new RangeError("empty embedding");
        e.embedding = await add(ObjectType.Blob, bytes, Codec.Shuffle4Gzip);
        e.dims = bytes.length / 4;
      }
      if (n.position !== undefined) e.position = await add(ObjectType.Blob, encodeJsonPart(n.position as JsonObject), true);
      entries.push(e);
    } catch (err) {
      rejected.push({ id: String(n.id), error: (err as Error).message });
    }
  }
  await flush();
  return { entries, packs, rejected };
}

async function handle(m: WorkerRequest): Promise<{ result: unknown; transfer: Transferable[] }> {
  switch (m.op) {
    case "ping":
      return { result: "pong", transfer: [] };
    case "gzip": {
      const out = await c.gzip(m.data);
      return { result: out, transfer: buffersOf(out) };
    }
    case "gunzip": {
      const out = await c.gunzip(m.data, m.rawLength);
      return { result: out, transfer: buffersOf(out) };
    }
    case "digest":
      return { result: await addressAsync(m.data), transfer: [] };
    case "verifyPack": {
      const r = await verifyPack(m.pack, c);
      return { result: { ...r, pack: m.pack }, transfer: buffersOf(m.pack, ...r.inflated.map((x) => x.data)) };
    }
    case "stage": {
      let notes = m.notes ?? [];
      if (m.json !== undefined) {
        const text = typeof m.json === "string" ? m.json : await m.json.text();
        const parsed = JSON.parse(text) as unknown;
        notes = (Array.isArray(parsed) ? parsed : (parsed as { notes?: unknown[] })?.notes ?? []) as NoteInput[];
      }
      const r = await stage(notes, m.packTarget);
      return { result: r, transfer: r.packs.flatMap((p) => buffersOf(p.bytes, p.data)) };
    }
  }
}

self.onmessage = (e) => {
  const m = e.data;
  handle(m).then(
    ({ result, transfer }) => self.postMessage({ id: m.id, ok: true, result }, transfer),
    (err: Error) => self.postMessage({ id: m.id, ok: false, error: { name: err?.name ?? "Error", message: err?.message ?? String(err) } }),
  );
};
