// The vault config's `encryption` block: the vault key wrapped by a key derived from the passphrase.
// The server stores it as given (opaque, at most 4 KiB of JSON) and hands it to every device:
//
//   {
//     "v": 1,
//     "kdf":  {"name": "scrypt", "N": 65536, "r": 8, "p": 1, "salt": "<16 bytes hex>"},
//     "wrap": {"alg": "xchacha20poly1305", "nonce": "<24 bytes hex>", "key": "<48 bytes hex: sealed vault key | tag>"},
//     "seal": "xchacha20poly1305-siv-v1",
//     "keyId": "<16 bytes hex>"
//   }
//
//   kek     = scrypt(NFC(passphrase) as UTF-8, salt, N, r, p, 32)        (or argon2id, see KdfParams)
//   wrapped = XChaCha20-Poly1305(kek, nonce, ad, vault key), nonce random
//   ad      = "penumbra-sync/wrap/v1" | canonical JSON of {kdf, keyId, seal, v}
//
// A wrong passphrase fails the tag (WrongPassphraseError); so does any change of the block (a
// server cannot lower the KDF cost, swap the salt or the key id). `rekey` rewraps the same vault key
// under a new passphrase with a fresh salt and nonce: nothing else changes, nothing is re-encrypted.
import { argon2idAsync } from "@noble/hashes/argon2.js";
import { canonicalBytes } from "../core/canonical.ts";
import { concatBytes, fromHex, toHex, utf8 } from "../core/bytes.ts";
import { AeadError, cryptoImpl, randomBytes } from "./primitives.ts";
import { VAULT_KEY_BYTES, VaultKeys } from "./keys.ts";

export const SEAL_SCHEME = "xchacha20poly1305-siv-v1";
const WRAP_LABEL = utf8("penumbra-sync/wrap/v1");
const SALT_BYTES = 16;

export type KdfParams =
  | { name: "scrypt"; N: number; r: number; p: number; salt: string }
  | { name: "argon2id"; m: number; t: number; p: number; salt: string };

/**
 * scrypt, N = 2^16, r = 8, p = 1: 64 MiB of memory per guess. Measured on this machine (2 cores,
 * shared): 0.5 s with node:crypto, 0.7 s with @noble/hashes (what a browser runs). It is paid once
 * per device joining (and per rekey), never per sync, since devices keep the vault key.
 */
export const DEFAULT_KDF = { name: "scrypt", N: 1 << 16, r: 8, p: 1 } as const;

export interface EncryptionConfig {
  v: 1;
  kdf: KdfParams;
  wrap: { alg: "xchacha20poly1305"; nonce: string; key: string };
  seal: typeof SEAL_SCHEME;
  keyId: string;
}

/** The passphrase does not open this vault's key. */
export class WrongPassphraseError extends Error {
  override name = "WrongPassphraseError";
  constructor() {
    super("wrong passphrase: it does not unlock this vault's key");
  }
}

/** The encryption block is not one this client can use (malformed, unknown scheme, hostile parameters). */
export class EncryptionConfigError extends Error {
  override name = "EncryptionConfigError";
}

const HEX = (bytes: number) => new RegExp(`^[0-9a-f]{${bytes * 2}}$`);
const isInt = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** Refuses parameters that are malformed, too weak to create, or large enough to exhaust a device. */
export function checkKdf(k: unknown, forCreate = false): KdfParams {
  const bad = (m: string) => new EncryptionConfigError(`encryption.kdf: ${m}`);
  if (!k || typeof k !== "object") throw bad("missing");
  const o = k as Record<string, unknown>;
  if (typeof o.salt !== "string" || !HEX(SALT_BYTES).test(o.salt)) throw bad(`salt must be ${SALT_BYTES} bytes of lowercase hex`);
  if (o.name === "scrypt") {
    if (!isInt(o.N, 2, 1 << 22) || (o.N & (o.N - 1)) !== 0) throw bad("scrypt N must be a power of two up to 2^22");
    if (!isInt(o.r, 1, 64) || !isInt(o.p, 1, 16)) throw bad("scrypt r in 1..64, p in 1..16");
    if (128 * o.N * o.r * o.p > 1 << 30) throw bad("scrypt parameters need more than 1 GiB of memory");
    if (forCreate && o.N * o.r * o.p < (1 << 14) * 8) throw bad("scrypt parameters weaker than N=2^14, r=8, p=1");
    return { name: "scrypt", N: o.N, r: o.r, p: o.p, salt: o.salt };
  }
  if (o.name === "argon2id") {
    if (!isInt(o.m, 8, 1 << 20) || !isInt(o.t, 1, 16) || !isInt(o.p, 1, 16)) throw bad("argon2id m (KiB) in 8..2^20, t in 1..16, p in 1..16");
    if (forCreate && o.m < 19 * 1024) throw bad("argon2id weaker than m=19 MiB");
    return { name: "argon2id", m: o.m, t: o.t, p: o.p, salt: o.salt };
  }
  throw bad(`unknown KDF ${JSON.stringify(o.name)}`);
}

/** The key-encryption key: passphrase (NFC-normalized UTF-8) through the KDF. */
export async function deriveKek(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  const pw = utf8(passphrase.normalize("NFC"));
  const salt = fromHex(kdf.salt);
  if (kdf.name === "scrypt") return cryptoImpl().scrypt(pw, salt, { N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32 });
  return argon2idAsync(pw, salt, { m: kdf.m, t: kdf.t, p: kdf.p, dkLen: 32 });
}

function wrapAd(e: Pick<EncryptionConfig, "v" | "kdf" | "seal" | "keyId">): Uint8Array {
  return concatBytes([WRAP_LABEL, canonicalBytes({ v: e.v, kdf: e.kdf, seal: e.seal, keyId: e.keyId })]);
}

export interface WrapOptions {
  /** KDF name and cost; a fresh salt is drawn unless `random` gives one. */
  kdf?: { name: "scrypt"; N: number; r: number; p: number } | { name: "argon2id"; m: number; t: number; p: number };
  /** Randomness source (tests: fixed bytes for known-answer vectors). */
  random?: (n: number) => Uint8Array;
  /** Accept a KDF cost below the minimum (N=2^14 / 19 MiB): fast tests only. */
  allowWeakKdf?: boolean;
}

function checkPassphrase(passphrase: string): void {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new EncryptionConfigError("the passphrase is empty");
}

/** Wraps `keys`' vault key under `passphrase`: a complete encryption block. */
export async function wrapVaultKey(keys: VaultKeys, passphrase: string, opts: WrapOptions = {}): Promise<EncryptionConfig> {
  checkPassphrase(passphrase);
  const random = opts.random ?? randomBytes;
  const kdf = checkKdf({ ...(opts.kdf ?? DEFAULT_KDF), salt: toHex(random(SALT_BYTES)) }, !opts.allowWeakKdf);
  const head: Pick<EncryptionConfig, "v" | "kdf" | "seal" | "keyId"> = { v: 1, kdf, seal: SEAL_SCHEME, keyId: keys.keyId };
  const nonce = random(24);
  const kek = await deriveKek(passphrase, kdf);
  const wrapped = cryptoImpl().xchachaSeal(kek, nonce, wrapAd(head), keys.exportVaultKey());
  kek.fill(0);
  return { v: 1, kdf, wrap: { alg: "xchacha20poly1305", nonce: toHex(nonce), key: toHex(wrapped) }, seal: SEAL_SCHEME, keyId: keys.keyId };
}

/** A new vault: a random vault key wrapped under `passphrase`. */
export async function createEncryption(passphrase: string, opts: WrapOptions = {}): Promise<{ encryption: EncryptionConfig; keys: VaultKeys }> {
  const keys = opts.random ? VaultKeys.fromVaultKey(opts.random(VAULT_KEY_BYTES)) : VaultKeys.generate();
  return { encryption: await wrapVaultKey(keys, passphrase, opts), keys };
}

/** Checks the block's shape (not the passphrase). */
export function parseEncryption(e: unknown): EncryptionConfig {
  const bad = (m: string) => new EncryptionConfigError(`the vault's encryption block is not usable: ${m}`);
  if (!e || typeof e !== "object" || Array.isArray(e)) throw bad("missing");
  const o = e as Record<string, unknown>;
  if (o.v !== 1) throw bad(`version ${JSON.stringify(o.v)} (this client knows 1; update it)`);
  if (o.seal !== SEAL_SCHEME) throw bad(`sealing scheme ${JSON.stringify(o.seal)} (this client knows ${SEAL_SCHEME}; update it)`);
  if (typeof o.keyId !== "string" || !HEX(16).test(o.keyId)) throw bad("keyId");
  const w = o.wrap as Record<string, unknown> | undefined;
  if (!w || w.alg !== "xchacha20poly1305" || typeof w.nonce !== "string" || !HEX(24).test(w.nonce) || typeof w.key !== "string" || !HEX(VAULT_KEY_BYTES + 16).test(w.key)) throw bad("wrap");
  const kdf = checkKdf(o.kdf);
  return { v: 1, kdf, wrap: { alg: "xchacha20poly1305", nonce: w.nonce, key: w.key }, seal: SEAL_SCHEME, keyId: o.keyId };
}

/** Opens the vault key with the passphrase. WrongPassphraseError if it does not fit. */
export async function unlockEncryption(encryption: unknown, passphrase: string): Promise<VaultKeys> {
  const e = parseEncryption(encryption);
  checkPassphrase(passphrase);
  const kek = await deriveKek(passphrase, e.kdf);
  let vaultKey: Uint8Array;
  try {
    vaultKey = cryptoImpl().xchachaOpen(kek, fromHex(e.wrap.nonce), wrapAd(e), fromHex(e.wrap.key));
  } catch (err) {
    if (err instanceof AeadError) throw new WrongPassphraseError();
    throw err;
  } finally {
    kek.fill(0);
  }
  const keys = VaultKeys.fromVaultKey(vaultKey);
  vaultKey.fill(0);
  if (keys.keyId !== e.keyId) throw new EncryptionConfigError("the unwrapped key does not match the block's keyId");
  return keys;
}

/** `rekey`: the same vault key under a new passphrase (fresh salt and nonce; KDF cost kept unless given). */
export async function rewrapEncryption(current: unknown, keys: VaultKeys, newPassphrase: string, opts: WrapOptions = {}): Promise<EncryptionConfig> {
  const e = parseEncryption(current);
  if (e.keyId !== keys.keyId) throw new EncryptionConfigError("this device's vault key is not the vault's (keyId differs)");
  const { salt: _salt, ...cost } = e.kdf;
  void _salt;
  // Keeping the vault's current cost is always allowed (it was accepted when the vault was made).
  return wrapVaultKey(keys, newPassphrase, { kdf: opts.kdf ?? cost, random: opts.random, allowWeakKdf: opts.allowWeakKdf ?? !opts.kdf });
}
