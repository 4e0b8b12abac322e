// Memory before speed for the command line's processes (issue 14). V8's --optimize-for-size keeps the
// heap closer to what is live: it grows the heap by smaller steps and collects sooner. At 100,000
// notes a one-shot sync of 1,000 edited notes peaked at 208-222 MiB with it instead of 317-322 MiB,
// a no-op at 206-215 instead of 231-233, for about 10% more CPU (bench/results/memory2-100000-notes.md).
// Set before a command runs, while the heap is small; worker threads share the process's flags.
// PENUMBRA_SYNC_V8_FLAGS replaces the flags ("" for none).
import { setFlagsFromString } from "node:v8";

export const DEFAULT_V8_FLAGS = "--optimize-for-size";

export function preferSmallHeap(env: NodeJS.ProcessEnv = process.env): void {
  const flags = env.PENUMBRA_SYNC_V8_FLAGS ?? DEFAULT_V8_FLAGS;
  if (flags) setFlagsFromString(flags);
}
