// The store conformance suite (conformance.ts) against every store, in Node: MemoryStore, FsStore,
// and IdbStore over fake-indexeddb. The same suite runs against IdbStore in Chromium in
// test/browser/store-chromium.test.ts.
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { storeConformance, type StoreHarness } from "./conformance.ts";
import { idbHarness } from "./idb-harness.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { FsStore } from "../../engine/node/fs-store.ts";
import { decodePackHeader, PackBuilder } from "../../engine/core/pack.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { toHex, utf8 } from "../../engine/core/bytes.ts";
import type { Compressor } from "../../engine/core/compress.ts";
import { nodeCompressor } from "../../engine/node/native.ts";
import type { LocalStore } from "../../engine/store/store.ts";

const memoryHarness: StoreHarness = {
  name: "MemoryStore",
  create: async () => new MemoryStore(),
  async corrupt(store, addr) {
    const b = (store as MemoryStore).debugObjects().get(addr);
    if (!b) throw new Error("object not held");
    b[0] ^= 0x01;
    return store;
  },
  dispose: (store) => store.close(),
};

const fsHarness: StoreHarness = {
  name: "FsStore",
  create: async () => FsStore.open(await mkdtemp(path.join(tmpdir(), "penumbra-store-"))),
  async reopen(store) {
    await store.close();
    return FsStore.open((store as FsStore).root);
  },
  async corrupt(store, addr) {
    const root = (store as FsStore).root;
    await store.close();
    for (const name of await readdir(path.join(root, "packs"))) {
      const file = path.join(root, "packs", name);
      const bytes = new Uint8Array(await readFile(file));
      const h = decodePackHeader(bytes);
      const o = h.objects.find((x) => x.addr === addr);
      if (!o) continue;
      bytes[h.frames[o.frame].offset + o.offset] ^= 0x01;
      await writeFile(file, bytes);
    }
    return FsStore.open(root);
  },
  async dispose(store: LocalStore) {
    await store.close();
    await rm((store as FsStore).root, { recursive: true, force: true });
  },
};

for (const harness of [memoryHarness, fsHarness, idbHarness()]) {
  describe(`LocalStore conformance: ${harness.name}`, () => {
    for (const c of storeConformance(harness)) {
      it(c.name, async (ctx) => {
        const r = await c.run();
        if (typeof r === "string") ctx.skip(r);
      });
    }
  });
}

describe("FsStore frame cache", () => {
  it("reads and inflates a frame once for many concurrent reads of its objects", async () => {
    let inflates = 0;
    const counting: Compressor = {
      gzip: (d) => nodeCompressor.gzip(d),
      gunzip: (d, n) => (inflates++, nodeCompressor.gunzip(d, n)),
    };
    const root = await mkdtemp(path.join(tmpdir(), "penumbra-store-"));
    const objects = Array.from({ length: 200 }, (_, i) => utf8(`{"title":"note ${i}","body":"${"word ".repeat(50)}"}`)).map((bytes) => ({ type: ObjectType.Blob, addr: addressOf(bytes), bytes }));
    const b = new PackBuilder();
    for (const o of objects) b.add(o.type, o.addr, o.bytes, true);
    const pack = await b.finish(nodeCompressor);
    expect(decodePackHeader(pack.bytes).frames).toHaveLength(1);
    const writer = await FsStore.open(root, counting);
    await writer.putObjects(objects, pack.bytes);
    await writer.close();
    const store = await FsStore.open(root, counting);
    inflates = 0;
    const got = await Promise.all(objects.map((o) => store.getObject(o.addr)));
    expect(got.map((g) => g && toHex(g))).toEqual(objects.map((o) => toHex(o.bytes)));
    expect(inflates).toBe(1);
    await store.close();
    await rm(root, { recursive: true, force: true });
  });
});
