// Opening a vault folder: its config, local store, engine vault and remote; and the errors a user
// can act on (wrong token, unreachable server, corrupt local state, full quota).
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FsStore } from "../engine/node/fs-store.ts";
import { installNodeFastPaths, nodeCompressor } from "../engine/node/native.ts";
import { writeFileAtomic } from "../engine/node/atomic-file.ts";
import { Vault } from "../engine/vault/vault.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { RemoteError } from "../engine/remote/remote.ts";
import { SyncError } from "../engine/sync/sync.ts";
import { CliError } from "./errors.ts";
import { applyTree, type StatCache } from "./vault-folder.ts";
import type { Address } from "../engine/core/hash.ts";

export const STATE_DIR = ".penumbra-sync";

export interface FolderConfig {
  remote: string;
  vault: string;
}

export interface FolderContext {
  dir: string;
  config: FolderConfig;
  store: FsStore;
  vault: Vault;
  remote: HttpRemote;
  statCache: StatCache;
}

export function tokenFrom(flag: string | undefined): string {
  const t = flag ?? process.env.PENUMBRA_SYNC_TOKEN;
  if (!t) throw new CliError("no token", "set PENUMBRA_SYNC_TOKEN or pass --token (serve prints the token)");
  return t;
}

export async function readFolderConfig(dir: string): Promise<FolderConfig> {
  const path = join(dir, STATE_DIR, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new CliError(`${resolve(dir)} is not a penumbra-sync vault folder`, `run: penumbra-sync init ${dir} --remote <url> --vault <name>`);
  }
  try {
    const c = JSON.parse(text) as FolderConfig;
    if (typeof c.remote !== "string" || typeof c.vault !== "string") throw new Error("fields");
    return c;
  } catch {
    throw new CliError(`the local state in ${path} is corrupt`, "fix or delete that file and run init again");
  }
}

export async function writeFolderConfig(dir: string, c: FolderConfig): Promise<void> {
  await writeFileAtomic(join(dir, STATE_DIR, "config.json"), JSON.stringify(c, null, 2) + "\n");
}

export async function openFolder(dir: string, token: string): Promise<FolderContext> {
  installNodeFastPaths();
  const config = await readFolderConfig(dir);
  let store: FsStore;
  let vault: Vault;
  try {
    store = await FsStore.open(join(dir, STATE_DIR, "store"), nodeCompressor);
    vault = await Vault.open({ store, compressor: nodeCompressor });
  } catch (e) {
    throw new CliError(`the local state in ${join(dir, STATE_DIR)} is corrupt: ${(e as Error).message}`, "run verify, or move the folder's .penumbra-sync away and init again to re-clone");
  }
  const remote = new HttpRemote({ url: config.remote, vault: config.vault, token });
  const statCache = (await store.getMeta<StatCache>("statcache")) ?? {};
  const ctx = { dir, config, store, vault, remote, statCache };
  await finishCheckout(ctx);
  return ctx;
}

/** Root of the tree the folder's files reflect. */
export async function checkoutRoot(ctx: FolderContext): Promise<Address | null> {
  return (await ctx.store.getMeta<Address | null>("checkout")) ?? null;
}

/** Brings the folder to the head after an interrupted pull (the files were being written). */
export async function finishCheckout(ctx: FolderContext): Promise<void> {
  const from = await checkoutRoot(ctx);
  const to = ctx.vault.headRoot;
  if (to && from !== to) {
    await applyTree(ctx.dir, ctx.vault, from, to, ctx.statCache);
    await saveCheckout(ctx, to);
  }
}

export async function saveCheckout(ctx: FolderContext, root: Address | null): Promise<void> {
  await ctx.store.setMeta("statcache", ctx.statCache);
  await ctx.store.setMeta("checkout", root);
}

/** Maps engine and transport errors to one line a user can act on. */
export function explain(e: unknown, ctx?: { config: FolderConfig }): never {
  const where = ctx ? ` (${ctx.config.remote}, vault ${ctx.config.vault})` : "";
  if (e instanceof RemoteError) {
    if (e.status === 401) throw new CliError(`the server refused the token${where}`, "check PENUMBRA_SYNC_TOKEN or --token", "unauthorized");
    if (e.status === 0 && e.code === "unreachable") throw new CliError(`${e.message}`, "is the server running? start one with: penumbra-sync serve", "unreachable");
    if (e.status === 413 || e.code === "quota_exceeded") throw new CliError(`the vault is full or the upload too large: ${e.message}`, "free space (delete notes, garbage-collect) or raise the limit", "quota");
    if (e.code === "unknown_vault") throw new CliError(`the vault does not exist on the server${where}`, "run init again", "unknown_vault");
    throw new CliError(`the server answered ${e.status} ${e.code}: ${e.message}`, e.retryable ? "try again" : undefined, e.code);
  }
  if (e instanceof SyncError) throw new CliError(e.message, undefined, e.code);
  throw e;
}
