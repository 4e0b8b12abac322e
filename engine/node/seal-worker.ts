// A seal-pool thread's handler: seals one wire batch (the keys come with it: no state between batches).
import { installNodeCrypto } from "../crypto/node.ts";
import { sealWireBatch, type SealBatchWire, type SealedBatchWire } from "../crypto/seal-batch.ts";
import type { SealKeys } from "../crypto/seal.ts";
import type { PoolHandler } from "./worker-pool.ts";

export interface SealRequest {
  keys: SealKeys;
  batch: SealBatchWire;
}

export const handle: PoolHandler<SealRequest, SealedBatchWire> = ({ keys, batch }) => {
  installNodeCrypto(); // once per thread (idempotent): OpenSSL and zlib, same bytes as the portable code
  const sealed = sealWireBatch(keys, batch);
  return { result: sealed, transfer: [sealed.data.buffer as ArrayBuffer, sealed.ends.buffer as ArrayBuffer] };
};
