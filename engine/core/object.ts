// The object model: everything stored is an immutable object named by the SHA-256 of its bytes.
import type { Address } from "./hash.ts";

export const ObjectType = {
  /** Bytes of one note part, or one chunk of a large note. */
  Blob: 1,
  /** List of chunks that make up a large note (chunklist.ts). */
  ChunkList: 2,
  /** A node of the manifest tree (tree.ts). */
  Tree: 3,
  /** A snapshot record (snapshot.ts). */
  Snapshot: 4,
} as const;
export type ObjectType = (typeof ObjectType)[keyof typeof ObjectType];

export function isObjectType(t: number): t is ObjectType {
  return t >= 1 && t <= 4;
}

export interface StoredObject {
  type: ObjectType;
  addr: Address;
  bytes: Uint8Array;
}
