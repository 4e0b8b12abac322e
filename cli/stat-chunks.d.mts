// Types of stat-chunks.mjs (plain JavaScript: stat threads load it without TypeScript).
export declare const STAT_MISSING: 0;
export declare const STAT_FILE: 1;
export declare const STAT_OTHER: 2;
export declare const fstatSig: (fd: number) => [number, number, number];
export declare const statInto: (path: string, sigs: Float64Array, at: number) => void;
export interface StatGroup {
  prefix: string;
  count: number;
  suffix: string;
}
export declare function statChunks(
  groups: readonly StatGroup[],
  nameAt: (group: number, index: number) => string,
  firstChunk: readonly number[],
  chunk: number,
  sigs: Float64Array,
  next: Int32Array,
): void;
export interface SharedNames {
  bytes: SharedArrayBuffer;
  ends: SharedArrayBuffer;
}
export declare function shareNames(groups: readonly { names: readonly string[] }[]): SharedNames;
export declare function sharedNameAt(shared: SharedNames, groupStarts: readonly number[]): (group: number, index: number) => string;
