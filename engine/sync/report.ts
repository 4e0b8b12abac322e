// What a sync did, for the app, the CLI's --json and the byte budgets.
import type { Address } from "../core/hash.ts";
import type { TreeChange } from "../core/tree.ts";

export interface ChangeCounts {
  added: number;
  modified: number;
  deleted: number;
}

export interface Conflict {
  id: string;
  /** What happened: the rule of docs/merge.md that decided it. */
  kind: "text-conflict-copy" | "field-winner" | "edit-beats-delete" | "position-winner" | "embedding-winner";
  /** The conflict copy note, when one was made. */
  copy?: string;
  detail?: string;
}

export interface SyncReport {
  snapshot: Address | null;
  uploaded: { bytes: number; requests: number; objects: number; packs: number };
  downloaded: { bytes: number; requests: number; objects: number; packs: number };
  /** Changes this device received (applied to its vault). */
  changes: ChangeCounts;
  /** Changes this device sent. */
  pushed: ChangeCounts;
  merged: boolean;
  conflicts: Conflict[];
  needsEmbedding: string[];
  retries: number;
  /** Objects sent again because the remote had lost them (a commit answered missing_objects). */
  reuploaded: number;
}

export function countChanges(changes: readonly TreeChange[]): ChangeCounts {
  const c: ChangeCounts = { added: 0, modified: 0, deleted: 0 };
  for (const x of changes) countChange(c, x);
  return c;
}

/** Counts a streamed diff (tree-walk.ts) as it goes: a clone's 100,000 changes are never listed. */
export async function countChangesOf(changes: AsyncIterable<TreeChange>, keep: (c: TreeChange) => boolean = () => true): Promise<ChangeCounts> {
  const c: ChangeCounts = { added: 0, modified: 0, deleted: 0 };
  for await (const x of changes) if (keep(x)) countChange(c, x);
  return c;
}

function countChange(c: ChangeCounts, x: TreeChange): void {
  if (!x.before) c.added++;
  else if (!x.after) c.deleted++;
  else c.modified++;
}

export function emptyReport(): SyncReport {
  return {
    snapshot: null,
    uploaded: { bytes: 0, requests: 0, objects: 0, packs: 0 },
    downloaded: { bytes: 0, requests: 0, objects: 0, packs: 0 },
    changes: { added: 0, modified: 0, deleted: 0 },
    pushed: { added: 0, modified: 0, deleted: 0 },
    merged: false,
    conflicts: [],
    needsEmbedding: [],
    retries: 0,
    reuploaded: 0,
  };
}
