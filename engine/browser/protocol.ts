// Messages between the page and the engine's Web Worker (worker.ts). Every request carries an id;
// the answer carries the same id and either a result or an error (name + message).
import type { Address } from "../core/hash.ts";
import type { Entry } from "../core/tree.ts";
import type { JsonObject } from "../core/canonical.ts";

/** One note to stage: any of its parts (an absent part is left as it is). */
export interface NoteInput {
  id: string;
  note?: JsonObject;
  embedding?: Float32Array | number[];
  position?: JsonObject;
}

/** A pack built by the worker, with its objects as views-to-be into one buffer. */
export interface StagedPack {
  id: Address;
  bytes: Uint8Array;
  /** Raw bytes of every object, back to back. */
  data: Uint8Array;
  addrs: Address[];
  types: number[];
  /** Start of each object in `data`; object i ends where i + 1 starts (the last at data.length). */
  starts: number[];
}

export interface StageResult {
  /** Parts per note id, as `Vault.setEntry` takes them. */
  entries: (Partial<Entry> & { id: string })[];
  packs: StagedPack[];
  /** Notes refused (bad id, not a JSON object, ...), with why. */
  rejected: { id: string; error: string }[];
}

export type WorkerRequest =
  | { id: number; op: "gzip"; data: Uint8Array }
  | { id: number; op: "gunzip"; data: Uint8Array; rawLength: number }
  | { id: number; op: "digest"; data: Uint8Array }
  | { id: number; op: "verifyPack"; pack: Uint8Array }
  | { id: number; op: "stage"; notes?: NoteInput[]; json?: Blob | string; packTarget: number }
  | { id: number; op: "ping" };

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { name: string; message: string } };
