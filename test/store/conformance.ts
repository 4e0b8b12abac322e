// The LocalStore conformance suite: what every store (memory, file system, IndexedDB) must do,
// written once and run against each, in Node (test/store/stores.test.ts) and in real Chromium
// (test/browser/store-chromium.test.ts). It imports no test framework, so that the same cases run
// unchanged in a browser page: `storeConformance(harness)` returns cases; a runner calls them.
import type { LocalStore } from "../../engine/store/store.ts";
import { CorruptObjectError } from "../../engine/store/store.ts";
import { addressOf, type Address } from "../../engine/core/hash.ts";
import { ObjectType, type StoredObject } from "../../engine/core/object.ts";
import { Codec, PackBuilder } from "../../engine/core/pack.ts";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { utf8 } from "../../engine/core/bytes.ts";
import { Vault } from "../../engine/vault/vault.ts";

export interface StoreHarness {
  /** Shown in case names, e.g. "IdbStore". */
  name: string;
  /** A fresh, empty store. */
  create(): Promise<LocalStore>;
  /** Closes `store` and opens the same storage again. Omitted: the store does not persist. */
  reopen?(store: LocalStore): Promise<LocalStore>;
  /**
   * Flips one bit of `addr`'s bytes where the store keeps them (the object was put in a pack with
   * stored, uncompressed frames) and returns the store to read it back from (the same or reopened).
   */
  corrupt(store: LocalStore, addr: Address): Promise<LocalStore>;
  /** Closes the store and removes its storage. */
  dispose(store: LocalStore): Promise<void>;
}

export interface ConformanceCase {
  name: string;
  /** Resolves when the case passed or does not apply (then it returns "skipped: why"). */
  run(): Promise<void | string>;
}

// ---- a tiny assertion kit (no test framework: the cases also run in a browser page) ----------

export class ConformanceFailure extends Error {
  override name = "ConformanceFailure";
}

function ok(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new ConformanceFailure(msg);
}

function eq<T>(actual: T, expected: T, msg: string): void {
  if (actual !== expected) throw new ConformanceFailure(`${msg}: expected ${String(expected)}, got ${String(actual)}`);
}

function bytesEq(actual: Uint8Array | undefined, expected: Uint8Array, msg: string): void {
  ok(actual instanceof Uint8Array, `${msg}: expected bytes, got ${actual === undefined ? "undefined" : typeof actual}`);
  eq(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < actual.length; i++) if (actual[i] !== expected[i]) throw new ConformanceFailure(`${msg}: differs at byte ${i}`);
}

/** JSON equality, object key order ignored (notes come back in canonical key order). */
function jsonEq(actual: unknown, expected: unknown, msg: string): void {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  eq(JSON.stringify(sorted(actual)), JSON.stringify(sorted(expected)), msg);
}

async function rejects(p: Promise<unknown>, msg: string): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new ConformanceFailure(`${msg}: expected a rejection`);
}

// ---- test data ---------------------------------------------------------------------------------

/** Deterministic bytes (xorshift32), so failures reproduce. */
function bytesOf(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A note-like text blob (compressible) */
function textOf(seed: number, length: number): Uint8Array {
  const words = ["penumbra", "note", "sync", "merkle", "frame", "pack", "vault", "device", "\n"];
  let s = "";
  let x = seed + 1;
  while (s.length < length) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + " ";
  }
  return utf8(s.slice(0, length));
}

function obj(bytes: Uint8Array, type: ObjectType = ObjectType.Blob): StoredObject {
  return { type, addr: addressOf(bytes), bytes };
}

function blobs(n: number, seed = 1, size = (i: number) => 20 + ((i * 37) % 500)): StoredObject[] {
  return Array.from({ length: n }, (_, i) => obj(i % 2 ? textOf(seed * 100_003 + i, size(i)) : bytesOf(seed * 100_003 + i, size(i))));
}

/** A pack of these objects as the engine builds them: text gzip, embeddings shuffle4, trees stored. */
async function packOf(objects: readonly StoredObject[], codec: (o: StoredObject, i: number) => boolean | Codec = (_, i) => [true, Codec.Shuffle4Gzip, false][i % 3], frameTarget?: number) {
  const b = new PackBuilder(frameTarget);
  objects.forEach((o, i) => b.add(o.type, o.addr, o.bytes, codec(o, i)));
  return b.finish(fflateCompressor);
}

// ---- the cases ---------------------------------------------------------------------------------

export function storeConformance(h: StoreHarness): ConformanceCase[] {
  /** Runs `body` on a fresh store and always disposes of it (even the reopened one). */
  const withStore = (body: (s: LocalStore, set: (s: LocalStore) => void) => Promise<void | string>) => async () => {
    let store = await h.create();
    try {
      return await body(store, (s) => (store = s));
    } finally {
      await h.dispose(store);
    }
  };

  const cases: [string, (s: LocalStore, set: (s: LocalStore) => void) => Promise<void | string>][] = [
    [
      "an empty store holds nothing",
      async (s) => {
        const a = addressOf(utf8("absent"));
        eq(await s.getObject(a), undefined, "getObject of an unknown address");
        eq((await s.hasObjects([a])).size, 0, "hasObjects");
        eq((await s.hasObjects([])).size, 0, "hasObjects of none");
        eq(await s.getPack(a), undefined, "getPack of an unknown id");
        if (s.packSize) eq(await s.packSize(a), undefined, "packSize of an unknown id");
        eq(await s.getMeta("refs"), undefined, "getMeta of an unknown key");
      },
    ],
    [
      "objects put without a pack read back byte for byte (empty, small, 1 MiB)",
      async (s) => {
        const objs = [...blobs(50), obj(new Uint8Array(0)), obj(bytesOf(9, 1024 * 1024)), obj(textOf(8, 300_000)), obj(bytesOf(3, 70), ObjectType.Tree)];
        await s.putObjects(objs);
        for (const o of objs) bytesEq(await s.getObject(o.addr), o.bytes, `object ${o.addr.slice(0, 8)}`);
        eq((await s.hasObjects(objs.map((o) => o.addr))).size, new Set(objs.map((o) => o.addr)).size, "hasObjects");
      },
    ],
    [
      "objects put with a pack read back, and the pack comes back byte for byte",
      async (s) => {
        const objs = blobs(300, 2, (i) => 100 + ((i * 997) % 3000));
        const pack = await packOf(objs, undefined, 16 * 1024); // many frames of every codec
        await s.putObjects(objs, pack.bytes);
        for (const o of objs) bytesEq(await s.getObject(o.addr), o.bytes, `object ${o.addr.slice(0, 8)}`);
        bytesEq(await s.getPack(pack.id), pack.bytes, "getPack");
        eq(addressOf((await s.getPack(pack.id)) as Uint8Array), pack.id, "the pack hashes to its id");
        if (s.packSize) eq(await s.packSize(pack.id), pack.bytes.length, "packSize");
      },
    ],
    [
      "a released pack's objects stay readable",
      async (s) => {
        const objs = blobs(40, 3);
        const pack = await packOf(objs);
        await s.putObjects(objs, pack.bytes);
        await s.releasePack(pack.id);
        for (const o of objs) bytesEq(await s.getObject(o.addr), o.bytes, "after releasePack");
        const again = await s.getPack(pack.id);
        ok(again === undefined || addressOf(again) === pack.id, "getPack after release: undefined or the same pack");
      },
    ],
    [
      "hasObjects answers exactly the subset held (5,000 held, 5,000 not)",
      async (s) => {
        const held = Array.from({ length: 5000 }, (_, i) => obj(bytesOf(400_000 + i, 24)));
        for (let i = 0; i < held.length; i += 1000) {
          const part = held.slice(i, i + 1000);
          await s.putObjects(part, (await packOf(part)).bytes);
        }
        const absent = Array.from({ length: 5000 }, (_, i) => addressOf(bytesOf(500_000 + i, 24)));
        const asked = held.flatMap((o, i) => [o.addr, absent[i]]);
        const got = await s.hasObjects(asked);
        eq(got.size, 5000, "count");
        for (const o of held) ok(got.has(o.addr), `held ${o.addr.slice(0, 8)} reported`);
        for (const a of absent) ok(!got.has(a), `absent ${a.slice(0, 8)} not reported`);
      },
    ],
    [
      "putting the same objects again, or in a second pack, changes nothing",
      async (s) => {
        const objs = blobs(30, 6);
        await s.putObjects(objs);
        await s.putObjects(objs);
        const p1 = await packOf(objs);
        await s.putObjects(objs, p1.bytes);
        await s.putObjects(objs, p1.bytes);
        const p2 = await packOf([...objs].reverse(), () => true); // same objects, another pack
        await s.putObjects(objs, p2.bytes);
        for (const o of objs) bytesEq(await s.getObject(o.addr), o.bytes, "object");
        bytesEq(await s.getPack(p1.id), p1.bytes, "first pack");
        bytesEq(await s.getPack(p2.id), p2.bytes, "second pack");
      },
    ],
    [
      "the store keeps copies: changing the caller's buffers afterwards changes nothing",
      async (s) => {
        const bytes = textOf(7, 5000);
        const copy = bytes.slice();
        const o = obj(bytes);
        await s.putObjects([o]);
        bytes.fill(0);
        bytesEq(await s.getObject(o.addr), copy, "object put without a pack");

        const objs = blobs(20, 7);
        const copies = objs.map((x) => x.bytes.slice());
        const pack = await packOf(objs);
        await s.putObjects(objs, pack.bytes);
        for (const x of objs) x.bytes.fill(0);
        for (let i = 0; i < objs.length; i++) bytesEq(await s.getObject(addressOf(copies[i])), copies[i], "object put with a pack");
        bytesEq(await s.getPack(pack.id), pack.bytes, "pack");
      },
    ],
    [
      "a corrupted object is refused on read with CorruptObjectError",
      async (s, set) => {
        const objs = blobs(10, 8);
        const pack = await packOf(objs, () => false); // stored frames: a flipped bit reaches the object
        await s.putObjects(objs, pack.bytes);
        const victim = objs[4];
        const s2 = await h.corrupt(s, victim.addr);
        set(s2);
        const err = await rejects(s2.getObject(victim.addr), "getObject of a corrupted object");
        ok(err instanceof CorruptObjectError, `expected CorruptObjectError, got ${err.name}: ${err.message}`);
        bytesEq(await s2.getObject(objs[3].addr), objs[3].bytes, "a neighbour is still fine");
      },
    ],
    [
      "meta: JSON values round-trip, a key is replaced whole, unknown keys are undefined",
      async (s) => {
        const refs = { head: "a".repeat(64), base: null, unpushed: ["b".repeat(64)], unpushedBytes: 12 };
        await s.setMeta("refs", refs);
        await s.setMeta("device", "dev-0123");
        await s.setMeta("n", 42);
        await s.setMeta("list", [1, "two", { three: 3 }, null]);
        await s.setMeta("my.key-1_x", { nested: { ok: true, s: "é\u{1F600}\n" } });
        jsonEq(await s.getMeta("refs"), refs, "refs");
        eq(await s.getMeta("device"), "dev-0123", "string");
        eq(await s.getMeta("n"), 42, "number");
        jsonEq(await s.getMeta("list"), [1, "two", { three: 3 }, null], "array");
        jsonEq(await s.getMeta("my.key-1_x"), { nested: { ok: true, s: "é\u{1F600}\n" } }, "nested");
        await s.setMeta("refs", { head: null });
        jsonEq(await s.getMeta("refs"), { head: null }, "replaced, not merged");
        eq(await s.getMeta("nope"), undefined, "unknown key");
      },
    ],
    [
      "meta: concurrent writes to one key leave one whole value; other keys are untouched",
      async (s) => {
        await s.setMeta("other", { keep: true });
        const values = Array.from({ length: 20 }, (_, i) => ({ writer: i, payload: "x".repeat(1000 + i), list: Array.from({ length: 50 }, () => i) }));
        await Promise.all(values.map((v) => s.setMeta("refs", v)));
        const got = (await s.getMeta<(typeof values)[number]>("refs")) as (typeof values)[number];
        ok(got && typeof got.writer === "number", "a value is there");
        jsonEq(got, values[got.writer], "the value is one writer's, whole");
        jsonEq(await s.getMeta("other"), { keep: true }, "other key");
      },
    ],
    [
      "meta values are copies of what was set",
      async (s) => {
        const v = { list: [1, 2] };
        await s.setMeta("k", v);
        v.list.push(3);
        jsonEq(await s.getMeta("k"), { list: [1, 2] }, "after the caller changed its object");
        const got = (await s.getMeta<{ list: number[] }>("k")) as { list: number[] };
        got.list.push(9);
        jsonEq(await s.getMeta("k"), { list: [1, 2] }, "after changing what getMeta returned");
      },
    ],
    [
      "concurrent puts and reads",
      async (s) => {
        const groups = Array.from({ length: 8 }, (_, g) => blobs(60, 20 + g));
        await Promise.all(
          groups.map(async (objs, g) => {
            if (g % 2) await s.putObjects(objs);
            else await s.putObjects(objs, (await packOf(objs)).bytes);
            await Promise.all(objs.map(async (o) => bytesEq(await s.getObject(o.addr), o.bytes, "read after put")));
          }),
        );
        const all = groups.flat();
        eq((await s.hasObjects(all.map((o) => o.addr))).size, all.length, "all held");
      },
    ],
    [
      "everything persists across close and reopen",
      async (s, set) => {
        if (!h.reopen) return "skipped: this store does not persist";
        const objs = blobs(100, 30);
        const pack = await packOf(objs);
        await s.putObjects(objs, pack.bytes);
        const loose = blobs(10, 31);
        await s.putObjects(loose);
        await s.setMeta("refs", { head: objs[0].addr, base: null, unpushed: [pack.id] });
        const s2 = await h.reopen(s);
        set(s2);
        for (const o of [...objs, ...loose]) bytesEq(await s2.getObject(o.addr), o.bytes, "object after reopen");
        eq((await s2.hasObjects([...objs, ...loose].map((o) => o.addr))).size, 110, "hasObjects after reopen");
        bytesEq(await s2.getPack(pack.id), pack.bytes, "pack after reopen");
        jsonEq(await s2.getMeta("refs"), { head: objs[0].addr, base: null, unpushed: [pack.id] }, "meta after reopen");
      },
    ],
    [
      "a vault on the store: notes committed, read back, and kept across a reopen",
      async (s, set) => {
        const v = await Vault.open({ store: s, device: "dev-conformance" });
        for (let i = 0; i < 200; i++) {
          await v.putNote(`n${i}`, { title: `Note ${i}`, body: "line\n".repeat(i % 7) + (i === 5 ? "x".repeat(100_000) : "") });
          if (i % 3 === 0) await v.putEmbedding(`n${i}`, new Float32Array(384).map((_, k) => Math.sin(i + k)));
          if (i % 4 === 0) await v.putPosition(`n${i}`, { x: i, y: -i, z: 0.5 });
        }
        const { snapshot } = await v.commit();
        ok(snapshot, "a snapshot");
        let store = s;
        if (h.reopen) {
          store = await h.reopen(s);
          set(store);
        }
        const w = await Vault.open({ store });
        eq(w.device, "dev-conformance", "device id kept");
        eq(w.refs.head, snapshot, "head kept");
        eq(w.size, 200, "notes");
        jsonEq(await w.getNote("n7"), { title: "Note 7", body: "" }, "a note");
        eq(((await w.getNote("n5")) as { body: string }).body.length, 100_025, "a chunked note");
        eq((await w.getEmbedding("n3"))?.[10], Math.fround(Math.sin(13)), "an embedding value");
        jsonEq(await w.getPosition("n8"), { x: 8, y: -8, z: 0.5 }, "a position");
        for (const id of w.refs.unpushed) ok((await store.getPack(id)) !== undefined, `unpushed pack ${id.slice(0, 8)} is there for the push`);
      },
    ],
  ];
  return cases.map(([name, body]) => ({ name: `${h.name}: ${name}`, run: withStore(body) }));
}
