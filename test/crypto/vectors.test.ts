// Known-answer vectors for encrypted vaults: the published ones for every primitive (HChaCha20,
// XChaCha20-Poly1305, scrypt, HKDF, HMAC), then golden vectors of our own formats (subkeys, keyed
// addresses, tree keys, a sealed object, a wrapped vault key). If a golden vector here fails after
// a change, the change broke the format of every encrypted vault: add a new version instead.
import { describe, it, expect, afterEach } from "vitest";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { portableCrypto, useCryptoImpl, type CryptoImpl } from "../../engine/crypto/primitives.ts";
import { nodeCrypto, hchacha20 } from "../../engine/crypto/node.ts";
import { VaultKeys, deriveSubkey } from "../../engine/crypto/keys.ts";
import { createEncryption, deriveKek, unlockEncryption, DEFAULT_KDF } from "../../engine/crypto/envelope.ts";
import { parseSealed } from "../../engine/crypto/seal.ts";
import { buildTree } from "../../engine/core/tree.ts";

const seq = (n: number, start = 0) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 255);
const IMPLS: CryptoImpl[] = [portableCrypto, nodeCrypto];
afterEach(() => useCryptoImpl(portableCrypto));

describe("published vectors", () => {
  it("HChaCha20 (draft-irtf-cfrg-xchacha-03, 2.2.1)", () => {
    expect(toHex(hchacha20(seq(32), fromHex("000000090000004a0000000031415927")))).toBe("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
  });

  it.each(IMPLS.map((i) => [i.name, i] as const))("XChaCha20-Poly1305 AEAD (draft-irtf-cfrg-xchacha-03, A.3.1): %s", (_n, impl) => {
    const pt = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const key = seq(32, 0x80);
    const nonce = seq(24, 0x40);
    const ad = fromHex("50515253c0c1c2c3c4c5c6c7");
    const sealed = impl.xchachaSeal(key, nonce, ad, pt);
    expect(toHex(sealed)).toBe(
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e" +
        "c0875924c1c7987947deafd8780acf49",
    );
    expect(impl.xchachaOpen(key, nonce, ad, sealed)).toEqual(pt);
  });

  it.each(IMPLS.map((i) => [i.name, i] as const))("scrypt (RFC 7914, section 12, N=1024 r=8 p=16): %s", async (_n, impl) => {
    const dk = await impl.scrypt(utf8("password"), utf8("NaCl"), { N: 1024, r: 8, p: 16, dkLen: 64 });
    expect(toHex(dk)).toBe("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  });

  it("HKDF-SHA-256 (RFC 5869, test case 1)", () => {
    expect(toHex(hkdf(sha256, new Uint8Array(22).fill(0x0b), seq(13), seq(10, 0xf0), 42))).toBe("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  });

  it.each(IMPLS.map((i) => [i.name, i] as const))("HMAC-SHA-256 (RFC 4231, test case 2), in parts: %s", (_n, impl) => {
    expect(toHex(impl.hmacSha256(utf8("Jefe"), utf8("what do ya want "), utf8("for nothing?")))).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});

describe("golden vectors of encrypted vaults (vault key = bytes 00..1f)", () => {
  const vk = seq(32);

  it("subkeys (HKDF-SHA-256, salt 'penumbra-sync vault v1', info 'penumbra-sync/v1/<purpose>') and the key id", () => {
    expect(toHex(deriveSubkey(vk, "address"))).toBe("c9554ed1e1056f6c6517943f8e0ca74f8f08f47f2cccb48613f5292bde087856");
    expect(toHex(deriveSubkey(vk, "tree"))).toBe("b0727f446df52e036c610c1535a5d27a0dd393cba194fa24e19edc9053009257");
    expect(toHex(deriveSubkey(vk, "nonce"))).toBe("dec114b308aa0023c7ffd9bceed112101dcf742115dee26915aab06963ae91c6");
    expect(toHex(deriveSubkey(vk, "seal"))).toBe("35c96142f629c5a413c1f07297da88fb0df625bb0fa34c79d4dca2c572095237");
    expect(VaultKeys.fromVaultKey(vk).keyId).toBe("d4ed0de446b4acbcad0dabf6b3fcefec");
  });

  it.each(IMPLS.map((i) => [i.name, i] as const))("keyed address, tree key and a sealed object: %s", (_n, impl) => {
    useCryptoImpl(impl);
    const keys = VaultKeys.fromVaultKey(vk);
    const addr = keys.addressOf(utf8("hello"));
    expect(addr).toBe("f7565d4803e36e3e79a4ee309614e4eae2c42ea025962403834b3aeadcf1aacb");
    expect(toHex(keys.treeKey("note-1"))).toBe("fed2361eba1085d0304f1557c71a7cfeb121010cf98923d63b881635149ad01d");
    // The worked example of docs/security.md: blob "hello", not compressed (too short to try).
    const sealed = keys.sealObject(ObjectType.Blob, addr, utf8("hello"), true);
    expect(toHex(sealed)).toBe(
      "0101" + // version 1, type 1 (blob)
        "07484e7eb43109148b31564dd7737bce8ae2640f672e6636" + // nonce
        "6e1d4bd9cc09747839d05691979a571767e96c93afb572b4b8b896982a2d11676a922e1316c4839fb74feb75b21f2b59ab9c400c7002842f49f4c391dc4290b9" + // ciphertext (64)
        "37c6dc4351a70e439a90454ce476e93e", // tag
    );
    const p = parseSealed(sealed);
    expect(sealed.length).toBe(106);
    expect([p.version, p.type, p.ciphertext.length, p.tag.length]).toEqual([1, 1, 64, 16]);
    // The nonce is the first 24 bytes of HMAC(nonceKey, ad | payload), payload = 00 "hello" 80 00*57.
    const payload = new Uint8Array(64);
    payload.set(utf8("hello"), 1);
    payload[6] = 0x80;
    const ad = new Uint8Array([1, 1, ...fromHex(addr)]);
    expect(toHex(impl.hmacSha256(deriveSubkey(vk, "nonce"), ad, payload).subarray(0, 24))).toBe(toHex(p.nonce));
    expect(impl.xchachaOpen(deriveSubkey(vk, "seal"), p.nonce, ad, sealed.subarray(26))).toEqual(payload);
    expect(keys.openObject(addr, sealed)).toEqual({ type: ObjectType.Blob, bytes: utf8("hello") });
  });

  it("a keyed manifest leaf: key = HMAC of the id, the id inside as `name` (flag 0x10), named by the keyed hash", () => {
    const keys = VaultKeys.fromVaultKey(vk);
    const t = buildTree([{ id: "note-1", note: keys.addressOf(utf8("hello")) }], keys.keying);
    expect(toHex(t.nodes.get(t.root)!)).toBe(
      "504e54" + "02" + "00" + "01" + // "PNT", v2, leaf, 1 entry
        "20" + "fed2361eba1085d0304f1557c71a7cfeb121010cf98923d63b881635149ad01d" + // key: HMAC(treeKey, "note-1")
        "11" + "06" + "6e6f74652d31" + // flags note | name, name "note-1"
        "f7565d4803e36e3e79a4ee309614e4eae2c42ea025962403834b3aeadcf1aacb", // note address
    );
    expect(t.root).toBe("5610db1a511aa7870ca563242274811c82d125fc2f6d9f962126ff9b1d93e13d");
    expect(t.root).toBe(keys.addressOf(t.nodes.get(t.root)!));
  });

  it.each(IMPLS.map((i) => [i.name, i] as const))("scrypt KEK of the default parameters (N=2^16, r=8, p=1): %s", async (_n, impl) => {
    useCryptoImpl(impl);
    expect(DEFAULT_KDF).toEqual({ name: "scrypt", N: 65536, r: 8, p: 1 });
    const kek = await deriveKek("correct horse battery staple", { ...DEFAULT_KDF, salt: "a5".repeat(16) });
    expect(toHex(kek)).toBe("49f9f4defc1e04fb4410f9fc529bb6b2b8fe580ca29ed601db3ff259685a84ba");
  });

  it("a wrapped vault key: the whole encryption block, from fixed randomness", async () => {
    let ctr = 0;
    const random = (n: number) => Uint8Array.from({ length: n }, () => ctr++ & 255);
    const { encryption, keys } = await createEncryption("correct horse battery staple", { kdf: { name: "scrypt", N: 1024, r: 8, p: 1 }, allowWeakKdf: true, random });
    expect(toHex(keys.exportVaultKey())).toBe(toHex(vk));
    expect(JSON.stringify(encryption)).toBe(
      '{"v":1,"kdf":{"name":"scrypt","N":1024,"r":8,"p":1,"salt":"202122232425262728292a2b2c2d2e2f"},' +
        '"wrap":{"alg":"xchacha20poly1305","nonce":"303132333435363738393a3b3c3d3e3f4041424344454647","key":"432befb506c509768c970b14d79fc05e5beb42ed224d2956b01c7197ffaca8a4a992849ac1c61c7f443c7bfd55b651c9"},' +
        '"seal":"xchacha20poly1305-siv-v1","keyId":"d4ed0de446b4acbcad0dabf6b3fcefec"}',
    );
    expect((await unlockEncryption(JSON.parse(JSON.stringify(encryption)), "correct horse battery staple")).keyId).toBe(keys.keyId);
  });
});
