// init <dir> --remote <url> --vault <name>: make <dir> a synced vault folder.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse, emit } from "../args.ts";
import { UsageError } from "../errors.ts";
import { STATE_DIR, explain, tokenFrom, writeFolderConfig } from "../context.ts";
import { ensureFolders } from "../vault-folder.ts";
import { HttpRemote } from "../../engine/remote/http-remote.ts";

export const summary = "Make a folder a synced vault folder (creates notes/, embeddings/, positions/).";
export const usage = "penumbra-sync init <dir> --remote <url> --vault <name> [--token <t>] [--json]";

const VAULT_RE = /^[A-Za-z0-9_-]{1,64}$/;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { remote: { type: "string" }, vault: { type: "string" } });
  const dir = positionals[0];
  if (!values.remote) throw new UsageError("--remote <url> is required");
  if (!values.vault || !VAULT_RE.test(values.vault)) throw new UsageError("--vault <name> is required: [A-Za-z0-9_-]{1,64}");
  let url: URL;
  try {
    url = new URL(values.remote);
  } catch {
    throw new UsageError(`--remote is not a URL: ${values.remote}`);
  }
  const remote = new HttpRemote({ url: url.href, vault: values.vault, token: tokenFrom(values.token) });
  let info;
  let created = false;
  try {
    info = await remote.info();
    if (!info) {
      info = await remote.create({ format: 1, addressing: "sha256", encryption: null });
      created = true;
    }
  } catch (e) {
    explain(e, { config: { remote: url.href, vault: values.vault } });
  }
  await ensureFolders(dir);
  await mkdir(join(dir, STATE_DIR), { recursive: true });
  await writeFolderConfig(dir, { remote: url.href.replace(/\/$/, ""), vault: values.vault });
  emit(values.json, { dir: resolve(dir), remote: url.href, vault: values.vault, created, head: info.head?.snapshot ?? null }, () =>
    `${created ? "created" : "joined"} vault ${values.vault} at ${url.href}; folder ${resolve(dir)} is ready (run: penumbra-sync sync ${dir})`,
  );
  return 0;
}
