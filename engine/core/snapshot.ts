// Snapshots: { parents, manifest root, device, time, stats } as canonical JSON, named by its hash.
// Parents are sorted so that two devices merging the same heads write the same parent list.
import { canonicalBytes, parseJsonObjectBytes } from "./canonical.ts";
import { FormatError } from "./bytes.ts";
import { addressOf, isAddress, type Address } from "./hash.ts";

export const SNAPSHOT_TYPE = "penumbra.snapshot";

export interface SnapshotStats {
  notes: number;
  embeddings: number;
  positions: number;
}

/** Adds an entry's parts to `stats` (`by` -1: takes them away). */
export function countParts(stats: SnapshotStats, e: { note?: unknown; embedding?: unknown; position?: unknown } | undefined, by = 1): void {
  if (e?.note) stats.notes += by;
  if (e?.embedding) stats.embeddings += by;
  if (e?.position) stats.positions += by;
}

export interface Snapshot {
  parents: Address[];
  root: Address;
  device: string;
  /** ISO-8601, the writing device's clock: informative only, never used to order history. */
  time: string;
  stats: SnapshotStats;
  message?: string;
}

export function encodeSnapshot(s: Snapshot): { addr: Address; bytes: Uint8Array } {
  const record: Record<string, unknown> = {
    type: SNAPSHOT_TYPE,
    v: 1,
    parents: [...new Set(s.parents)].sort(),
    root: s.root,
    device: s.device,
    time: s.time,
    stats: { notes: s.stats.notes, embeddings: s.stats.embeddings, positions: s.stats.positions },
  };
  if (s.message) record.message = s.message;
  const bytes = canonicalBytes(record);
  return { addr: addressOf(bytes), bytes };
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const o = parseJsonObjectBytes(bytes, "snapshot") as Record<string, unknown>;
  if (o.type !== SNAPSHOT_TYPE || o.v !== 1) throw new FormatError("not a v1 snapshot");
  const parents = o.parents;
  if (!Array.isArray(parents) || !parents.every(isAddress)) throw new FormatError("snapshot parents");
  if (!isAddress(o.root)) throw new FormatError("snapshot root");
  if (typeof o.device !== "string" || typeof o.time !== "string") throw new FormatError("snapshot device/time");
  const st = o.stats as Record<string, unknown> | undefined;
  const count = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : -1);
  if (!st || count(st.notes) < 0 || count(st.embeddings) < 0 || count(st.positions) < 0) throw new FormatError("snapshot stats");
  const s: Snapshot = {
    parents: parents as Address[],
    root: o.root,
    device: o.device,
    time: o.time,
    stats: { notes: st.notes as number, embeddings: st.embeddings as number, positions: st.positions as number },
  };
  if (typeof o.message === "string") s.message = o.message;
  return s;
}
