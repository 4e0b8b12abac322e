// A byte buffer one thread reuses from file to file: grown when a file needs more, let go after a
// batch in which one huge file grew it past a limit. A scan or writer thread that made a buffer per
// file left them to its collector, which frees them only at the thread's next full collection
// (~35 MiB of them at an initial push's peak: docs/design.md, "Memory of a command").
const encoder = new TextEncoder();

export class ReusedBuffer {
  bytes: Uint8Array;

  constructor(
    private readonly initial: number,
    /** Grown past this, the buffer is let go at the next shrink(). */
    private readonly keepMax = 8 * 1024 * 1024,
  ) {
    this.bytes = new Uint8Array(initial);
  }

  /** The buffer, at least `size` bytes long; when it grows, its first `keep` bytes go along. */
  fit(size: number, keep = 0): Uint8Array {
    if (this.bytes.length < size) {
      const grown = new Uint8Array(Math.max(size, 2 * this.bytes.length));
      if (keep) grown.set(this.bytes.subarray(0, keep));
      this.bytes = grown;
    }
    return this.bytes;
  }

  /** Writes `text` as UTF-8 at `at` (the bytes before it kept) and returns where it ends. */
  encodeAt(text: string, at: number): number {
    this.fit(at + 3 * text.length, at); // UTF-8 takes at most 3 bytes per UTF-16 unit
    return at + encoder.encodeInto(text, this.bytes.subarray(at)).written;
  }

  /** After a batch: a buffer grown past keepMax (by one huge file) is let go. */
  shrink(): void {
    if (this.bytes.length > this.keepMax) this.bytes = new Uint8Array(this.initial);
  }
}
