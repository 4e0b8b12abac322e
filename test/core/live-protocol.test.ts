// The live socket's messages (engine/core/live-protocol.ts, docs/protocol.md): golden texts, and
// what a client ignores.
import { describe, expect, it } from "vitest";
import { decodeHeadMessage, encodeHeadMessage, PONG } from "../../engine/core/live-protocol.ts";

const A = "ab".repeat(32);

describe("live messages", () => {
  it("encodes the head and nothing else (golden texts)", () => {
    expect(encodeHeadMessage({ snapshot: A, seq: 7 })).toBe(`{"head":{"snapshot":"${A}","seq":7}}`);
    expect(encodeHeadMessage({ snapshot: A, seq: 7, committedAt: "2026-01-01T00:00:00.000Z" } as never)).toBe(`{"head":{"snapshot":"${A}","seq":7}}`);
    expect(encodeHeadMessage(null)).toBe(`{"head":null}`);
  });

  it("decodes what it encodes, and ignores pongs and anything malformed", () => {
    expect(decodeHeadMessage(encodeHeadMessage({ snapshot: A, seq: 1 }))).toEqual({ head: { snapshot: A, seq: 1 } });
    expect(decodeHeadMessage(`{"head":null}`)).toEqual({ head: null });
    for (const bad of [PONG, "", "{", "[]", "null", `{"other":1}`, `{"head":{"snapshot":"xyz","seq":1}}`, `{"head":{"snapshot":"${A}","seq":1.5}}`, `{"head":{"snapshot":"${A}"}}`, `{"head":5}`])
      expect(decodeHeadMessage(bad), bad).toBeUndefined();
  });
});
