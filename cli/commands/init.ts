// init <dir> --remote <url> --vault <name> [--encrypt]: make <dir> a synced vault folder.
//
// Encrypted vaults (docs/security.md): --encrypt creates one (a random vault key wrapped under the
// passphrase); joining an existing encrypted vault needs its passphrase, with or without --encrypt.
// The passphrase comes from PENUMBRA_SYNC_PASSPHRASE or a prompt on a terminal, and is checked
// before anything is written: a wrong one leaves no trace. The device then keeps the vault key in
// <dir>/.penumbra-sync/vault-key.json (mode 0600), so later commands need no passphrase.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse, emit } from "../args.ts";
import { CliError, UsageError } from "../errors.ts";
import { PASSPHRASE_ENV, STATE_DIR, explain, passphraseFrom, tokenFrom, writeFolderConfig, writeVaultKey } from "../context.ts";
import { ensureFolders } from "../vault-folder.ts";
import { HttpRemote } from "../../engine/remote/http-remote.ts";
import type { VaultInfo } from "../../engine/remote/remote.ts";
import { createEncryption, unlockEncryption } from "../../engine/crypto/envelope.ts";
import type { VaultKeys } from "../../engine/crypto/keys.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";

export const summary = "Make a folder a synced vault folder (creates notes/, embeddings/, positions/); --encrypt for an end-to-end encrypted vault.";
export const usage = `penumbra-sync init <dir> --remote <url> --vault <name> [--encrypt] [--token <t>] [--json]   (passphrase of an encrypted vault: ${PASSPHRASE_ENV}, or a prompt)`;

const VAULT_RE = /^[A-Za-z0-9_-]{1,64}$/;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { remote: { type: "string" }, vault: { type: "string" }, encrypt: { type: "boolean" } });
  const dir = positionals[0];
  if (!values.remote) throw new UsageError("--remote <url> is required");
  if (!values.vault || !VAULT_RE.test(values.vault)) throw new UsageError("--vault <name> is required: [A-Za-z0-9_-]{1,64}");
  let url: URL;
  try {
    url = new URL(values.remote);
  } catch {
    throw new UsageError(`--remote is not a URL: ${values.remote}`);
  }
  installNodeCrypto();
  const vault = values.vault;
  const where = { config: { remote: url.href, vault } };
  const remote = new HttpRemote({ url: url.href, vault, token: tokenFrom(values.token) });
  let info: VaultInfo | null;
  let created = false;
  let keys: VaultKeys | null = null;
  try {
    info = await remote.info();
    if (info?.config.addressing === "hmac-sha256") {
      // Joining an encrypted vault: the passphrase must open its key before anything is written.
      keys = await unlockEncryption(info.config.encryption, await passphraseFrom(PASSPHRASE_ENV, `passphrase of vault ${vault}`, false));
    } else if (info && values.encrypt) {
      throw new CliError(`vault ${vault} exists and is not encrypted`, "pick another vault name for an encrypted vault (a plain vault cannot be converted)", "not_encrypted");
    } else if (!info && values.encrypt) {
      const made = await createEncryption(await passphraseFrom(PASSPHRASE_ENV, `new passphrase for vault ${vault}`, true));
      info = await remote.create({ format: 1, addressing: "hmac-sha256", encryption: made.encryption });
      keys = made.keys;
      created = true;
    } else if (!info) {
      info = await remote.create({ format: 1, addressing: "sha256", encryption: null });
      created = true;
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    explain(e, where);
  }
  await ensureFolders(dir);
  await mkdir(join(dir, STATE_DIR), { recursive: true });
  if (keys) await writeVaultKey(dir, keys);
  await writeFolderConfig(dir, { remote: url.href.replace(/\/$/, ""), vault, ...(keys ? { encrypted: true as const } : {}) });
  const encrypted = keys !== null;
  emit(values.json, { dir: resolve(dir), remote: url.href, vault, created, encrypted, head: info!.head?.snapshot ?? null }, () =>
    `${created ? "created" : "joined"} ${encrypted ? "encrypted " : ""}vault ${vault} at ${url.href}; folder ${resolve(dir)} is ready (run: penumbra-sync sync ${dir})` +
    (encrypted ? `\nthe vault key is kept in ${join(resolve(dir), STATE_DIR, "vault-key.json")} (mode 0600): back up the passphrase, not this file (docs/security.md)` : ""),
  );
  return 0;
}
