// Fault injection for tests: an R2 bucket whose Nth put or get fails, to prove that a request that
// dies half-way rolls back what it stored. Never used by the deployed Worker; a test passes it in
// as env.BUCKET when it calls the Worker's fetch handler directly.
import type { PackBucket } from "./counting-bucket.ts";

export interface FaultPlan {
  /** 1-based: the put that fails (the earlier ones succeed). */
  failPut?: number;
  /** 1-based: the get that fails. */
  failGet?: number;
}

export class InjectedFault extends Error {
  override name = "InjectedFault";
}

export class FaultyBucket implements PackBucket {
  puts = 0;
  gets = 0;

  constructor(
    private readonly inner: PackBucket,
    private readonly plan: FaultPlan,
  ) {}

  async put(key: string, value: ArrayBuffer | ArrayBufferView | string | null | ReadableStream | Blob, options?: R2PutOptions) {
    if (++this.puts === this.plan.failPut) throw new InjectedFault(`injected failure of put #${this.puts} (${key})`);
    return this.inner.put(key, value, options);
  }
  async get(key: string, options?: R2GetOptions) {
    if (++this.gets === this.plan.failGet) throw new InjectedFault(`injected failure of get #${this.gets} (${key})`);
    return this.inner.get(key, options);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  delete(keys: string | string[]) {
    return this.inner.delete(keys);
  }
  list(options?: R2ListOptions) {
    return this.inner.list(options);
  }
  createMultipartUpload(key: string, options?: R2MultipartOptions) {
    return this.inner.createMultipartUpload(key, options);
  }
}
