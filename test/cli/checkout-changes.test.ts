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
