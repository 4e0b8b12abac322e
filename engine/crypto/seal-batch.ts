// Sealing many objects at once, so that a runtime with threads can spread the work over its cores.
// Sealing is deterministic (seal.ts: the nonce is a PRF of what is sealed), so a batch sealed on
// other threads gives exactly the bytes sealObject gives here; test/crypto/seal-batch.test.ts
// proves it. The wire form below is how a batch crosses to a worker: two buffers and small arrays,
// all transferable, never one message per object.
import type { Address } from "../core/hash.ts";
import type { ObjectType } from "../core/object.ts";
import { sealObject, type SealKeys } from "./seal.ts";

export interface SealJob {
  type: ObjectType;
  addr: Address;
  bytes: Uint8Array;
  /** Try DEFLATE first (kept only when smaller). */
  compress: boolean;
}

/** Seals batches, maybe elsewhere (the Node adapter: engine/node/seal-pool.ts). Results in job order. */
export interface BatchSealer {
  seal(keys: SealKeys, jobs: readonly SealJob[]): Promise<Uint8Array[]>;
}

/** A batch on the wire: plaintexts back to back in `data`, object i ending at `ends[i]`. */
export interface SealBatchWire {
  types: Uint8Array;
  compress: Uint8Array;
  addrs: Address[];
  ends: Uint32Array;
  data: Uint8Array;
}

/** The sealed objects of a batch: back to back in `data`, object i ending at `ends[i]`. */
export interface SealedBatchWire {
  ends: Uint32Array;
  data: Uint8Array;
}

export function encodeSealBatch(jobs: readonly SealJob[]): SealBatchWire {
  let total = 0;
  for (const j of jobs) total += j.bytes.length;
  const wire: SealBatchWire = { types: new Uint8Array(jobs.length), compress: new Uint8Array(jobs.length), addrs: [], ends: new Uint32Array(jobs.length), data: new Uint8Array(total) };
  let at = 0;
  jobs.forEach((j, i) => {
    wire.types[i] = j.type;
    wire.compress[i] = j.compress ? 1 : 0;
    wire.addrs.push(j.addr);
    wire.data.set(j.bytes, at);
    at += j.bytes.length;
    wire.ends[i] = at;
  });
  return wire;
}

/** Seals every object of a wire batch here (what a worker runs). */
export function sealWireBatch(keys: SealKeys, wire: SealBatchWire): SealedBatchWire {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < wire.addrs.length; i++) {
    const end = wire.ends[i];
    out.push(sealObject(keys, wire.types[i] as ObjectType, wire.addrs[i], wire.data.subarray(start, end), wire.compress[i] === 1));
    start = end;
  }
  return joinBatch(out);
}

function joinBatch(parts: Uint8Array[]): SealedBatchWire {
  let total = 0;
  for (const p of parts) total += p.length;
  const data = new Uint8Array(total);
  const ends = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => {
    data.set(p, at);
    at += p.length;
    ends[i] = at;
  });
  return { ends, data };
}

/** The sealed objects of a wire answer, as views into its buffer (no copies). */
export function splitSealedBatch(wire: SealedBatchWire): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const end of wire.ends) {
    out.push(wire.data.subarray(start, end));
    start = end;
  }
  return out;
}

/** Seals on this thread, one object after another. */
export const inlineSealer: BatchSealer = {
  async seal(keys, jobs) {
    return jobs.map((j) => sealObject(keys, j.type, j.addr, j.bytes, j.compress));
  },
};

let current: BatchSealer = inlineSealer;

/** Swap in a sealer that uses more cores (same bytes). */
export function useBatchSealer(s: BatchSealer): void {
  current = s;
}

export function batchSealer(): BatchSealer {
  return current;
}
