// The checkout index file (cli/checkout-index.ts, docs/design.md "Local state"): golden bytes, a
// round-trip property against a model of its rows, and refusal of torn or damaged files.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FormatError, toHex } from "../../engine/core/bytes.ts";
import { CheckoutIndex, PARTS, UNKNOWN_SIG, encodeRows, type CheckoutRow } from "../../cli/checkout-index.ts";
import type { PartName } from "../../engine/core/parts.ts";
import { CHECKOUT_FILE, writeCheckout } from "../../cli/checkout-file.ts";

const A = "11".repeat(32);
const B = "ab".repeat(32);
const ROOT = "0f".repeat(32);

describe("checkout index: golden vector", () => {
  const rows: [number, string, CheckoutRow][] = [
    [0, "a1", { sig: [10, 1700000000123.5, 42], addr: A, extra: 1 }],
    [1, "a1", { sig: UNKNOWN_SIG, addr: B, extra: 384 }],
  ];
  const bytes = encodeRows(ROOT, 0, rows);
  it("has this exact layout", () => {
    // prettier-ignore
    const expected =
      "504e434b" + "01" + "01" + "0f".repeat(32) + "0000000000000000" + "02000000" +  // "PNCK", v1, root present, root, writtenAt 0, 2 rows
      "00" + "02" + "6131" + "0000000000002440" + "00b88756febc7842" + "0000000000004540" + "01000000" + A + // note a1: size 10, mtime, ino 42, chunked
      "01" + "02" + "6131" + "000000000000f0bf" + "0000000000000000" + "0000000000000000" + "80010000" + B; // embedding a1: unknown sig, 384 dims
    expect(toHex(bytes.subarray(0, bytes.length - 32))).toBe(expected);
    expect(bytes.length).toBe(expected.length / 2 + 32);
  });
  it("locks the checksum", () => {
    expect(toHex(bytes.subarray(bytes.length - 32))).toBe(GOLDEN_SUM);
  });
  it("decodes back", () => {
    const x = CheckoutIndex.decode(bytes);
    expect(x.root).toBe(ROOT);
    expect(x.get("note", "a1")).toEqual(rows[0][2]);
    expect(x.get("embedding", "a1")).toEqual(rows[1][2]);
    expect(x.get("position", "a1")).toBeUndefined();
    expect(x.range("embedding")).toEqual([1, 2]);
    expect(CheckoutIndex.decode(encodeRows(null, 5, [])).root).toBeNull();
  });
});

// SHA-256 of the bytes above, computed independently (Python struct + hashlib).
const GOLDEN_SUM = "a39aba42874a06a06e95eb20e57677e077937f99f7c10912da8dafb0ca5e1adb";

const idArb = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
const rowArb = fc.record({
  sig: fc.tuple(fc.integer({ min: -1, max: 2 ** 40 }), fc.double({ noNaN: true, min: 0, max: 2e12 }), fc.integer({ min: 0, max: 2 ** 52 })),
  addr: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex),
  extra: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
}) as fc.Arbitrary<CheckoutRow>;
const partArb = fc.constantFrom<PartName>(...PARTS);
const key = (part: PartName, id: string) => `${PARTS.indexOf(part)}/${id}`;

describe("checkout index: properties", () => {
  it("rows set and deleted, encoded and decoded, are the model's rows in (part, id) order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(partArb, idArb, fc.option(rowArb, { nil: null })), { maxLength: 60 }),
        fc.array(fc.tuple(partArb, idArb, fc.option(rowArb, { nil: null })), { maxLength: 30 }),
        fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex), { nil: null }),
        fc.tuple(fc.nat({ max: 700 }), fc.nat({ max: 40 })),
        (first, second, root, [room1, room2]) => {
          const model = new Map<string, { part: PartName; id: string; row: CheckoutRow }>();
          const apply = (x: CheckoutIndex, ops: typeof first) => {
            for (const [part, id, row] of ops) {
              if (row) {
                x.set(part, id, row);
                model.set(key(part, id), { part, id, row });
              } else {
                x.delete(part, id);
                model.delete(key(part, id));
              }
            }
          };
          const x = CheckoutIndex.empty();
          x.reserve(room1); // room made ahead (a clone's) changes nothing but the growing
          apply(x, first);
          x.root = root;
          const y = CheckoutIndex.decode(x.encode(123));
          y.reserve(room2);
          apply(y, second); // changes over rows as read
          // Every id `second` touched, each once and in id order (a scan's changed notes come
          // from these, and a first commit builds its tree from them as they come).
          const changed = Array.from(y.changedRows(), (c) => c.id);
          expect(changed).toEqual([...new Set(second.map(([, id]) => id))].sort());
          // ... and with their current rows, also when made again later from the slots that came with them.
          const again: [string, number[]][] = [];
          for (const { id, rows, slots } of y.changedRows()) {
            expect(rows).toEqual(PARTS.map((part) => y.get(part, id)));
            again.push([id, [...slots]]);
          }
          for (const [id, slots] of again.reverse()) expect(y.rowsOfSlots(id, slots)).toEqual(PARTS.map((part) => y.get(part, id)));
          const z = CheckoutIndex.decode(y.encode(456));
          const expected = [...model.values()].sort((a, b) => PARTS.indexOf(a.part) - PARTS.indexOf(b.part) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          expect([...z.rows()]).toEqual(expected);
          expect([...y.rows()]).toEqual(expected);
          expect(z.root).toBe(root);
          expect(z.writtenAt).toBe(456);
          for (const { part, id, row } of expected) expect(z.get(part, id)).toEqual(row);
          for (const part of PARTS) {
            const [s, e] = z.range(part);
            const ids = expected.filter((r) => r.part === part).map((r) => r.id);
            expect(Array.from({ length: e - s }, (_, i) => z.idAt(s + i))).toEqual(ids);
          }
          // Slots do not outlive the changes they came from: folded in, the rows are not read by them.
          const withSlot = again.find(([, slots]) => slots.some((x) => x >= 0));
          if (withSlot) {
            y.fold();
            expect(() => y.rowsOfSlots(withSlot[0], withSlot[1])).toThrow(/cleared/);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a torn or damaged file is refused, never misread", () => {
    const good = encodeRows(ROOT, 1, [
      [0, "n1", { sig: [1, 2, 3], addr: A, extra: 0 }],
      [2, "n1", { sig: [4, 5, 6], addr: B, extra: 0 }],
    ]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = good.slice();
        bad[at] ^= flip;
        expect(() => CheckoutIndex.decode(bad)).toThrow(FormatError);
        expect(() => CheckoutIndex.decode(good.subarray(0, at))).toThrow(FormatError);
      }),
    );
  });
});

describe("checkout index: written in pieces", () => {
  const row = (i: number): CheckoutRow => ({ sig: [i, i + 0.5, i * 3], addr: toHex(new Uint8Array(32).fill(i & 255)), extra: i & 1 });
  const id = (i: number) => `note-${String(i).padStart(6, "0")}`;

  it("writeCheckout writes what encode gives, across pieces, and the index reads it back as the same rows", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pnck-"));
    try {
      // 3,000 rows as read, then changes spread over them (more than one 64 KiB piece of changed rows).
      const base = CheckoutIndex.empty(ROOT);
      for (let i = 0; i < 3000; i++) base.set("note", id(2 * i), row(i));
      const x = CheckoutIndex.decode(base.encode(7));
      for (let i = 0; i < 3000; i += 3) x.set("note", id(2 * i), row(i + 1)); // replaced
      for (let i = 0; i < 3000; i += 2) x.set("note", id(2 * i + 1), row(i)); // added between
      for (let i = 1; i < 3000; i += 7) x.delete("note", id(2 * i)); // removed
      x.set("position", "p", row(9));
      const expected = [...x.rows()];
      const bytes = x.encode(8);
      const written = await writeCheckout(dir, x);
      expect(written).toBe(x);
      expect(new Uint8Array(await readFile(join(dir, CHECKOUT_FILE)))).toHaveLength(bytes.length);
      expect([...written.rows()]).toEqual(expected);
      expect(written.dirty).toBe(false);
      expect(written.root).toBe(ROOT);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("after writing a few changes it keeps the rows it has (no read-back), clean, and writes them right again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pnck-"));
    try {
      const base = CheckoutIndex.empty(ROOT);
      for (let i = 0; i < 400; i++) base.set("note", id(2 * i), row(i));
      await writeCheckout(dir, base);
      const x = CheckoutIndex.decode(new Uint8Array(await readFile(join(dir, CHECKOUT_FILE))));
      for (let i = 0; i < 40; i++) x.set("note", id(2 * i + 1), row(i)); // 40 of 400: kept
      x.delete("note", id(0));
      x.root = A;
      const expected = [...x.rows()];
      let readBack = 0;
      x.written(5, () => {
        readBack++;
        return new Uint8Array(0);
      });
      expect(readBack).toBe(0);
      expect(x.dirty).toBe(false);
      expect(x.writtenAt).toBe(5);
      expect([...x.rows()]).toEqual(expected);
      // Changed again after the write: dirty, and the file written then holds every change so far.
      x.set("embedding", id(3), row(7));
      expect(x.dirty).toBe(true);
      const want = [...x.rows()];
      await writeCheckout(dir, x);
      expect(x.dirty).toBe(false);
      const y = CheckoutIndex.decode(new Uint8Array(await readFile(join(dir, CHECKOUT_FILE))));
      expect([...y.rows()]).toEqual(want);
      expect(y.root).toBe(A);
      // The next scan's fold puts the changes into the rows as read, and that is not a change.
      x.fold();
      expect(x.dirty).toBe(false);
      expect(x.range("note")).toEqual([0, 439]);
      expect([...x.rows()]).toEqual(want);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("after writing many changes it lets its rows go and reads the file back only when the rows are next looked at", async () => {
    const base = CheckoutIndex.empty(ROOT);
    for (let i = 0; i < 100; i++) base.set("note", id(i), row(i)); // 100 changes over 0 rows as read
    const want = [...base.rows()];
    const file = base.encode(5);
    let reads = 0;
    base.written(5, () => {
      reads++;
      return file;
    });
    expect([reads, base.dirty, base.root, base.writtenAt]).toEqual([0, false, ROOT, 5]);
    expect(base.range("note")).toEqual([0, 100]); // the first look at the rows reads the file, once
    expect([...base.rows()]).toEqual(want);
    expect(base.get("note", id(7))).toEqual(row(7));
    expect(reads).toBe(1);
    // A file gone or damaged by then leaves an empty index (the next scan reads every file), as opening one does.
    for (const read of [() => file.subarray(0, 40), () => { throw Object.assign(new Error("gone"), { code: "ENOENT" }); }]) {
      const x = CheckoutIndex.empty(ROOT);
      for (let i = 0; i < 10; i++) x.set("note", id(i), row(i));
      x.written(6, read);
      expect([...x.rows()]).toEqual([]);
      expect(x.hasRows("note")).toBe(false);
    }
    // Any other error is not taken for an empty index: it is thrown, and the next look reads again.
    const y = CheckoutIndex.empty(ROOT);
    y.set("note", id(1), row(1));
    const yFile = y.encode(7);
    let failures = 1;
    y.written(7, () => {
      if (failures-- > 0) throw new Error("EIO");
      return yFile;
    });
    expect(() => y.range("note")).toThrow(/EIO/);
    expect(y.get("note", id(1))).toEqual(row(1));
  });

  it("the rows may not change while its pieces are taken", () => {
    const x = CheckoutIndex.empty();
    x.set("note", "a", row(1));
    const pieces = x.encodePieces(1);
    pieces.next();
    expect(() => x.set("note", "b", row(2))).toThrow(/while being written/);
    expect(() => x.delete("note", "a")).toThrow(/while being written/);
    [...pieces];
    x.set("note", "b", row(2));
  });
});
