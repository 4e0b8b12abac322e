import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { FormatError, utf8 } from "../../engine/core/bytes.ts";
import { CanonicalJsonError, canonicalBytes } from "../../engine/core/canonical.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { SNAPSHOT_TYPE, decodeSnapshot, encodeSnapshot, type Snapshot } from "../../engine/core/snapshot.ts";

const A = (s: string) => addressOf(utf8(s));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const ROOT = "9a5783dd188d23145b2c860fa4c48e5a6b67dacb1d27054151082ea5abbe3c87"; // tree.test.ts golden root
const P1 = A("snap:1"); // 1560dcdb...
const P2 = A("snap:2"); // e26ba2c0...

const SNAP: Snapshot = {
  parents: [P2, P1, P2],
  root: ROOT,
  device: "laptop-7f3a",
  time: "2024-11-25T12:00:00.000Z",
  stats: { notes: 3, embeddings: 2, positions: 2 },
  message: "first",
};

const GOLDEN_TEXT =
  '{"device":"laptop-7f3a","message":"first",' +
  '"parents":["1560dcdb770a1d5b21ee5db8c562a993dcf9b9ce37abc59114709760295a9433","e26ba2c0d1ce1a034ef78a491de4a4f626e9a9e2227e20c37ed58c16bafb9381"],' +
  '"root":"9a5783dd188d23145b2c860fa4c48e5a6b67dacb1d27054151082ea5abbe3c87",' +
  '"stats":{"embeddings":2,"notes":3,"positions":2},"time":"2024-11-25T12:00:00.000Z","type":"penumbra.snapshot","v":1}';
const GOLDEN_ADDR = "ab75abd70a4334387835338ebf01539a2b8d08e0c1a488f8aac971f7882c2ebe";

/** A snapshot record as JSON bytes, with `patch` applied (undefined deletes a field). */
function record(patch: Record<string, unknown>): Uint8Array {
  const o: Record<string, unknown> = JSON.parse(GOLDEN_TEXT);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete o[k];
    else o[k] = v;
  }
  return utf8(JSON.stringify(o));
}

describe("golden snapshot", () => {
  it("encodes to locked canonical bytes and address", () => {
    const { addr, bytes } = encodeSnapshot(SNAP);
    expect(text(bytes)).toBe(GOLDEN_TEXT);
    expect(addr).toBe(GOLDEN_ADDR);
    expect(addressOf(utf8(GOLDEN_TEXT))).toBe(GOLDEN_ADDR);
  });

  it("is canonical JSON (encoding its own decode gives the same bytes)", () => {
    const { bytes } = encodeSnapshot(SNAP);
    expect(text(canonicalBytes(JSON.parse(text(bytes))))).toBe(text(bytes));
  });

  it("decodes back (parents sorted and deduped)", () => {
    expect(decodeSnapshot(utf8(GOLDEN_TEXT))).toEqual({ ...SNAP, parents: [P1, P2] });
  });

  it("omits an empty or missing message", () => {
    const { bytes } = encodeSnapshot({ ...SNAP, message: "" });
    expect(text(bytes)).not.toContain("message");
    const { message: _m, ...rest } = SNAP;
    expect(encodeSnapshot(rest).addr).toBe(encodeSnapshot({ ...SNAP, message: "" }).addr);
    expect(decodeSnapshot(bytes).message).toBeUndefined();
  });

  it("ignores fields it does not know in the input object", () => {
    const extra = { ...SNAP, extra: 1 } as Snapshot;
    expect(encodeSnapshot(extra).addr).toBe(GOLDEN_ADDR);
  });
});

describe("parents", () => {
  it("are sorted and deduped, so merging the same heads on two devices gives one snapshot", () => {
    const addrArb = fc.integer({ min: 0, max: 20 }).map((i) => A(`p${i}`));
    fc.assert(
      fc.property(fc.array(addrArb, { maxLength: 8 }), fc.array(addrArb, { maxLength: 8 }), (a, b) => {
        const sa = encodeSnapshot({ ...SNAP, parents: a });
        const decoded = decodeSnapshot(sa.bytes).parents;
        expect(decoded).toEqual([...new Set(a)].sort());
        if (new Set(a).size === new Set(b).size && a.every((x) => b.includes(x))) {
          expect(encodeSnapshot({ ...SNAP, parents: b }).addr).toBe(sa.addr);
        }
      }),
      { numRuns: 300 },
    );
    expect(encodeSnapshot({ ...SNAP, parents: [P1, P2] }).addr).toBe(encodeSnapshot({ ...SNAP, parents: [P2, P1, P1] }).addr);
  });

  it("a root snapshot has no parents", () => {
    const s = encodeSnapshot({ ...SNAP, parents: [] });
    expect(decodeSnapshot(s.bytes).parents).toEqual([]);
  });
});

describe("decodeSnapshot rejects", () => {
  const cases: [string, Uint8Array][] = [
    ["wrong type", record({ type: "penumbra.tree" })],
    ["missing type", record({ type: undefined })],
    ["v 2", record({ v: 2 })],
    ['v "1"', record({ v: "1" })],
    ["missing v", record({ v: undefined })],
    ["parents not an array", record({ parents: P1 })],
    ["a parent that is not an address", record({ parents: [P1, "abc"] })],
    ["an uppercase parent", record({ parents: [P1.toUpperCase()] })],
    ["missing parents", record({ parents: undefined })],
    ["a bad root", record({ root: ROOT.slice(1) })],
    ["missing root", record({ root: undefined })],
    ["device not a string", record({ device: 7 })],
    ["time not a string", record({ time: null })],
    ["missing stats", record({ stats: undefined })],
    ["negative stats", record({ stats: { notes: -1, embeddings: 0, positions: 0 } })],
    ["fractional stats", record({ stats: { notes: 1.5, embeddings: 0, positions: 0 } })],
    ["string stats", record({ stats: { notes: "1", embeddings: 0, positions: 0 } })],
    ["unsafe-integer stats", record({ stats: { notes: 2 ** 53, embeddings: 0, positions: 0 } })],
    ["a missing stat", record({ stats: { notes: 1, embeddings: 0 } })],
  ];
  for (const [name, bytes] of cases) {
    it(name, () => {
      expect(() => decodeSnapshot(bytes)).toThrow(FormatError);
    });
  }

  it("JSON that is not an object, and bytes that are not UTF-8 or JSON (CanonicalJsonError, not FormatError)", () => {
    for (const b of [utf8("[]"), utf8("null"), utf8("{"), new Uint8Array([0xff])]) expect(() => decodeSnapshot(b)).toThrow(CanonicalJsonError);
    expect(SNAPSHOT_TYPE).toBe("penumbra.snapshot");
  });
});
