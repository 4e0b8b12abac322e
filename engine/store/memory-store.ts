// An in-memory LocalStore: tests, and apps that keep their own persistence.
import { addressOf, type Address } from "../core/hash.ts";
import type { StoredObject } from "../core/object.ts";
import { CorruptObjectError, type LocalStore, type ObjectCheck } from "./store.ts";

export class MemoryStore implements LocalStore {
  private objects = new Map<Address, Uint8Array>();
  private meta = new Map<string, string>();
  private packs = new Map<Address, Uint8Array>();
  private check: ObjectCheck = (addr, bytes) => addressOf(bytes) === addr;

  setObjectCheck(check: ObjectCheck): void {
    this.check = check;
  }

  async getObject(addr: Address): Promise<Uint8Array | undefined> {
    const b = this.objects.get(addr);
    if (b && !this.check(addr, b)) throw new CorruptObjectError(addr, "memory store");
    return b;
  }

  async hasObjects(addrs: readonly Address[]): Promise<Set<Address>> {
    return new Set(addrs.filter((a) => this.objects.has(a)));
  }

  async putObjects(objects: readonly StoredObject[], pack?: Uint8Array): Promise<void> {
    // Copy: callers may hand us views into larger buffers they reuse.
    for (const o of objects) if (!this.objects.has(o.addr)) this.objects.set(o.addr, o.bytes.slice());
    if (pack) this.packs.set(addressOf(pack), pack);
  }

  async getPack(id: Address): Promise<Uint8Array | undefined> {
    return this.packs.get(id);
  }

  async releasePack(id: Address): Promise<void> {
    this.packs.delete(id);
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    const v = this.meta.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    this.meta.set(key, JSON.stringify(value));
  }

  async close(): Promise<void> {}

  /** For tests: every object held, e.g. to scan for leaks or to corrupt one on purpose. */
  debugObjects(): Map<Address, Uint8Array> {
    return this.objects;
  }
}
