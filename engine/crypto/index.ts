// End-to-end encryption of a vault (docs/security.md): the server and the bucket see only sealed
// objects named by keyed hashes. Portable (Web APIs and pure JS); engine/crypto/node.ts has the
// Node fast paths.
export { VaultKeys, deriveSubkey, VAULT_KEY_BYTES } from "./keys.ts";
export {
  createEncryption,
  unlockEncryption,
  rewrapEncryption,
  wrapVaultKey,
  parseEncryption,
  deriveKek,
  checkKdf,
  DEFAULT_KDF,
  SEAL_SCHEME,
  WrongPassphraseError,
  EncryptionConfigError,
  type EncryptionConfig,
  type KdfParams,
  type WrapOptions,
} from "./envelope.ts";
export { TamperedObjectError, paddedLength, sealObject, openObject, parseSealed, looksSealed, SEAL_OVERHEAD, SEAL_VERSION } from "./seal.ts";
export { portableCrypto, useCryptoImpl, cryptoImpl, AeadError, type CryptoImpl } from "./primitives.ts";
