import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { ByteReader, ByteWriter, FormatError, bytesEqual, compareBytes, concatBytes, fromHex, fromUtf8, toHex, utf8 } from "../../engine/core/bytes.ts";

describe("hex", () => {
  it("toHex/fromHex agree with Buffer and round-trip (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20_000 }), (b) => {
        const hex = toHex(b);
        expect(hex).toBe(Buffer.from(b).toString("hex"));
        expect(bytesEqual(fromHex(hex), b)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("toHex of a view encodes the view only", () => {
    const b = new Uint8Array([1, 2, 3, 4]);
    expect(toHex(b.subarray(1, 3))).toBe("0203");
    expect(toHex(new Uint8Array(0))).toBe("");
  });

  it("fromHex rejects odd length, uppercase, non-hex and non-ASCII", () => {
    for (const bad of ["0", "abc", "AB", "0G", "zz", "0x", " 0", "\u00e90", "0\u0660"]) expect(() => fromHex(bad), JSON.stringify(bad)).toThrow(/hex/);
  });
});

describe("varint (unsigned LEB128)", () => {
  const enc = (v: number) => toHex(new ByteWriter().varint(v).finish());

  it("golden encodings", () => {
    expect(enc(0)).toBe("00");
    expect(enc(127)).toBe("7f");
    expect(enc(128)).toBe("8001");
    expect(enc(300)).toBe("ac02");
    expect(enc(10300)).toBe("bc50");
    expect(enc(2 ** 32)).toBe("8080808010");
    expect(enc(Number.MAX_SAFE_INTEGER)).toBe("ffffffffffffff0f");
  });

  it("round-trips every safe integer (fast-check)", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (v) => {
        const r = new ByteReader(new ByteWriter().varint(v).finish());
        expect(r.varint()).toBe(v);
        r.end("varint");
      }),
      { numRuns: 1000 },
    );
  });

  it("writer refuses negative, fractional and unsafe values", () => {
    for (const v of [-1, 1.5, 2 ** 53, NaN, Infinity]) expect(() => new ByteWriter().varint(v)).toThrow(/varint/);
  });

  it("reader refuses non-minimal, too long, too large and truncated varints", () => {
    const read = (hex: string) => new ByteReader(fromHex(hex)).varint();
    expect(() => read("8000")).toThrow(/non-minimal/);
    expect(() => read("ff00")).toThrow(/non-minimal/);
    expect(() => read("8080808080808080")).toThrow(/too long/);
    expect(() => read("ffffffffffffff10")).toThrow(/too large/); // 2^53
    expect(() => read("80")).toThrow(FormatError);
    expect(() => read("")).toThrow(FormatError);
  });
});

describe("ByteWriter / ByteReader", () => {
  it("writes and reads back bytes, u32le, length-prefixed bytes, growing past the initial size", () => {
    const w = new ByteWriter(2);
    const big = new Uint8Array(5000).fill(7);
    w.byte(1).u32le(0xdeadbeef).lenBytes(utf8("hi")).bytes(big).u32le(1);
    const b = w.finish();
    expect(toHex(b.subarray(0, 9))).toBe("01efbeadde02686907");
    const r = new ByteReader(b);
    expect(r.byte()).toBe(1);
    expect(r.u32le()).toBe(0xdeadbeef);
    expect(fromUtf8(r.lenBytes())).toBe("hi");
    expect(bytesEqual(r.bytes(5000), big)).toBe(true);
    expect(r.u32le()).toBe(1);
    expect(r.remaining).toBe(0);
    r.end("test");
  });

  it("reads u32le from a view at a non-zero offset", () => {
    const buf = new Uint8Array([9, 9, 9, 0x04, 0x03, 0x02, 0x01]);
    expect(new ByteReader(buf.subarray(3)).u32le()).toBe(0x01020304);
  });

  it("every read past the end is a FormatError", () => {
    const r = new ByteReader(new Uint8Array([1, 2]));
    expect(() => r.u32le()).toThrow(FormatError);
    expect(() => r.bytes(3)).toThrow(FormatError);
    expect(() => new ByteReader(fromHex("05")).lenBytes()).toThrow(FormatError);
    expect(() => new ByteReader(fromHex("05aabbccddee")).lenBytes(4)).toThrow(/exceeds/);
    expect(() => new ByteReader(new Uint8Array(1)).end("x")).toThrow(/trailing/);
  });
});

describe("compare, concat, utf8", () => {
  it("compareBytes is memcmp order (a prefix sorts first)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        expect(Math.sign(compareBytes(a, b))).toBe(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      }),
      { numRuns: 500 },
    );
  });

  it("concatBytes", () => {
    expect(toHex(concatBytes([fromHex("01"), new Uint8Array(0), fromHex("0203")]))).toBe("010203");
  });

  it("fromUtf8 is strict", () => {
    expect(fromUtf8(utf8("caf\u00e9 \u{1F600}"))).toBe("caf\u00e9 \u{1F600}");
    for (const bad of ["ff", "c3", "eda080", "c0af"]) expect(() => fromUtf8(fromHex(bad))).toThrow();
  });
});
