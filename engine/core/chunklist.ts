// Large notes (> LARGE_BLOB bytes) are stored as content-defined chunks plus a chunk list, so an
// edit in the middle of a 1 MB note re-uploads only the chunks around it.
//
//   chunk list := "PNC" | version u8 (=1) | total length varint | count varint | (length varint | chunk addr [32])*
import { ByteReader, ByteWriter, FormatError, fromHex, toHex } from "./bytes.ts";
import { ADDRESS_BYTES, addressOf, type Address } from "./hash.ts";
import { chunk } from "./chunker.ts";

export const LARGE_BLOB = 64 * 1024;
const MAGIC = [0x50, 0x4e, 0x43]; // "PNC"
const VERSION = 1;
/** 1 GiB of note text is far past anything a notes app holds; larger lists are corrupt or hostile. */
const MAX_TOTAL = 1 << 30;

export interface ChunkRef {
  addr: Address;
  length: number;
}

export interface ChunkedBlob {
  list: Uint8Array;
  listAddr: Address;
  chunks: { addr: Address; bytes: Uint8Array }[];
}

/** `address` names chunks and the list: SHA-256 in plain vaults, the vault's keyed hash in encrypted ones. */
export function splitLargeBlob(data: Uint8Array, address: (bytes: Uint8Array) => Address = addressOf): ChunkedBlob {
  const chunks = chunk(data).map((bytes) => ({ addr: address(bytes), bytes }));
  const list = encodeChunkList(chunks.map((c) => ({ addr: c.addr, length: c.bytes.length })));
  return { list, listAddr: address(list), chunks };
}

export function encodeChunkList(refs: readonly ChunkRef[]): Uint8Array {
  const w = new ByteWriter(16 + refs.length * 36);
  w.byte(MAGIC[0]).byte(MAGIC[1]).byte(MAGIC[2]).byte(VERSION);
  w.varint(refs.reduce((n, r) => n + r.length, 0)).varint(refs.length);
  for (const r of refs) w.varint(r.length).bytes(fromHex(r.addr));
  return w.finish();
}

export function decodeChunkList(bytes: Uint8Array): { total: number; chunks: ChunkRef[] } {
  const r = new ByteReader(bytes);
  for (const m of MAGIC) if (r.byte() !== m) throw new FormatError("not a chunk list");
  if (r.byte() !== VERSION) throw new FormatError("unsupported chunk list version");
  const total = r.varint();
  if (total > MAX_TOTAL) throw new FormatError(`chunked blob of ${total} bytes`);
  const count = r.varint();
  if (count > bytes.length) throw new FormatError("chunk count exceeds list size");
  const chunks: ChunkRef[] = [];
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const length = r.varint();
    sum += length;
    chunks.push({ length, addr: toHex(r.bytes(ADDRESS_BYTES)) });
  }
  r.end("chunk list");
  if (sum !== total) throw new FormatError(`chunk lengths add up to ${sum}, list says ${total}`);
  return { total, chunks };
}

/** Reassembles a chunked blob, checking every chunk's length (its hash is checked where it was read). */
export function joinChunks(list: { total: number; chunks: ChunkRef[] }, parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.total);
  let o = 0;
  list.chunks.forEach((c, i) => {
    if (parts[i].length !== c.length) throw new FormatError(`chunk ${c.addr} is ${parts[i].length} bytes, list says ${c.length}`);
    out.set(parts[i], o);
    o += c.length;
  });
  return out;
}
