// Sealed objects and the vault key envelope: the Node fast paths give the portable bytes, every
// flipped byte is refused, padding hides exact lengths, a wrong passphrase is a clear error, and a
// rewrap keeps the vault key.
import { describe, it, expect, afterEach } from "vitest";
import fc from "fast-check";
import { toHex, utf8 } from "../../engine/core/bytes.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { portableCrypto, useCryptoImpl } from "../../engine/crypto/primitives.ts";
import { nodeCrypto } from "../../engine/crypto/node.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { paddedLength, TamperedObjectError, SEAL_OVERHEAD, MIN_SEALED } from "../../engine/crypto/seal.ts";
import { createEncryption, unlockEncryption, rewrapEncryption, parseEncryption, WrongPassphraseError, EncryptionConfigError, type EncryptionConfig } from "../../engine/crypto/envelope.ts";

const FAST = { kdf: { name: "scrypt" as const, N: 1024, r: 8, p: 1 }, allowWeakKdf: true };
afterEach(() => useCryptoImpl(portableCrypto));

function keysOf(seed: number): VaultKeys {
  return VaultKeys.fromVaultKey(Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 255));
}

describe("Node fast paths = portable bytes", () => {
  it("HMAC, XChaCha20-Poly1305 and DEFLATE round trips agree on random inputs (both directions)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 5000 }), (key, nonce, ad, data) => {
        expect(toHex(nodeCrypto.hmacSha256(key, data, ad))).toBe(toHex(portableCrypto.hmacSha256(key, data, ad)));
        const a = portableCrypto.xchachaSeal(key, nonce, ad, data);
        expect(toHex(nodeCrypto.xchachaSeal(key, nonce, ad, data))).toBe(toHex(a));
        expect(nodeCrypto.xchachaOpen(key, nonce, ad, a)).toEqual(data);
        expect(portableCrypto.xchachaOpen(key, nonce, ad, a)).toEqual(data);
        // Any DEFLATE writer's stream is read by every reader.
        expect(nodeCrypto.inflateRaw(portableCrypto.deflateRaw(data), data.length)).toEqual(data);
        expect(portableCrypto.inflateRaw(nodeCrypto.deflateRaw(data), data.length)).toEqual(data);
      }),
      { numRuns: 150 },
    );
  });

  it("both raw inflaters stop at maxLength: a bomb, one byte too many, and a corrupt stream are RangeErrors", () => {
    const bomb = nodeCrypto.deflateRaw(new Uint8Array(4 * 1024 * 1024));
    for (const c of [portableCrypto, nodeCrypto]) {
      expect(() => c.inflateRaw(bomb, 1000)).toThrow(RangeError);
      const d = utf8("twelve bytes");
      expect(() => c.inflateRaw(c.deflateRaw(d), d.length - 1)).toThrow(RangeError);
      expect(c.inflateRaw(c.deflateRaw(d), d.length)).toEqual(d);
      expect(() => c.inflateRaw(new Uint8Array([0xff, 0xff, 0xff]), 10)).toThrow(RangeError);
    }
  });

  it("scrypt agrees (N=2^10, r=8, p=1)", async () => {
    const a = await portableCrypto.scrypt(utf8("pässwörd"), utf8("salt"), { N: 1024, r: 8, p: 1, dkLen: 32 });
    const b = await nodeCrypto.scrypt(utf8("pässwörd"), utf8("salt"), { N: 1024, r: 8, p: 1, dkLen: 32 });
    expect(toHex(a)).toBe(toHex(b));
  });

  it("objects sealed with either implementation open with the other, compressed or not", () => {
    const keys = keysOf(1);
    fc.assert(
      fc.property(fc.string({ maxLength: 3000 }), fc.boolean(), fc.constantFrom(ObjectType.Blob, ObjectType.Tree, ObjectType.Snapshot, ObjectType.ChunkList), (text, compress, type) => {
        const bytes = utf8(text.repeat(3));
        const addr = keys.addressOf(bytes);
        useCryptoImpl(nodeCrypto);
        const byNode = keys.sealObject(type, addr, bytes, compress);
        useCryptoImpl(portableCrypto);
        const byJs = keys.sealObject(type, addr, bytes, compress);
        expect(keys.openObject(addr, byNode, type).bytes).toEqual(bytes);
        useCryptoImpl(nodeCrypto);
        expect(keys.openObject(addr, byJs, type).bytes).toEqual(bytes);
        // Uncompressed: the same bytes (deterministic nonce), whoever sealed.
        if (!compress || bytes.length < 64) expect(toHex(byNode)).toBe(toHex(byJs));
      }),
      { numRuns: 100 },
    );
  });
});

describe("sealing", () => {
  const keys = keysOf(2);
  const note = utf8(JSON.stringify({ title: "Groceries", body: "milk\neggs\nbread\n".repeat(20) }));
  const addr = keys.addressOf(note);

  it("is deterministic: equal plaintexts give equal sealed bytes (dedupe), other keys other bytes", () => {
    expect(toHex(keys.sealObject(ObjectType.Blob, addr, note, true))).toBe(toHex(keys.sealObject(ObjectType.Blob, addr, note, true)));
    const other = keysOf(3);
    expect(other.addressOf(note)).not.toBe(addr);
  });

  it("compresses before sealing where it pays, and pads", () => {
    const sealed = keys.sealObject(ObjectType.Blob, addr, note, true);
    expect(sealed.length).toBeLessThan(note.length / 2);
    const raw = keys.sealObject(ObjectType.Blob, addr, note, false);
    expect(raw.length).toBe(SEAL_OVERHEAD + paddedLength(note.length + 2));
    expect(keys.openObject(addr, sealed).bytes).toEqual(note);
    expect(keys.openObject(addr, raw).bytes).toEqual(note);
  });

  it("refuses every single flipped bit, a wrong address, a wrong type, another vault's key, a truncation", () => {
    const sealed = keys.sealObject(ObjectType.Blob, addr, note, true);
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = sealed.slice();
        bad[i] ^= bit;
        expect(() => keys.openObject(addr, bad), `byte ${i}`).toThrow(TamperedObjectError);
      }
    }
    const otherAddr = keys.addressOf(utf8("another note"));
    expect(() => keys.openObject(otherAddr, sealed)).toThrow(TamperedObjectError);
    expect(() => keys.openObject(addr, sealed, ObjectType.Tree)).toThrow(/listed as type 3/);
    const relabeled = sealed.slice();
    relabeled[1] = ObjectType.Snapshot;
    expect(() => keys.openObject(addr, relabeled)).toThrow(/AEAD tag/);
    expect(() => keysOf(9).openObject(addr, sealed)).toThrow(TamperedObjectError);
    expect(() => keys.openObject(addr, sealed.subarray(0, sealed.length - 1))).toThrow(TamperedObjectError);
    expect(() => keys.openObject(addr, sealed.subarray(0, MIN_SEALED - 1))).toThrow(/shorter than any sealed object/);
    const e = (() => {
      try {
        keys.openObject(addr, relabeled);
      } catch (err) {
        return err as Error;
      }
    })();
    expect(e?.message).toMatch(/failed authentication .* refused and nothing of it was used/);
  });

  it("padding: 64-byte steps up to 2 KiB, then at most 1/32 added; never shorter; monotonic", () => {
    expect([0, 1, 63, 64, 65, 2048, 2049, 4095, 4096, 4097, 65536].map(paddedLength)).toEqual([64, 64, 64, 64, 128, 2048, 2112, 4096, 4096, 4224, 65536]);
    let prev = 0;
    for (let n = 0; n < 300_000; n += 1 + (n >> 6)) {
      const p = paddedLength(n);
      expect(p).toBeGreaterThanOrEqual(n);
      expect(p).toBeGreaterThanOrEqual(prev);
      if (n > 2048) expect(p - n).toBeLessThanOrEqual(n / 32);
      prev = p;
    }
    // Every note of 1..62 bytes (compressed or not) is sealed to the same 106 bytes.
    const sizes = new Set<number>();
    for (let n = 0; n <= 62; n++) sizes.add(keys.sealObject(ObjectType.Blob, keys.addressOf(new Uint8Array(n).fill(65 + (n % 26))), new Uint8Array(n).fill(65 + (n % 26)), true).length);
    expect([...sizes]).toEqual([106]);
  });
});

describe("the vault key envelope", () => {
  it("a wrong passphrase is WrongPassphraseError; the right one gives the vault key back", async () => {
    const { encryption, keys } = await createEncryption("correct horse battery staple", FAST);
    await expect(unlockEncryption(encryption, "correct horse battery stapler")).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(unlockEncryption(encryption, "")).rejects.toThrow(/empty/);
    expect((await unlockEncryption(encryption, "correct horse battery staple")).keyId).toBe(keys.keyId);
    // NFC normalization: the same passphrase typed decomposed opens it too.
    const { encryption: e2 } = await createEncryption("caf\u00e9 au lait", FAST);
    expect((await unlockEncryption(e2, "cafe\u0301 au lait")).keyId).toBeTruthy();
  });

  it("any change of the block (cost, salt, key id, wrapped key) fails like a wrong passphrase or is refused", async () => {
    const { encryption } = await createEncryption("pass phrase one", FAST);
    const variants: EncryptionConfig[] = [
      { ...encryption, kdf: { ...encryption.kdf, N: 2048 } as EncryptionConfig["kdf"] },
      { ...encryption, kdf: { ...encryption.kdf, salt: "00".repeat(16) } },
      { ...encryption, keyId: "00".repeat(16) },
      { ...encryption, wrap: { ...encryption.wrap, key: encryption.wrap.key.replace(/^./, (c) => (c === "0" ? "1" : "0")) } },
    ];
    for (const v of variants) await expect(unlockEncryption(v, "pass phrase one")).rejects.toBeInstanceOf(WrongPassphraseError);
    for (const bad of [null, {}, { ...encryption, v: 2 }, { ...encryption, seal: "aes" }, { ...encryption, kdf: { ...encryption.kdf, N: 1000 } }, { ...encryption, kdf: { ...encryption.kdf, N: 1 << 23 } }, { ...encryption, kdf: { name: "pbkdf2" } }])
      await expect(unlockEncryption(bad, "pass phrase one")).rejects.toBeInstanceOf(EncryptionConfigError);
  });

  it("refuses to create with a KDF below the minimum cost", async () => {
    await expect(createEncryption("pass phrase one", { kdf: FAST.kdf })).rejects.toThrow(/weaker than/);
  });

  it("rekey: the same vault key under a new passphrase, fresh salt and nonce; the old passphrase no longer opens it", async () => {
    const { encryption, keys } = await createEncryption("old pass phrase", FAST);
    const next = await rewrapEncryption(encryption, keys, "new pass phrase");
    expect(next.keyId).toBe(encryption.keyId);
    expect(next.kdf.salt).not.toBe(encryption.kdf.salt);
    expect(next.wrap.nonce).not.toBe(encryption.wrap.nonce);
    expect({ ...next.kdf, salt: "" }).toEqual({ ...encryption.kdf, salt: "" });
    expect(toHex((await unlockEncryption(next, "new pass phrase")).exportVaultKey())).toBe(toHex(keys.exportVaultKey()));
    await expect(unlockEncryption(next, "old pass phrase")).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(rewrapEncryption(encryption, keysOf(5), "x y z w v")).rejects.toThrow(/keyId differs/);
    expect(parseEncryption(JSON.parse(JSON.stringify(next)))).toEqual(next);
    expect(JSON.stringify(next).length).toBeLessThan(512);
  });

  it("argon2id parameters are accepted too (stored with the key)", async () => {
    const { encryption, keys } = await createEncryption("argon pass phrase", { kdf: { name: "argon2id", m: 64, t: 1, p: 1 }, allowWeakKdf: true });
    expect(encryption.kdf.name).toBe("argon2id");
    expect((await unlockEncryption(encryption, "argon pass phrase")).keyId).toBe(keys.keyId);
  });
});
