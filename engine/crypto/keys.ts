// The vault key and the keys derived from it (docs/security.md, "Key hierarchy").
//
//   vault key (32 random bytes; wrapped in the vault config by the passphrase, envelope.ts)
//     -> HKDF-SHA-256(ikm = vault key, salt = "penumbra-sync vault v1", info = "penumbra-sync/v1/<purpose>")
//          address  HMAC key naming every object: address = HMAC-SHA-256(addrKey, plaintext)
//          tree     HMAC key of manifest keys: key = HMAC-SHA-256(treeKey, UTF-8 of the note id)
//          nonce    HMAC key of the synthetic nonces (seal.ts)
//          seal     XChaCha20-Poly1305 key of every object (seal.ts)
//          key-id   16 bytes, public: names the vault key in the config (a device can tell its
//                   stored key from another vault's), reveals nothing about it
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../core/bytes.ts";
import type { Address } from "../core/hash.ts";
import type { ObjectType } from "../core/object.ts";
import type { TreeKeying } from "../core/tree.ts";
import { cryptoImpl, randomBytes } from "./primitives.ts";
import { looksSealed, openObject, sealObject, type SealKeys } from "./seal.ts";
import { batchSealer, type SealJob } from "./seal-batch.ts";

export const VAULT_KEY_BYTES = 32;
const HKDF_SALT = utf8("penumbra-sync vault v1");

export function deriveSubkey(vaultKey: Uint8Array, purpose: string, length = 32): Uint8Array {
  return hkdf(sha256, vaultKey, HKDF_SALT, utf8(`penumbra-sync/v1/${purpose}`), length);
}

/**
 * Keys kept for ids looked up again (a watcher's edits, lookups). Small: a key costs ~2 us to
 * make, and a cache of every id a full tree walk keyed (it was up to 1M) held ~15 MiB per
 * 100,000 notes for the rest of the process.
 */
const TREE_KEY_CACHE = 1 << 14;

export class VaultKeys {
  /** Public name of this vault key (hex, 16 bytes of HKDF output). */
  readonly keyId: string;
  readonly keying: TreeKeying;
  private readonly vaultKey: Uint8Array;
  private readonly seal: SealKeys;
  private readonly treeHmacKey: Uint8Array;
  private readonly treeKeys = new Map<string, Uint8Array>();

  private constructor(vaultKey: Uint8Array) {
    if (vaultKey.length !== VAULT_KEY_BYTES) throw new RangeError(`a vault key is ${VAULT_KEY_BYTES} bytes, got ${vaultKey.length}`);
    this.vaultKey = vaultKey.slice();
    this.seal = { addrKey: deriveSubkey(vaultKey, "address"), nonceKey: deriveSubkey(vaultKey, "nonce"), sealKey: deriveSubkey(vaultKey, "seal") };
    this.treeHmacKey = deriveSubkey(vaultKey, "tree");
    this.keyId = toHex(deriveSubkey(vaultKey, "key-id", 16));
    this.keying = { keyOf: (id) => this.treeKey(id), plainKeys: false, addressOf: (bytes) => this.addressOf(bytes) };
  }

  static fromVaultKey(vaultKey: Uint8Array): VaultKeys {
    return new VaultKeys(vaultKey);
  }

  static generate(): VaultKeys {
    return new VaultKeys(randomBytes(VAULT_KEY_BYTES));
  }

  /** The raw vault key: for wrapping it, and for the device's local key file. Handle with care. */
  exportVaultKey(): Uint8Array {
    return this.vaultKey.slice();
  }

  readonly addressOf = (bytes: Uint8Array): Address => toHex(cryptoImpl().hmacSha256(this.seal.addrKey, bytes));

  /** Manifest key of a note id (32 bytes): ids never appear in clear in a tree node's keys. */
  treeKey(id: string): Uint8Array {
    let k = this.treeKeys.get(id);
    if (!k) {
      k = cryptoImpl().hmacSha256(this.treeHmacKey, utf8(id));
      if (this.treeKeys.size >= TREE_KEY_CACHE) this.treeKeys.clear();
      this.treeKeys.set(id, k);
    }
    return k;
  }

  sealObject(type: ObjectType, addr: Address, plaintext: Uint8Array, compress: boolean): Uint8Array {
    return sealObject(this.seal, type, addr, plaintext, compress);
  }

  /** Seals many objects, on other threads where the runtime installed a pool (same bytes as sealObject). */
  sealMany(jobs: readonly SealJob[]): Promise<Uint8Array[]> {
    return batchSealer().seal(this.seal, jobs);
  }

  /** Authenticates and opens; TamperedObjectError on any mismatch (nothing of the object is returned). */
  openObject(addr: Address, sealed: Uint8Array, expectType?: ObjectType): { type: ObjectType; bytes: Uint8Array } {
    return openObject(this.seal, addr, sealed, expectType);
  }

  /** For stores: the cheap shape check they can do without keys. */
  static looksSealed(bytes: Uint8Array): boolean {
    return looksSealed(bytes);
  }
}
