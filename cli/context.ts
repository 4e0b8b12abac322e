// Opening a vault folder: its config, local store, engine vault and remote; and the errors a user
// can act on (wrong token, unreachable server, corrupt local state, full quota).
import { phaseEnded, progressDone } from "./heap-mode.ts";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import readline from "node:readline";
import { FsStore } from "../engine/node/fs-store.ts";
import { installNodeFastPaths, nodeCompressor } from "../engine/node/native.ts";
import { writeFileAtomic } from "../engine/node/atomic-file.ts";
import { Vault, VaultKeyError } from "../engine/vault/vault.ts";
import { VaultKeys } from "../engine/crypto/keys.ts";
import { EncryptionConfigError, WrongPassphraseError } from "../engine/crypto/envelope.ts";
import { TamperedObjectError } from "../engine/crypto/seal.ts";
import { installNodeCrypto } from "../engine/crypto/node.ts";
import { installSealPool } from "../engine/node/seal-pool.ts";
import { nodeFetch } from "../engine/node/send-parts.ts";
import { ScanPool } from "./scan-pool.ts";
import { fromHex, toHex } from "../engine/core/bytes.ts";
import { HttpRemote } from "../engine/remote/http-remote.ts";
import { RemoteError } from "../engine/remote/remote.ts";
import { SyncError } from "../engine/sync/sync.ts";
import { CliError } from "./errors.ts";
import { crashPoint } from "./crash-hook.ts";
import { applyTree, type FolderReader } from "./vault-folder.ts";
import { openCheckout, writeCheckout } from "./checkout-file.ts";
import { CheckoutIndex } from "./checkout-index.ts";
import type { Address } from "../engine/core/hash.ts";

import { STATE_DIR } from "./state-dir.ts";
export { STATE_DIR };

export interface FolderConfig {
  remote: string;
  vault: string;
  /** An encrypted vault: its key is in <dir>/.penumbra-sync/vault-key.json (KEY_FILE). */
  encrypted?: true;
}

/** The device's copy of an encrypted vault's key (mode 0600): later commands need no passphrase. */
export const KEY_FILE = "vault-key.json";
export const PASSPHRASE_ENV = "PENUMBRA_SYNC_PASSPHRASE";
export const NEW_PASSPHRASE_ENV = "PENUMBRA_SYNC_NEW_PASSPHRASE";
/** Asked of a new passphrase (creation, rekey); an existing one is taken as it is. */
export const MIN_PASSPHRASE = 8;

export interface FolderContext {
  dir: string;
  config: FolderConfig;
  store: FsStore;
  vault: Vault;
  remote: HttpRemote;
  /** What the folder holds: the tree it was brought to and each part file's stat signature. */
  checkout: CheckoutIndex;
  /** Reads the folder for a scan: on worker threads when the scan is big (scan-pool.ts). */
  reader: FolderReader;
}

let pool: ScanPool | null = null;
/** One scan pool per process (its threads start at the first big scan). */
function scanPool(): ScanPool {
  return (pool ??= new ScanPool());
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
    if (typeof c.remote !== "string" || typeof c.vault !== "string" || (c.encrypted !== undefined && c.encrypted !== true)) throw new Error("fields");
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
  installNodeCrypto();
  const config = await readFolderConfig(dir);
  const keys = config.encrypted ? await readVaultKey(dir) : undefined;
  if (keys) installSealPool(); // its threads start only once 16 MiB were sealed (an initial push, not an edit)
  let store: FsStore;
  let vault: Vault;
  try {
    store = await FsStore.open(join(dir, STATE_DIR, "store"), nodeCompressor);
    // The working state is the head's tree plus what a scan finds changed: nothing is loaded whole.
    vault = await Vault.open({ store, compressor: nodeCompressor, keys, lazyWorking: true, onPackStored: progressDone });
  } catch (e) {
    if (e instanceof VaultKeyError) throw new CliError(`${join(dir, STATE_DIR)}: ${e.message}`, "move the folder's .penumbra-sync away and init again to re-clone", "vault_key");
    throw new CliError(`the local state in ${join(dir, STATE_DIR)} is corrupt: ${(e as Error).message}`, "run verify, or move the folder's .penumbra-sync away and init again to re-clone");
  }
  const remote = new HttpRemote({ url: config.remote, vault: config.vault, token, fetch: nodeFetch(), fetchTakesParts: true });
  const checkout = await openCheckout(join(dir, STATE_DIR), vault);
  const ctx = { dir, config, store, vault, remote, checkout, reader: scanPool() };
  await finishCheckout(ctx);
  return ctx;
}

/** Closes the folder's store: the object index file is rewritten here when new packs are many. */
export async function closeFolder(ctx: FolderContext): Promise<void> {
  crashPoint("index-write");
  // The sync's garbage and the store's cached frames, collected before the object index's rewrite
  // makes its buffer (~20 MB at 360,000 objects).
  ctx.store.dropCaches();
  phaseEnded();
  await ctx.store.close();
}

export function keyFilePath(dir: string): string {
  return join(dir, STATE_DIR, KEY_FILE);
}

/** Writes the device's copy of the vault key, readable by its owner only. */
export async function writeVaultKey(dir: string, keys: VaultKeys): Promise<void> {
  const body = { v: 1, keyId: keys.keyId, key: toHex(keys.exportVaultKey()) };
  await writeFileAtomic(keyFilePath(dir), JSON.stringify(body, null, 2) + "\n", { mode: 0o600 });
}

/** The device's copy of the vault key; refuses a key file others can read (as ssh does). */
export async function readVaultKey(dir: string): Promise<VaultKeys> {
  const path = keyFilePath(dir);
  const hint = "init the folder again with the vault's passphrase (move its .penumbra-sync away first)";
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new CliError(`the vault is encrypted but its key file ${path} is missing`, hint, "vault_key");
  }
  if (process.platform !== "win32" && ((await stat(path)).mode & 0o077) !== 0) throw new CliError(`the vault key file ${path} can be read by other users`, `run: chmod 600 ${path}`, "vault_key");
  try {
    const o = JSON.parse(text) as { v: number; keyId: string; key: string };
    if (o.v !== 1 || typeof o.key !== "string" || !/^[0-9a-f]{64}$/.test(o.key)) throw new Error("fields");
    const keys = VaultKeys.fromVaultKey(fromHex(o.key));
    if (keys.keyId !== o.keyId) throw new Error("keyId");
    return keys;
  } catch {
    throw new CliError(`the vault key file ${path} is corrupt`, hint, "vault_key");
  }
}

/**
 * A passphrase from the environment, else asked on the terminal (not echoed; twice for a new one).
 * No terminal and no variable: a clear error, nothing asked.
 */
export async function passphraseFrom(env: string, what: string, isNew: boolean): Promise<string> {
  let p = process.env[env];
  if (p === undefined) {
    if (!process.stdin.isTTY) throw new CliError(`no ${what}`, `set ${env} or run in a terminal to be asked`, "no_passphrase");
    p = await askHidden(`${what}: `);
    if (isNew && (await askHidden(`${what} again: `)) !== p) throw new CliError("the two passphrases differ", "try again", "no_passphrase");
  }
  if (!p) throw new CliError(`the ${what} is empty`, `set ${env} or type one`, "no_passphrase");
  if (isNew && [...p].length < MIN_PASSPHRASE) throw new CliError(`the ${what} is shorter than ${MIN_PASSPHRASE} characters`, "use a long passphrase, e.g. five or more random words (docs/security.md)", "weak_passphrase");
  return p;
}

function askHidden(question: string): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let muted = false;
  // readline echoes what is typed through _writeToOutput: print the question, then nothing.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s) => {
    if (!muted) process.stderr.write(s);
  };
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
    muted = true;
  });
}

/** Brings the folder to the head after an interrupted pull (the files were being written). */
export async function finishCheckout(ctx: FolderContext): Promise<void> {
  const to = ctx.vault.headRoot;
  // Rows of a tree the vault no longer has a head for (its store was replaced): start afresh, every file is read.
  if (!to && ctx.checkout.root) ctx.checkout = CheckoutIndex.empty();
  if (to && ctx.checkout.root !== to) {
    await applyTree(ctx.dir, ctx.vault, to, ctx.checkout);
    ctx.store.releaseIndexMemory();
    await saveCheckout(ctx, to);
  }
}

/**
 * Records that the folder reflects tree `root`, with the rows that prove it (one atomic file write).
 * Unchanged state is not written again: a no-op sync of a large folder would otherwise rewrite
 * megabytes of rows.
 */
export async function saveCheckout(ctx: FolderContext, root: Address | null): Promise<void> {
  ctx.checkout.root = root;
  if (!ctx.checkout.dirty) return;
  crashPoint("checkout-write");
  ctx.checkout = await writeCheckout(join(ctx.dir, STATE_DIR), ctx.checkout);
}
/** Maps engine and transport errors to one line a user can act on. */
export function explain(e: unknown, ctx?: { config: FolderConfig }): never {
  const where = ctx ? ` (${ctx.config.remote}, vault ${ctx.config.vault})` : "";
  if (e instanceof RemoteError) {
    if (e.status === 401) throw new CliError(`the server refused the token${where}`, "check PENUMBRA_SYNC_TOKEN or --token", "unauthorized");
    if (e.status === 403) throw new CliError(`the token may not do this${where}: ${e.message}`, "a read-only token cannot push, and gc, rekey and token management need the operator token: ask the operator (penumbra-sync token create --scope write)", "forbidden");
    if (e.status === 0 && e.code === "unreachable") throw new CliError(`${e.message}`, "is the server running? start one with: penumbra-sync serve", "unreachable");
    if (e.status === 413 || e.code === "quota_exceeded") throw new CliError(`the vault is full or the upload too large: ${e.message}`, "free space (delete notes, garbage-collect) or raise the limit", "quota");
    if (e.code === "unknown_vault") throw new CliError(`the vault does not exist on the server${where}`, "run init again", "unknown_vault");
    throw new CliError(`the server answered ${e.status} ${e.code}: ${e.message}`, e.retryable ? "try again" : undefined, e.code);
  }
  if (e instanceof SyncError) throw new CliError(e.message, undefined, e.code);
  if (e instanceof TamperedObjectError) throw new CliError(e.message, "nothing was applied; run verify (the server, the network or the local store altered it)", "tampered");
  if (e instanceof WrongPassphraseError) throw new CliError(`${e.message}${where}`, "nothing was written; try again", "wrong_passphrase");
  if (e instanceof EncryptionConfigError) throw new CliError(`${e.message}${where}`, undefined, "bad_encryption");
  throw e;
}
