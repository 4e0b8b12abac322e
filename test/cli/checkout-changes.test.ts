// CheckoutChanges (cli/checkout-changes.ts): rows set in id order go to a sorted run of bytes,
// others to a Map; whichever way an id went, what it answers is what a plain Map of (part, id)
// -> row would answer. Property: batches of ascending ids (a scan, a checkout) mixed with ids in
// any order (edits, deletions), each set, reset or removed, against that model.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { toHex } from "../../engine/core/bytes.ts";
import { AppendedIds, CheckoutChanges } from "../../cli/checkout-changes.ts";

const idArb = fc.stringMatching(/^[a-z0-9._-]{1,6}$/);
const rowArb = fc.record({
  sig: fc.tuple(fc.nat(), fc.double({ noNaN: true, min: 0, max: 2e12 }), fc.nat()),
  addr: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex),
  extra: fc.nat({ max: 2 ** 32 - 1 }),
});
const opArb = fc.tuple(fc.nat({ max: 2 }), idArb, fc.option(rowArb, { nil: null }));
/** A batch: the ops as drawn, or sorted by id (each part's ids ascending, as a scan sets them). */
const batchArb = fc.tuple(fc.array(opArb, { maxLength: 40 }), fc.boolean()).map(([ops, ascending]) => (ascending ? [...ops].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)) : ops));

/** The 60 bytes writeFixed writes for a slot. */
function fixedOf(c: CheckoutChanges, slot: number): number[] {
  const out = new Uint8Array(64);
  expect(c.writeFixed(slot, out, new DataView(out.buffer), 4)).toBe(64);
  return [...out.subarray(4)];
}

/** A row's fixed fields as the checkout index's layout gives them (docs/design.md, "Local state"). */
function fixedBytes(row: { sig: number[]; extra: number; addr: string }): number[] {
  const out = new Uint8Array(60);
  const view = new DataView(out.buffer);
  row.sig.forEach((v, i) => view.setFloat64(8 * i, v, true));
  view.setUint32(24, row.extra, true);
  out.set(Buffer.from(row.addr, "hex"), 28);
  return [...out];
}

describe("CheckoutChanges", () => {
  it("answers what a Map of (part, id) -> row answers, however the ids came", () => {
    fc.assert(
      fc.property(fc.array(batchArb, { maxLength: 5 }), fc.nat({ max: 300 }), (batches, room) => {
        const c = new CheckoutChanges();
        c.reserve(room);
        const model = [new Map(), new Map(), new Map()] as Map<string, unknown>[];
        for (const batch of batches) {
          for (const [part, id, row] of batch) {
            c.set(part, id, row);
            model[part].set(id, row);
          }
          expect(c.size).toBe(model.reduce((n, m) => n + m.size, 0));
          for (let part = 0; part < 3; part++) {
            expect(c.countOf(part)).toBe(model[part].size);
            expect([...c.idsInOrder(part)]).toEqual([...model[part].keys()].sort());
            for (const [id, row] of model[part]) {
              expect(c.get(part, id)).toEqual(row);
            }
          }
          for (const [part, id] of batch) {
            const other = id + "~"; // sorts after id, never drawn (not in the alphabet)
            expect(c.get(part, other)).toBeUndefined();
          }
          const expected = model.flatMap((m, part) => [...m.keys()].sort().map((id) => ({ part, id, row: m.get(id) })));
          expect([...c.sorted()]).toEqual(expected);
          // The same changes by slot: each slot's row, and its fixed fields as the index writes them.
          const bySlot = Array.from(c.sortedSlots(), ({ part, id, slot }) => ({ part, id, row: c.isPresent(slot) ? c.rowAt(slot) : null, fixed: fixedOf(c, slot) }));
          expect(bySlot.map(({ part, id, row }) => ({ part, id, row }))).toEqual(expected);
          for (const { row, fixed } of bySlot) if (row) expect(fixed).toEqual(fixedBytes(row));
          // Every id once, in id order, with the slot of each part it changed in (-1: not changed there).
          const ids = [...new Set(model.flatMap((m) => [...m.keys()]))].sort();
          const withSlots = Array.from(c.idsWithSlots(), ({ id, slots }) => ({ id, rows: [...slots].map((s) => (s < 0 ? undefined : c.isPresent(s) ? c.rowAt(s) : null)) }));
          expect(withSlots).toEqual(ids.map((id) => ({ id, rows: model.map((m) => m.get(id)) })));
        }
        c.clear();
        expect([c.size, c.countOf(0), [...c.sorted()].length]).toEqual([0, 0, 0]);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps ascending ids out of the Map: 300,000 ids set in order are found, in order", () => {
    const run = new AppendedIds();
    for (let i = 0; i < 300_000; i++) run.append(`n${String(i).padStart(6, "0")}`, 7 * i);
    expect(run.count).toBe(300_000);
    expect([run.find("n000000"), run.find("n123456"), run.find("n299999")]).toEqual([0, 7 * 123456, 7 * 299999]);
    expect([run.find("n"), run.find("n1234560"), run.find("o")]).toEqual([-1, -1, -1]);
    expect(run.idAt(123456)).toBe("n123456");
    expect(() => run.append("n000001", 1)).toThrow(/appended after/);
  });
});
