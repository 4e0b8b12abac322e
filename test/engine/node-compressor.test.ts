// nodeCompressor (engine/node/native.ts) runs at most a few gzips at once and queues the rest: many
// at once all finish and inflate back, in any order, and a gzip that fails gives its turn on.
import { describe, expect, it } from "vitest";
import { gunzipSync } from "node:zlib";
import { nodeCompressor } from "../../engine/node/native.ts";

const frame = (i: number) => new TextEncoder().encode(`{"n":${i},"body":"${"x".repeat(1000 + i)}"}`);

describe("nodeCompressor", () => {
  it("compresses 60 frames asked at once, each to its own bytes", async () => {
    const outs = await Promise.all(Array.from({ length: 60 }, (_, i) => nodeCompressor.gzip(frame(i))));
    outs.forEach((gz, i) => expect(Buffer.compare(gunzipSync(gz), frame(i))).toBe(0));
  });

  it("goes on after gzips that fail while others wait", async () => {
    const bad = Array.from({ length: 8 }, () => nodeCompressor.gzip(42 as unknown as Uint8Array));
    const good = Array.from({ length: 8 }, (_, i) => nodeCompressor.gzip(frame(i)));
    for (const p of bad) await expect(p).rejects.toThrow();
    const outs = await Promise.all(good);
    outs.forEach((gz, i) => expect(Buffer.compare(gunzipSync(gz), frame(i))).toBe(0));
    // Every turn was given back: more than four at once still all finish.
    expect((await Promise.all(Array.from({ length: 9 }, (_, i) => nodeCompressor.gzip(frame(i))))).length).toBe(9);
  });
});
