// Frame inflation for the Worker: the runtime's native DecompressionStream (no JS inflate cost),
// like streamCompressor in engine/core/compress.ts, but it stops reading as soon as a frame
// inflates past the raw length its pack header declares. A small hostile frame (a gzip bomb)
// therefore costs at most that many bytes of memory instead of exhausting the isolate's 128 MB.
import { streamCompressor, type Compressor } from "../engine/core/compress.ts";

export const boundedInflater: Compressor = {
  gzip: streamCompressor.gzip,
  async gunzip(data, rawLength) {
    const ds = new DecompressionStream("gzip");
    const writer = ds.writable.getWriter();
    // Not awaited: the readable side is drained below; a cancelled read makes these reject.
    writer.write(data as Uint8Array<ArrayBuffer>).catch(() => {});
    writer.close().catch(() => {});
    const reader = ds.readable.getReader();
    const out = new Uint8Array(rawLength);
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > rawLength) {
        await reader.cancel().catch(() => {});
        throw new RangeError(`frame inflates past the ${rawLength} bytes its header declares`);
      }
      out.set(value, n);
      n += value.length;
    }
    if (n !== rawLength) throw new RangeError(`frame inflated to ${n} bytes, header says ${rawLength}`);
    return out;
  },
};
