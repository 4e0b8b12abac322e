// rekey <dir>: change an encrypted vault's passphrase. The vault key (kept by this device) is
// wrapped again under the new passphrase, with a fresh salt, and the server's copy of the wrapped
// key is replaced (compare-and-swap on the old one). Nothing is re-encrypted or re-uploaded, and
// devices that already joined keep syncing. It is not a key rotation: whoever already holds the
// vault key (a joined device, someone who knew the old passphrase and fetched the config) keeps
// it; docs/security.md says what to do then.
import { parse, emit } from "../args.ts";
import { CliError } from "../errors.ts";
import { NEW_PASSPHRASE_ENV, openFolder, tokenFrom, explain, passphraseFrom } from "../context.ts";
import { rewrapEncryption } from "../../engine/crypto/envelope.ts";

export const summary = "Change an encrypted vault's passphrase (rewraps the vault key; nothing is re-encrypted).";
export const usage = `penumbra-sync rekey <dir> [--token <t>] [--json]   (new passphrase: ${NEW_PASSPHRASE_ENV}, or a prompt)`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const ctx = await openFolder(positionals[0], tokenFrom(values.token));
  try {
    const keys = ctx.vault.keys;
    if (!keys) throw new CliError(`vault ${ctx.config.vault} is not encrypted: it has no passphrase`, "create an encrypted vault with: init <dir> --remote <url> --vault <new name> --encrypt", "not_encrypted");
    const info = await ctx.remote.info();
    if (!info) throw new CliError(`the vault does not exist on the server (${ctx.config.remote}, vault ${ctx.config.vault})`, undefined, "unknown_vault");
    if (info.config.addressing !== "hmac-sha256") throw new CliError(`the server says vault ${ctx.config.vault} is not encrypted, but this folder holds its key`, "check --remote and the vault name; nothing was changed", "not_encrypted");
    const next = await rewrapEncryption(info.config.encryption, keys, await passphraseFrom(NEW_PASSPHRASE_ENV, `new passphrase for vault ${ctx.config.vault}`, true));
    const after = await ctx.remote.replaceEncryption({ format: 1, addressing: "hmac-sha256", encryption: next }, info.config.encryption);
    const { salt: _salt, ...kdf } = next.kdf;
    void _salt;
    emit(values.json, { vault: ctx.config.vault, keyId: keys.keyId, kdf, head: after.head?.snapshot ?? null }, () =>
      `vault ${ctx.config.vault}: the passphrase is changed (vault key ${keys.keyId} rewrapped; nothing re-encrypted). The old passphrase no longer lets a new device join.`,
    );
    return 0;
  } catch (e) {
    if (e instanceof CliError) throw e;
    explain(e, ctx);
  } finally {
    await ctx.store.close();
  }
}
