// The engine's public API, for apps that embed it (runs in browsers, Workers and Node).
export { Vault, MissingObjectError, type Refs, type VaultOptions } from "./vault/vault.ts";
export { sync, push, pull, SyncError, type SyncOptions } from "./sync/sync.ts";
export type { SyncReport, Conflict, ChangeCounts } from "./sync/report.ts";
// Live sync (startLive) is imported from ./sync/live.ts: not re-exported here, so that a page that
// does not use it does not load it (the browser build's size goal, test/browser/build-size.test.ts).
export { MemoryStore } from "./store/memory-store.ts";
export type { LocalStore } from "./store/store.ts";
export { HttpRemote, type HttpRemoteOptions } from "./remote/http-remote.ts";
export { RemoteError, type Remote, type VaultConfig, type VaultInfo, type LogEntry } from "./remote/remote.ts";
// fflateCompressor stays internal (tests): streamCompressor runs in every runtime, and the gzip
// wrapper fflate adds would count against the page's size budget for nothing.
export { streamCompressor, type Compressor } from "./core/compress.ts";
export { isNoteId, NOTE_ID_RE, type PartName } from "./core/parts.ts";
export type { Entry } from "./core/tree.ts";
export type { Address } from "./core/hash.ts";
// End-to-end encrypted vaults (docs/security.md): create or unlock the vault key, pass it as Vault.open({ keys }).
export { VaultKeys, createEncryption, unlockEncryption, rewrapEncryption, WrongPassphraseError, EncryptionConfigError, TamperedObjectError, type EncryptionConfig } from "./crypto/index.ts";
export { VaultKeyError } from "./vault/vault.ts";
