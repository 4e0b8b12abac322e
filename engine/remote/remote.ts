// What the engine needs from a remote: the narrow interface between sync logic and transport.
import type { Address } from "../core/hash.ts";

export interface VaultConfig {
  format: 1;
  addressing: "sha256" | "hmac-sha256";
  encryption: unknown | null;
}

export interface HeadInfo {
  snapshot: Address;
  seq: number;
  committedAt?: string;
}

export interface LogEntry {
  snapshot: Address;
  seq: number;
  parents: Address[];
  committedAt: string;
  root?: Address;
  device?: string;
  time?: string;
  stats?: { notes: number; embeddings: number; positions: number };
}

export interface VaultInfo {
  vault: string;
  config: VaultConfig;
  head: HeadInfo | null;
  stats: { packs: number; objects: number; bytes: number; snapshots: number };
}

export interface CommitRequest {
  snapshot: Address;
  parents: Address[];
  expect: Address | null;
  packs: Address[];
}

export interface PushResult {
  packs: { id: Address; objects: number; bytes: number }[];
  commit: { snapshot: Address; seq: number } | null;
  head: HeadInfo | null;
}

export interface PullResult {
  head: HeadInfo | null;
  snapshots: LogEntry[];
  missing: Address[];
}

/** Transfer counters, for the sync report and the byte budgets. */
export interface TransferStats {
  requests: number;
  bytesUp: number;
  bytesDown: number;
}

export interface Remote {
  readonly stats: TransferStats;
  info(): Promise<VaultInfo | null>;
  create(config: VaultConfig): Promise<VaultInfo>;
  /** Uploads packs and, optionally, commits. Throws RemoteError("head_moved") when the CAS loses. */
  push(packs: readonly Uint8Array[], commit?: CommitRequest): Promise<PushResult>;
  /** Streams what changed since `since`; each pack goes to `onPack` before the next is read. */
  pull(since: Address | null, want: readonly Address[], onPack: (pack: Uint8Array) => Promise<void>): Promise<PullResult>;
  log(limit?: number, before?: number): Promise<{ head: HeadInfo | null; snapshots: LogEntry[] }>;
  getObject(addr: Address): Promise<Uint8Array | null>;
  missing(addrs: readonly Address[]): Promise<Address[]>;
  /** Reads stored objects back (at most 10,000): those that cannot be served intact, and those not stored. */
  check?(addrs: readonly Address[]): Promise<CheckResult>;
  /** Uploads packs that replace damaged or lost copies (plain vaults; no commit). */
  repair?(packs: readonly Uint8Array[]): Promise<RepairUploadResult>;
  /** Where to listen for head moves (the live WebSocket, docs/protocol.md), if the remote has one. */
  liveEndpoint?(): LiveEndpoint;
}

export interface LiveEndpoint {
  /** ws: or wss: URL of GET /v1/vaults/:vault/live */
  url: string;
  token: string;
}

export interface CheckResult {
  checked: number;
  damaged: Address[];
  missing: Address[];
}

export interface RepairUploadResult {
  packs: { id: Address; objects: number; bytes: number }[];
  /** Objects now located in the uploaded packs instead of a damaged copy. */
  repointed: number;
  /** Objects the vault did not hold at all before. */
  added: number;
}

/** An error answer from the server (or the transport), with its machine-readable code. */
export class RemoteError extends Error {
  override name = "RemoteError";
  constructor(readonly status: number, readonly code: string, message: string, readonly body?: Record<string, unknown>) {
    super(message);
  }
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500 || this.code === "bad_stream_response";
  }
}
