// The IndexedDB store's conformance harness. Browser-safe (no Node imports): the same harness runs
// in Node over fake-indexeddb and in Chromium over the real IndexedDB.
import { openDB } from "idb";
import { IdbStore, type IdbStoreOptions } from "../../engine/store/idb-store.ts";
import type { LocalStore } from "../../engine/store/store.ts";
import type { Address } from "../../engine/core/hash.ts";
import { decodePackHeader } from "../../engine/core/pack.ts";
import type { StoreHarness } from "./conformance.ts";

let counter = 0;

export function idbHarness(opts: Partial<IdbStoreOptions> = {}, name = "IdbStore"): StoreHarness {
  const open = (dbName: string) => IdbStore.open({ ...opts, name: dbName });
  return {
    name,
    create: () => open(`conformance-${Date.now()}-${counter++}-${Math.random().toString(36).slice(2)}`),
    async reopen(store: LocalStore) {
      const s = store as IdbStore;
      await s.close();
      return open(s.name);
    },
    async corrupt(store: LocalStore, addr: Address) {
      const s = store as IdbStore;
      await s.close();
      // Flip a bit of the object inside its (stored) frame, through a raw connection.
      const db = await openDB(s.name);
      try {
        let done = false;
        for (const rec of (await db.getAll("packs")) as { id: string; header: Uint8Array | Blob }[]) {
          const h = decodePackHeader(rec.header instanceof Uint8Array ? rec.header : new Uint8Array(await rec.header.arrayBuffer()));
          const o = h.objects.find((x) => x.addr === addr);
          if (!o) continue;
          const value = (await db.get("data", rec.id)) as Uint8Array | Blob;
          const pack = value instanceof Uint8Array ? value : new Uint8Array(await value.arrayBuffer());
          pack[h.frames[o.frame].offset + o.offset] ^= 0x01;
          await db.put("data", value instanceof Uint8Array ? pack : new Blob([pack as Uint8Array<ArrayBuffer>]), rec.id);
          done = true;
        }
        if (!done) throw new Error(`object ${addr} not found in any pack`);
      } finally {
        db.close();
      }
      return open(s.name);
    },
    async dispose(store: LocalStore) {
      const s = store as IdbStore;
      await s.close();
      await IdbStore.destroy(s.name);
    },
  };
}
