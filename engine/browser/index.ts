// The engine for browsers: the public API (engine/index.ts), the IndexedDB store, the Web Worker
// services that keep hashing, packing and compression off the page's main thread, and the device
// worker with its page-side proxy (DeviceClient) that keeps the whole device off it.
// Bundled by scripts/build-browser.ts into one ES module (penumbra-sync.js) + worker.js + device-worker.js.
export * from "../index.ts";
export { IdbStore, yieldToEventLoop, webDigest, type IdbStoreOptions } from "../store/idb-store.ts";
export { CorruptObjectError } from "../store/store.ts";
export { EngineWorker, WorkerTaskError, type EngineWorkerOptions } from "./client.ts";
export { VerifyingRemote } from "./verifying-remote.ts";
export { DeviceClient, DeviceTaskError, type DeviceClientOptions } from "./device-client.ts";
export { dbNameOf, type DeviceState, type Profile, type Version, type SyncProgress, type TimedReport } from "./device-protocol.ts";
export { vaultLockName, withVaultLock } from "./vault-lock.ts";
export { stageNotes, type StageReport } from "./stage.ts";
export type { NoteInput, StageResult } from "./protocol.ts";
export { fetchSnapshot } from "../sync/sync.ts";
export { diffTrees, iterateTree, lookup, type TreeChange } from "../core/tree.ts";
export { decodeSnapshot, type Snapshot } from "../core/snapshot.ts";
export { utf8, fromUtf8 } from "../core/bytes.ts";
export { addressOf, isAddress } from "../core/hash.ts";
