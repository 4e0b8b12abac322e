// The local store: where a device keeps objects and its few refs. Narrow on purpose, so that the
// memory, file-system and (later) IndexedDB stores are interchangeable and share one test suite.
import type { Address } from "../core/hash.ts";
import type { StoredObject } from "../core/object.ts";

export interface LocalStore {
  /** The object's bytes, or undefined. Stores check the hash on read and throw on corruption. */
  getObject(addr: Address): Promise<Uint8Array | undefined>;
  /** Which of these addresses the store holds. */
  hasObjects(addrs: readonly Address[]): Promise<Set<Address>>;
  /**
   * Stores objects durably. `pack`, when given, is a verified pack holding exactly these objects
   * (a store may keep it as it is instead of re-encoding).
   */
  putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void>;
  /** A pack given to putObjects, byte for byte (the sync engine uploads local packs as they are). */
  getPack(id: Address): Promise<Uint8Array | undefined>;
  /** The engine no longer needs the pack's bytes as such (its objects stay readable). */
  releasePack(id: Address): Promise<void>;
  /** Small JSON values (refs, config, caches), each written atomically. */
  getMeta<T>(key: string): Promise<T | undefined>;
  setMeta(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

export class CorruptObjectError extends Error {
  override name = "CorruptObjectError";
  constructor(readonly addr: Address, where: string) {
    super(`object ${addr} in ${where} does not match its hash`);
  }
}
