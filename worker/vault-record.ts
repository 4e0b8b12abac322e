// The vault itself: its creation, its config (and the rekey that replaces the encryption block)
// and its info (config, head, counters), kept in the meta table.
import { canonicalJson } from "../engine/core/canonical.ts";
import type { SnapshotLog } from "./snapshot-log.ts";
import { COUNTERS, type VaultDb, type VaultMeta } from "./vault-schema.ts";
import type { ReplaceEncryptionResult, VaultConfig, VaultInfo } from "./vault-types.ts";

export class VaultRecord {
  constructor(
    private readonly db: VaultDb,
    private readonly meta: VaultMeta,
    private readonly log: SnapshotLog,
  ) {}

  /** Creates the vault, or reports that it exists with the same (`created: false`) or another config. */
  create(vault: string, config: VaultConfig): { created: boolean; conflict: boolean; info: VaultInfo } {
    return this.db.transaction(() => {
      const existing = this.meta.config();
      if (existing) return { created: false, conflict: canonicalJson(existing) !== canonicalJson(config), info: this.infoOf(existing) };
      const put = (key: string, value: SqlStorageValue) => this.db.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, value);
      put("vault", vault);
      put("config", canonicalJson(config));
      put("created_at", Date.now());
      for (const c of COUNTERS) put(c, 0);
      return { created: true, conflict: false, info: this.infoOf(config) };
    });
  }

  /**
   * `rekey`: replaces the `encryption` block of an encrypted vault (the vault key rewrapped under a
   * new passphrase). Nothing else of the config may change; compare-and-swap on the current block
   * (`expect`: its canonical JSON), so two concurrent rekeys cannot silently overwrite each other.
   */
  replaceEncryption(config: VaultConfig, expect: string): ReplaceEncryptionResult {
    return this.db.transaction(() => {
      const existing = this.meta.config();
      if (!existing) return { ok: false as const, reason: "unknown_vault" as const };
      if (existing.addressing !== "hmac-sha256" || existing.encryption === null) return { ok: false as const, reason: "not_encrypted" as const, config: existing };
      if (config.format !== existing.format || config.addressing !== existing.addressing || config.encryption === null) return { ok: false as const, reason: "config_differs" as const, config: existing };
      if (canonicalJson(existing.encryption) !== expect) return { ok: false as const, reason: "encryption_changed" as const, config: existing };
      this.db.sql.exec("UPDATE meta SET value = ? WHERE key = 'config'", canonicalJson(config));
      return { ok: true as const, info: this.infoOf(config) };
    });
  }

  /** Null when the vault was never created. */
  info(): VaultInfo | null {
    const config = this.meta.config();
    return config ? this.infoOf(config) : null;
  }

  private infoOf(config: VaultConfig): VaultInfo {
    return { vault: this.meta.vaultName(), config, head: this.log.head(), stats: this.meta.stats() };
  }
}
