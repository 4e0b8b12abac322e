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
  /** A pack's length without reading it (stores where reading costs: files); else getPack's length. */
  packSize?(id: Address): Promise<number | undefined>;
  /** The engine no longer needs the pack's bytes as such (its objects stay readable). */
  releasePack(id: Address): Promise<void>;
  /** Small JSON values (refs, config, caches), each written atomically. */
  getMeta<T>(key: string): Promise<T | undefined>;
  setMeta(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
  /**
   * Replaces how the store checks an object it returns (default: SHA-256 of the bytes = the
   * address). Encrypted vaults call this: their objects are sealed and named by a keyed hash of the
   * plaintext, which only the vault can check (it authenticates every object it reads). A store
   * without this method cannot hold an encrypted vault.
   */
  setObjectCheck?(check: ObjectCheck): void;
}

/** True when `bytes` may be the object named `addr` (a store throws CorruptObjectError otherwise). */
export type ObjectCheck = (addr: Address, bytes: Uint8Array) => boolean;

export class CorruptObjectError extends Error {
  override name = "CorruptObjectError";
  constructor(readonly addr: Address, where: string) {
    super(`object ${addr} in ${where} does not match its hash`);
  }
}
