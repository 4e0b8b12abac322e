// cli/heap-mode.ts: the collection a sync asks for where a phase's working memory has died (the
// scan's per-file records, the commit's decoded nodes), and the switch that turns it off.
import { getHeapSpaceStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { phaseEnded, preferSmallHeap, progressDone } from "../../cli/heap-mode.ts";

const MiB = 1024 * 1024;

/** ~40 MiB of small objects on the heap, returned so the caller decides when they die. */
function garbage(): object[] {
  const out: object[] = [];
  for (let i = 0; i < 400_000; i++) out.push({ id: `note-${i}`, sig: [i, i + 0.5, i * 3] });
  return out;
}

describe("heap mode", () => {
  it("phaseEnded collects what died in the phase (the default)", () => {
    preferSmallHeap({});
    let held: object[] | null = garbage();
    const withIt = process.memoryUsage().heapUsed;
    expect(held.length).toBe(400_000);
    held = null;
    phaseEnded();
    expect(withIt - process.memoryUsage().heapUsed).toBeGreaterThan(20 * MiB);
  });

  it("phaseEnded gives back the pages of an old space left mostly empty (survivors moved together)", () => {
    preferSmallHeap({});
    const oldSpace = () => getHeapSpaceStatistics().find((x) => x.space_name === "old_space")!.space_size;
    // ~100 MiB that lives long enough to be promoted, then one object in 20 survives, spread over
    // every page: a commit's working entries after it wrote its snapshot.
    let all: object[] | null = [];
    for (let i = 0; i < 1_000_000; i++) all.push({ id: `note-${i}`, sig: [i, i + 0.5, i * 3] });
    phaseEnded(); // promoted: what follows is the old space's pages, not the young generation's
    const before = oldSpace();
    const survivors = all.filter((_, i) => i % 20 === 0);
    all = null;
    phaseEnded();
    expect(survivors.length).toBe(50_000);
    // A collection alone frees the objects but keeps nearly every page (each has a survivor).
    expect(oldSpace()).toBeLessThan(before / 2);
  });

  it("progressDone collects once the heap grew by 48 MiB, however much of it is live", () => {
    preferSmallHeap({});
    phaseEnded(); // what is live now is the base the growth is measured from
    // ~210 MiB that stays live (past the 192 MiB over which a phase's end leaves the heap to V8)
    // and ~60 MiB that dies: an initial push's commit packing its objects.
    const live = new Array(27_500_000).fill(0.5);
    let dead: number[] | null = new Array(7_800_000).fill(0.25);
    expect(live.length + dead.length).toBe(35_300_000);
    dead = null;
    const before = process.memoryUsage().heapUsed;
    progressDone();
    expect(before - process.memoryUsage().heapUsed).toBeGreaterThan(40 * MiB);
    expect(live[live.length - 1]).toBe(0.5);
  });

  it("PENUMBRA_SYNC_PHASE_GC=0 leaves collection to V8", () => {
    preferSmallHeap({ PENUMBRA_SYNC_PHASE_GC: "0" });
    let held: object[] | null = garbage();
    const withIt = process.memoryUsage().heapUsed;
    expect(held.length).toBe(400_000);
    held = null;
    phaseEnded(); // no collection: the objects stay on the heap until V8's own next major GC
    expect(withIt - process.memoryUsage().heapUsed).toBeLessThan(10 * MiB);
    preferSmallHeap({});
  });
});
