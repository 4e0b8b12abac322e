// A background flush (what a large folder scan does every 16 MiB): staging goes on while the
// flushed objects are packed; they stay readable meanwhile; commit waits for the flush; a flush
// that fails loses nothing (its objects are staged again and the next commit stores them).
import { describe, it, expect, afterEach } from "vitest";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { inlineSealer, useBatchSealer } from "../../engine/crypto/seal-batch.ts";
import { SealPool } from "../../engine/node/seal-pool.ts";
import type { StoredObject } from "../../engine/core/object.ts";
import { decodePackHeader } from "../../engine/core/pack.ts";

installNodeCrypto();

/** A MemoryStore whose putObjects fails the first `failures` times (the packs are not kept). */
class FailingStore extends MemoryStore {
  constructor(public failures: number) {
    super();
  }
  override async putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("disk full (injected)");
    }
    return super.putObjects(objects, pack);
  }
}

const note = (i: number) => ({ title: `note ${i}`, body: `body of note ${i} `.repeat(20) });

afterEach(() => useBatchSealer(inlineSealer));

describe.each([
  ["plain", undefined],
  ["encrypted", VaultKeys.generate()],
])("background flush, %s vault", (_name, keys) => {
  it("keeps flushed objects readable, lets staging go on, and commit stores everything", async () => {
    const store = new MemoryStore();
    const v = await Vault.open({ store, keys, device: "d" });
    for (let i = 0; i < 50; i++) await v.putNote(`a${i}`, note(i));
    const flush = v.flushStaged({ background: true });
    await flush; // returns before the packs are stored
    // Staging goes on, and what is being flushed reads back from memory.
    for (let i = 50; i < 80; i++) await v.putNote(`a${i}`, note(i));
    expect(await v.getNote("a3")).toEqual(note(3));
    await v.putNote("again", note(3)); // the same content as one being flushed: not packed twice
    const { snapshot } = await v.commit();
    const packed = await Promise.all(v.refs.unpushed.map(async (id) => decodePackHeader((await store.getPack(id)) as Uint8Array).objects.map((o) => o.addr)));
    expect(new Set(packed.flat()).size).toBe(packed.flat().length);
    expect(v.flushInProgress).toBe(false);
    expect(v.refs.head).toBe(snapshot);
    expect(v.refs.unpushed.length).toBeGreaterThanOrEqual(2); // the flush's pack + the commit's
    // Reopened from the store alone: every note is there.
    const again = await Vault.open({ store, keys });
    expect(again.ids()).toHaveLength(81);
    for (const i of [0, 49, 50, 79]) expect(await again.getNote(`a${i}`)).toEqual(note(i));
  });

  it("counts what is staged, and calls onPackStored once for each pack stored (the CLI collects its heap there)", async () => {
    const store = new MemoryStore();
    let stored = 0;
    const v = await Vault.open({ store, keys, device: "d", packTarget: 2048, onPackStored: () => stored++ });
    for (let i = 0; i < 40; i++) await v.putNote(`a${i}`, note(i));
    expect(v.stagedCount).toBe(40);
    await v.flushStaged({ background: true });
    expect(v.stagedCount).toBe(0); // being flushed: no longer staged
    for (let i = 40; i < 60; i++) await v.putNote(`a${i}`, note(i));
    expect(v.stagedCount).toBe(20);
    await v.commit();
    expect(v.stagedCount).toBe(0);
    expect(stored).toBeGreaterThan(2);
    expect(stored).toBe(v.refs.unpushed.length);
  });

  it("lets go of an object once its pack is stored: read from the store while the flush goes on", async () => {
    // Each pack stored, the flush is asked (from inside the store) where an object of the first
    // pack now comes from: not from the flush's own copy, which it no longer holds.
    const store = new MemoryStore();
    let storeReads = 0;
    const getObject = store.getObject.bind(store);
    store.getObject = async (a) => {
      storeReads++;
      return getObject(a);
    };
    const v = await Vault.open({ store, keys, device: "d", packTarget: 2048 });
    const addrs: string[] = [];
    for (let i = 0; i < 120; i++) addrs.push(v.stageJsonBlob(new TextEncoder().encode(JSON.stringify(note(i)))));
    let packs = 0;
    let firstPack: string | null = null;
    const readsDuringFlush: number[] = [];
    const putObjects = store.putObjects.bind(store);
    store.putObjects = async (objects, pack) => {
      await putObjects(objects, pack);
      if (packs++ === 0) firstPack = objects[0].addr;
      else {
        const before = storeReads;
        await v.load(firstPack!);
        readsDuringFlush.push(storeReads - before);
      }
    };
    await v.flushStaged();
    expect(packs).toBeGreaterThan(2);
    expect(addrs).toContain(firstPack);
    expect(readsDuringFlush.every((n) => n === 1)).toBe(true);
  });

  it("a failed background flush is reported by the next commit, which then can be retried: nothing lost", async () => {
    const store = new FailingStore(1);
    const v = await Vault.open({ store, keys, device: "d" });
    for (let i = 0; i < 20; i++) await v.putNote(`b${i}`, note(i));
    await v.flushStaged({ background: true });
    await v.putNote("late", note(99));
    // Let the flush fail before anyone waits for it: its error must still reach the commit.
    while (v.flushInProgress) await new Promise((r) => setTimeout(r, 1));
    await expect(v.commit()).rejects.toThrow("disk full (injected)");
    expect(v.refs.head).toBeNull(); // the head never moved past what is stored
    expect(v.stagedBytes).toBeGreaterThan(0); // the flushed objects are staged again
    expect(await v.getNote("b7")).toEqual(note(7));
    await v.commit();
    const again = await Vault.open({ store, keys });
    expect(again.ids()).toHaveLength(21);
    for (const i of [0, 7, 19]) expect(await again.getNote(`b${i}`)).toEqual(note(i));
    expect(await again.getNote("late")).toEqual(note(99));
  });
});

describe("background flush with the seal pool", () => {
  it("seals on worker threads while staging goes on; the snapshot reads back whole", async () => {
    const pool = new SealPool({ size: 2, minBytes: 0, chunkBytes: 32 * 1024 });
    useBatchSealer(pool);
    try {
      const keys = VaultKeys.generate();
      const store = new MemoryStore();
      const v = await Vault.open({ store, keys, device: "d" });
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 200; i++) await v.putNote(`r${round}-${i}`, note(round * 1000 + i));
        await v.flushStaged({ background: true });
      }
      await v.commit();
      expect(pool.started).toBe(true);
      expect(pool.failure).toBeNull();
      const again = await Vault.open({ store, keys });
      expect(again.ids()).toHaveLength(600);
      for (const id of ["r0-0", "r1-150", "r2-199"]) {
        const [round, i] = id.slice(1).split("-").map(Number);
        expect(await again.getNote(id)).toEqual(note(round * 1000 + i));
      }
    } finally {
      await pool.close();
    }
  });
});
