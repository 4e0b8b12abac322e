import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IdList } from "../../cli/id-list.ts";

describe("IdList", () => {
  it("holds the ids sorted and cuts each one out", () => {
    const ids = ["b", "a-b", "a", "0f3c", "Z.x_y"];
    const list = IdList.sorted([...ids]);
    expect(list.length).toBe(5);
    // Sorted as strings (the checkout's order): "a" before "a-b", uppercase before lowercase.
    expect(Array.from({ length: list.length }, (_, k) => list.at(k))).toEqual(["0f3c", "Z.x_y", "a", "a-b", "b"]);
  });

  it("is empty for no ids", () => {
    expect(IdList.sorted([]).length).toBe(0);
    expect(IdList.EMPTY.length).toBe(0);
  });

  it("answers what a sorted array of the ids answers", () => {
    const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/);
    fc.assert(
      fc.property(fc.uniqueArray(id, { maxLength: 200 }), (ids) => {
        const list = IdList.sorted([...ids]);
        const want = [...ids].sort();
        expect(list.length).toBe(want.length);
        for (let k = 0; k < want.length; k++) expect(list.at(k)).toBe(want[k]);
      }),
    );
  });
});
