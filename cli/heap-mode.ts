// V8's heap for the command line's processes (issue 14). By default a sync asks for a collection
// where a phase's working memory has just died (phaseEnded: after a full scan, after the commit,
// after the transfer; PENUMBRA_SYNC_PHASE_GC=0 turns it off): V8 alone let ~70 MiB of dead scan
// records and decoded nodes pile up before its first major collection, most of a 1,000-note edit's
// peak. Heap mode, opt-in: PENUMBRA_SYNC_V8_FLAGS
// (space-separated V8 flags; "--optimize-for-size" trades CPU for memory). V8's --optimize-for-size
// keeps the heap closer to what is live: it grows the heap by smaller steps and collects sooner. At
// 100,000 notes a one-shot sync of 1,000 edited notes peaked at 216-217 MiB with it and 273-278 MiB
// without, but took 8.6-8.7 CPU-s instead of 7.1-7.2 and 8.0-9.4 s instead of 6.9 (back to back,
// quiet host); across the benchmark's operations it cost 20-60% more CPU (a no-op, edits, a clone:
// bench/results/wire-deltas/). That is tuning around the local state's size, not shrinking it, and
// every sync pays it, so it is not the default. With it set, a scan big enough to read on threads
// (an initial push) turns it off for the rest of the process (preferSpeed): its heap is mostly live
// and the flag collected it over and over (609 MiB but 77 s of CPU, against 830 MiB and 44 s).
// Flags are set before a command runs, while the heap is small; worker threads share them.
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** The flag that trades CPU for a smaller heap (opt-in through PENUMBRA_SYNC_V8_FLAGS). */
export const SMALL_HEAP_FLAG = "--optimize-for-size";

let small = false;

export function preferSmallHeap(env: NodeJS.ProcessEnv = process.env): void {
  collector = null;
  if (env.PENUMBRA_SYNC_PHASE_GC !== "0") {
    // gc() is only handed out to contexts made after the flag is set: a new one, asked for it.
    setFlagsFromString("--expose-gc");
    collector = runInNewContext("gc") as () => void;
  }
  const flags = env.PENUMBRA_SYNC_V8_FLAGS ?? "";
  if (flags) setFlagsFromString(flags);
  small = flags.split(/\s+/).includes(SMALL_HEAP_FLAG);
}

/**
 * A big operation (a scan that reads on threads: an initial push) keeps a large heap live, which
 * the flag would collect over and over: V8's defaults for the rest of the process.
 */
export function preferSpeed(): void {
  if (!small) return;
  setFlagsFromString("--no-optimize-for-size");
  small = false;
}

let collector: (() => void) | null = null;

/** Above this much heap in use a phase's end is left to V8 (see phaseEnded). */
const PHASE_GC_MAX_HEAP = 192 * 1024 * 1024;

/**
 * A phase of a sync ended whose working memory is now garbage (a scan's per-file records, a
 * commit's decoded tree nodes): collect it now, while little is live, instead of letting V8 grow
 * the heap over it to its own first limit (a 1,000-note edit at 100,000 notes: 80 MiB of heap in
 * use at the commit's end, 9 MiB of it live). A collection costs about what is live: with more
 * than PHASE_GC_MAX_HEAP in use (an initial push holds the whole folder's entries) it would cost
 * much and free little, so V8 decides.
 */
export function phaseEnded(): void {
  if (!collector || getHeapStatistics().used_heap_size >= PHASE_GC_MAX_HEAP) return;
  collect();
  compactIfSparse();
}

/** Free bytes in the old space's pages from which a phase's end compacts them (see compactIfSparse). */
const SPARSE_OLD_SPACE = 24 * 1024 * 1024;
/** Live bytes in the old space up to which it is compacted: moving them needs as much room first. */
const COMPACT_LIVE_MAX = 32 * 1024 * 1024;

/**
 * A collection frees objects, not pages: a page with one survivor stays resident, and V8 moves
 * only a few pages' survivors together per collection. A phase that kept many objects to its end
 * (an initial push's commit: 100,000 working entries and the tree built from them) leaves the old
 * space mostly empty pages with survivors spread over them (59.5 MiB of pages for ~22 live at
 * 100,000 notes), which stayed resident through the upload. If the old space is at least half
 * free, and by SPARSE_OLD_SPACE or more, one more collection moves every survivor together
 * (V8's --compact-on-every-full-gc, for that collection only) and the emptied pages go back to
 * the system: 59.5 -> 22 MiB, the upload's peak ~270 -> ~225 MiB. Not while most of the heap is
 * live (a scan's end) nor with more than COMPACT_LIVE_MAX live: moving it needs room for a copy of
 * it first (an encrypted initial push, whose working entries are live after its scan, peaked at
 * 562-574 MiB with that compaction and 528 without).
 */
function compactIfSparse(): void {
  const old = getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
  if (!old) return;
  const free = old.space_size - old.space_used_size;
  if (free < SPARSE_OLD_SPACE || old.space_used_size > free || old.space_used_size > COMPACT_LIVE_MAX) return;
  setFlagsFromString("--compact-on-every-full-gc");
  try {
    collect();
  } finally {
    setFlagsFromString("--no-compact-on-every-full-gc");
  }
}

/** Collects now (callers check that collection is on) and notes what stayed live. */
function collect(): void {
  collector?.();
  liveAfter = getHeapStatistics().used_heap_size;
}

/** Heap in use after the last collection asked for here. */
let liveAfter = 0;
/** How much the heap in use may grow within a phase before progressDone collects. */
const PHASE_GROWTH = 48 * 1024 * 1024;

/**
 * A step of a long phase is done (a pack downloaded, uploaded or stored, 512 files read by a scan):
 * collect if the heap in use grew by PHASE_GROWTH since the last collection asked for here, however
 * big it is (the growth is what a collection would find dead). A clone verifies ~3,000 objects per
 * pack and keeps none of them: at 100,000 notes V8 let its heap grow to 115 MiB in use, ~20 live.
 * While an initial push's commit packed, V8 let it grow from ~150 to ~250 MiB in use, half dead.
 */
export function progressDone(): void {
  if (!collector) return;
  const grown = getHeapStatistics().used_heap_size - liveAfter;
  // Near the process's memory target less growth is worth a collection: packs in flight and their
  // decoded frames (outside the heap) come and go in tens of MiB, and a peak is where both meet.
  // Not less than half of what is live, though, which each collection costs (an initial push's
  // scan asked for 41 instead of 16: docs/design.md, "Memory of a command").
  if (grown > PHASE_GROWTH || (grown > Math.max(PHASE_GROWTH / 3, liveAfter / 2) && process.memoryUsage.rss() > SOFT_RSS_TARGET)) collect();
}

/** The resident size above which progressDone collects sooner (issue 14: <= 256 MiB a sync). */
const SOFT_RSS_TARGET = 224 * 1024 * 1024;
