// Counts R2 operations by billing class, per request, so tests and the benchmark can see what a
// route costs (answered in the `x-r2-ops: A=<n>,B=<n>` header, docs/protocol.md). Class A: put,
// list, delete, multipart; class B: get, head. One counter increment per call: cheap enough to
// keep on in production.

/** The part of R2Bucket the Worker uses. R2Bucket itself, CountingBucket and FaultyBucket fit it. */
export interface PackBucket {
  put(key: string, value: ArrayBuffer | ArrayBufferView | string | null | ReadableStream | Blob, options?: R2PutOptions): Promise<R2Object | null>;
  get(key: string, options?: R2GetOptions): Promise<R2ObjectBody | null>;
  head(key: string): Promise<R2Object | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: R2ListOptions): Promise<R2Objects>;
  createMultipartUpload(key: string, options?: R2MultipartOptions): Promise<R2MultipartUpload>;
}

export class CountingBucket implements PackBucket {
  classA = 0;
  classB = 0;

  constructor(private readonly inner: PackBucket) {}

  put(key: string, value: ArrayBuffer | ArrayBufferView | string | null | ReadableStream | Blob, options?: R2PutOptions) {
    this.classA++;
    return this.inner.put(key, value, options);
  }
  get(key: string, options?: R2GetOptions) {
    this.classB++;
    return this.inner.get(key, options);
  }
  head(key: string) {
    this.classB++;
    return this.inner.head(key);
  }
  delete(keys: string | string[]) {
    this.classA++;
    return this.inner.delete(keys);
  }
  list(options?: R2ListOptions) {
    this.classA++;
    return this.inner.list(options);
  }
  createMultipartUpload(key: string, options?: R2MultipartOptions) {
    // Each part upload and the completion are class A too; the Worker does not use multipart today.
    this.classA++;
    return this.inner.createMultipartUpload(key, options);
  }

  /** Operations done for this request elsewhere (the Durable Object deletes rolled-back packs). */
  addClassA(n: number): void {
    this.classA += n;
  }

  header(): string {
    return `A=${this.classA},B=${this.classB}`;
  }
}
