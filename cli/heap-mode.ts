// Memory before speed for the command line's processes (issue 14). V8's --optimize-for-size keeps the
// heap closer to what is live: it grows the heap by smaller steps and collects sooner. At 100,000
// notes a one-shot sync of 1,000 edited notes peaked at 205-215 MiB with it instead of 249-267 MiB
// (~15% more CPU), a no-op at 188-189 instead of 212-220, a clone at 205 instead of 321 (user CPU
// 54 vs 46 s) (bench/results/memory2-100000-notes.md). Not for a scan big enough for threads (an
// initial push): its live heap is large, and the flag collected it over and over: 609 MiB but 77 s
// of CPU and twice the wall time, against 830 MiB and 44 s with V8's defaults, which preferSpeed
// restores for the rest of the process. Set before a command runs, while the heap is small; worker
// threads share the process's flags. PENUMBRA_SYNC_V8_FLAGS replaces the flags ("" for none).
import { setFlagsFromString } from "node:v8";

export const DEFAULT_V8_FLAGS = "--optimize-for-size";

let small = false;

export function preferSmallHeap(env: NodeJS.ProcessEnv = process.env): void {
  const flags = env.PENUMBRA_SYNC_V8_FLAGS ?? DEFAULT_V8_FLAGS;
  if (flags) setFlagsFromString(flags);
  small = flags === DEFAULT_V8_FLAGS;
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
