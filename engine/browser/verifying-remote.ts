// A Remote whose pulls check every pack (in the engine worker, or LocalPackChecker in the device
// worker) before the engine sees it: layout,
// every frame, every object's SHA-256. The sync then runs with `verifyAddresses: false`, so the
// hashing of a download (the costliest part of a clone) never runs on the page's main thread,
// while nothing unchecked reaches the store. For plain (sha256) vaults only: encrypted vaults'
// addresses are keyed hashes, checked by decryption instead.
import type { Address } from "../core/hash.ts";
import type { CommitRequest, LogEntry, HeadInfo, PullResult, PushResult, Remote, TransferStats, VaultConfig, VaultInfo } from "../remote/remote.ts";

/** What checks a pack: EngineWorker (another thread) or LocalPackChecker (this one). */
export interface PackVerifier {
  /** Throws on any fault; returns the pack to use from then on (moved across threads, maybe). */
  verifyPack(pack: Uint8Array): Promise<{ pack: Uint8Array }>;
}

export class VerifyingRemote implements Remote {
  constructor(readonly inner: Remote, private readonly worker: PackVerifier) {}

  get stats(): TransferStats {
    return this.inner.stats;
  }

  info(): Promise<VaultInfo | null> {
    return this.inner.info();
  }

  create(config: VaultConfig): Promise<VaultInfo> {
    return this.inner.create(config);
  }

  push(packs: readonly Uint8Array[], commit?: CommitRequest): Promise<PushResult> {
    return this.inner.push(packs, commit);
  }

  pull(since: Address | null, want: readonly Address[], onPack: (pack: Uint8Array) => Promise<void>): Promise<PullResult> {
    return this.inner.pull(since, want, async (pack) => {
      const checked = await this.worker.verifyPack(pack);
      await onPack(checked.pack);
    });
  }

  log(limit?: number, before?: number): Promise<{ head: HeadInfo | null; snapshots: LogEntry[] }> {
    return this.inner.log(limit, before);
  }

  getObject(addr: Address): Promise<Uint8Array | null> {
    return this.inner.getObject(addr);
  }

  missing(addrs: readonly Address[]): Promise<Address[]> {
    return this.inner.missing(addrs);
  }
}
