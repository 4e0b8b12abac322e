import { describe, it, expect, afterEach } from "vitest";
import fc from "fast-check";
import { toHex, utf8 } from "../../engine/core/bytes.ts";
import { ADDRESS_RE, addressOf, hmacSha256, isAddress, portableSha256, sha256, useNativeSha256 } from "../../engine/core/hash.ts";
import { installNodeFastPaths, nodeSha256 } from "../../engine/node/native.ts";
import { randomBytes } from "./util.ts";

const fill = (n: number, byte: number) => new Uint8Array(n).fill(byte);

// NIST FIPS 180-2 examples, plus 1 MiB of 'a' (cross-checked with coreutils sha256sum).
const VECTORS: [string, Uint8Array, string][] = [
  ["empty", new Uint8Array(0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", utf8("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["448-bit message", utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
  ["10^6 x 'a'", fill(1_000_000, 0x61), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"],
  ["1 MiB x 'a'", fill(1 << 20, 0x61), "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360"],
];

// Sizes around SHA-256's 64-byte block and 55/56-byte padding edge, a 384-dim embedding, 1 MiB.
const EDGE_SIZES = [0, 1, 31, 32, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 1536, 4096, 65536, (1 << 20) - 1, 1 << 20, (1 << 20) + 1];

afterEach(() => useNativeSha256(portableSha256));

describe("SHA-256 known answers", () => {
  for (const [name, data, hex] of VECTORS) {
    it(`${name}: portable, node and addressOf agree with the vector`, () => {
      expect(toHex(portableSha256(data))).toBe(hex);
      expect(toHex(nodeSha256(data))).toBe(hex);
      expect(addressOf(data)).toBe(hex);
    });
  }
});

describe("nodeSha256 is byte-identical to the portable implementation", () => {
  it("on random inputs of random sizes (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (data) => {
        const n = nodeSha256(data);
        expect(n.length).toBe(32);
        expect(toHex(n)).toBe(toHex(portableSha256(data)));
      }),
      { numRuns: 500 },
    );
  });

  it("at every block and padding edge, up to and past 1 MiB", () => {
    for (const size of EDGE_SIZES) {
      const data = randomBytes(size, size + 1);
      expect(toHex(nodeSha256(data)), `size ${size}`).toBe(toHex(portableSha256(data)));
    }
  });

  it("on subarray views (non-zero byteOffset): hashes the view, not its buffer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = data.length ? a % data.length : 0;
        const end = start + (data.length - start ? b % (data.length - start + 1) : 0);
        const view = data.subarray(start, end);
        expect(toHex(nodeSha256(view))).toBe(toHex(portableSha256(view.slice())));
        expect(toHex(portableSha256(view))).toBe(toHex(portableSha256(view.slice())));
      }),
      { numRuns: 300 },
    );
  });
});

describe("useNativeSha256", () => {
  it("swaps the implementation behind sha256/addressOf without changing any address", () => {
    const inputs = EDGE_SIZES.filter((n) => n <= 65536).map((n) => randomBytes(n, 99 + n));
    const before = inputs.map((d) => addressOf(d));
    let calls = 0;
    useNativeSha256((d) => {
      calls++;
      return nodeSha256(d);
    });
    const after = inputs.map((d) => addressOf(d));
    expect(calls).toBe(inputs.length);
    expect(after).toEqual(before);
    expect(inputs.map((d) => toHex(sha256(d)))).toEqual(before);
  });

  it("installNodeFastPaths routes addressOf through node:crypto with identical results", () => {
    installNodeFastPaths();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (d) => {
        expect(addressOf(d)).toBe(toHex(portableSha256(d)));
      }),
      { numRuns: 200 },
    );
  });
});

describe("HMAC-SHA256 (reserved for encrypted vaults' keyed addresses)", () => {
  it("RFC 4231 test case 2", () => {
    expect(toHex(hmacSha256(utf8("Jefe"), utf8("what do ya want for nothing?")))).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});

describe("isAddress", () => {
  it("accepts 64 lowercase hex characters only", () => {
    expect(isAddress(addressOf(utf8("x")))).toBe(true);
    expect(isAddress("0".repeat(64))).toBe(true);
    expect(ADDRESS_RE.test("f".repeat(64))).toBe(true);
    for (const bad of ["", "0".repeat(63), "0".repeat(65), "A".repeat(64), "g".repeat(64), ` ${"0".repeat(63)}`, `${"0".repeat(64)}\n`, 42, null, undefined, ["0".repeat(64)]]) {
      expect(isAddress(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it("every addressOf output is an address", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (d) => isAddress(addressOf(d))), { numRuns: 200 });
  });
});
