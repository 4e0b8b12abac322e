// Run counts for the property tests. CI: a fixed seed and few runs (the whole test/merge run stays
// well under a minute). PENUMBRA_LONG=1 (npm run test:long): 10x the runs and a random seed.
// PENUMBRA_RUNS_FACTOR=0.2|3|… scales every property's runs. Replay a failure with the seed and path fast-check prints: PENUMBRA_SEED=… PENUMBRA_PATH=… .
import type fc from "fast-check";

export const LONG = process.env.PENUMBRA_LONG === "1";
const FIXED_SEED = 20260701;

export function runs(base: number): number {
  const f = Number(process.env.PENUMBRA_RUNS_FACTOR);
  const n = Number.isFinite(f) && f > 0 ? Math.max(1, Math.ceil(base * f)) : base;
  return LONG ? n * 10 : n;
}

/** fc.assert parameters: numRuns from `base` (times PENUMBRA_RUNS_FACTOR, if set), the seed rules above. */
export function params<T>(base: number): fc.Parameters<T> {
  const p: fc.Parameters<T> = { numRuns: runs(base) };
  if (process.env.PENUMBRA_SEED) p.seed = Number(process.env.PENUMBRA_SEED);
  else if (!LONG) p.seed = FIXED_SEED;
  if (process.env.PENUMBRA_PATH) p.path = process.env.PENUMBRA_PATH;
  return p;
}
