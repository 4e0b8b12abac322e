// A seal-pool worker thread: seals the batches it is sent and answers with one buffer per batch
// (transferred, not copied). Each message carries its keys: the worker holds no state between batches.
import { parentPort } from "node:worker_threads";
import { installNodeCrypto } from "../crypto/node.ts";
import { sealWireBatch, type SealBatchWire } from "../crypto/seal-batch.ts";
import type { SealKeys } from "../crypto/seal.ts";

export interface SealRequest {
  id: number;
  keys: SealKeys;
  batch: SealBatchWire;
}

installNodeCrypto();
parentPort!.on("message", (m: SealRequest) => {
  try {
    const sealed = sealWireBatch(m.keys, m.batch);
    parentPort!.postMessage({ id: m.id, ok: true, sealed }, [sealed.data.buffer as ArrayBuffer, sealed.ends.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id: m.id, ok: false, error: { name: err.name, message: err.message } });
  }
});
