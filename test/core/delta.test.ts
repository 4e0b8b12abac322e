import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { FormatError, concatBytes, fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import { applyDelta, encodeDelta } from "../../engine/core/delta.ts";
import { randomBytes } from "./util.ts";

describe("byte deltas (delta.ts)", () => {
  it("golden: one changed run between a common prefix and suffix", () => {
    const base = utf8("header-bytes|AAAAAAAA|trailer-bytes");
    const target = utf8("header-bytes|BBBB|trailer-bytes");
    const d = encodeDelta(base, target);
    // 1f: 31-byte target; copy 0..13; insert "BBBB"; copy 21..35 ("|trailer-bytes").
    expect(toHex(d)).toBe("1f" + "01000d" + "0004" + toHex(utf8("BBBB")) + "01150e");
    expect(applyDelta(base, d)).toEqual(target);
  });

  it("golden: a run of the base found again in the middle", () => {
    const base = utf8("0123456789abcdefXY");
    const target = utf8("Q0123456789abcdefZ");
    const d = encodeDelta(base, target);
    // 12: 18 bytes; insert "Q"; copy 0..16; insert "Z".
    expect(toHex(d)).toBe("12" + "000151" + "010010" + "00015a");
    expect(applyDelta(base, d)).toEqual(target);
  });

  it("an edited tree-node-like object costs about its changed address", () => {
    const base = randomBytes(1400, 1);
    const target = base.slice();
    target.set(randomBytes(32, 2), 700);
    const d = encodeDelta(base, target);
    expect(d.length).toBeLessThan(50);
    expect(applyDelta(base, d)).toEqual(target);
  });

  it("round-trips any base and target, and edits of a base stay small (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), (base, target) => {
        expect(applyDelta(base, encodeDelta(base, target))).toEqual(target);
      }),
      { numRuns: 300 },
    );
    const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 40 }), ins: fc.uint8Array({ maxLength: 40 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 30 }), fc.array(edit, { maxLength: 4 }), (seed, edits) => {
        const base = randomBytes(1500, seed);
        let target = base;
        for (const e of edits) {
          const at = e.at % (target.length + 1);
          target = concatBytes([target.subarray(0, at), e.ins, target.subarray(Math.min(target.length, at + e.del))]);
        }
        const d = encodeDelta(base, target);
        expect(applyDelta(base, d)).toEqual(target);
        // Each edit costs its inserted bytes plus a few ops' framing.
        expect(d.length).toBeLessThanOrEqual(8 + edits.reduce((n, e) => n + e.ins.length + 24, 0));
      }),
      { numRuns: 300 },
    );
  });

  it("refuses ops that overrun the target or the base, unknown ops, short and long deltas", () => {
    const base = utf8("0123456789");
    const bad = [
      "05" + "010006", // copy of 6 into a 5-byte target
      "05" + "0108", // a copy cut short (no length)
      "05" + "010905", // copy [9, 14) outside a 10-byte base
      "05" + "0000", // empty insert
      "05" + "010000", // empty copy
      "05" + "02", // unknown op
      "05" + "000361", // insert of 3 with 1 byte left
      "05" + "010003", // target short: ends after 3 of 5
      "03" + "010003" + "00", // trailing byte
    ];
    for (const hex of bad) expect(() => applyDelta(base, fromHex(hex)), hex).toThrow(FormatError);
    expect(() => applyDelta(base, fromHex("ff7f"), 1 << 20)).toThrow(FormatError); // target over the cap
    expect(applyDelta(base, fromHex("05" + "010305"))).toEqual(utf8("34567"));
  });

  it("random bytes as a delta: a FormatError or a target, never anything else (fuzz)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (base, delta) => {
        try {
          const out = applyDelta(base, delta, 4096);
          expect(out.length).toBeLessThanOrEqual(4096);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
