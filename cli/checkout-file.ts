// Where the checkout index lives (<dir>/.penumbra-sync/checkout.pnck), and how a folder made by an
// older release, whose stat cache and checkout root were JSON metas of the store, is carried over.
import { readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { iterateTree } from "../engine/core/tree.ts";
import type { Address } from "../engine/core/hash.ts";
import { FormatError } from "../engine/core/bytes.ts";
import type { Vault } from "../engine/vault/vault.ts";
import { writeFileAtomic } from "../engine/node/atomic-file.ts";
import { CheckoutIndex, PARTS, UNKNOWN_SIG, encodeRows, type CheckoutRow } from "./checkout-index.ts";
import { PART_DIRS } from "./vault-folder.ts";
import { crashPoint } from "./crash-hook.ts";
import { phaseEnded } from "./heap-mode.ts";

export const CHECKOUT_FILE = "checkout.pnck";
/** The older layout: JSON metas of the store (`<state>/store/meta/<key>.json`). */
const LEGACY_STAT_CACHE = "statcache";
const LEGACY_CHECKOUT = "checkout";
/** path -> [size, mtimeMs, ino, address, chunked(0/1) or dims] */
type LegacyStatCache = Record<string, [number, number, number, Address, number]>;

/**
 * The folder's checkout index. Missing: carried over from the older JSON metas if they exist,
 * else empty (no tree: the next checkout leaves existing files alone and the scan reads them all).
 * Damaged (a bad checksum, a torn or foreign file): rebuilt as if missing, from nothing, which
 * costs one full re-read of the folder and loses nothing.
 */
export async function openCheckout(stateDir: string, vault: Vault): Promise<CheckoutIndex> {
  const path = join(stateDir, CHECKOUT_FILE);
  let bytes: Uint8Array | null = null;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  crashPoint("checkout-read");
  if (bytes) {
    try {
      const index = CheckoutIndex.decode(bytes);
      await removeLegacy(stateDir);
      return index;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      return CheckoutIndex.empty();
    }
  }
  const legacy = await migrateLegacy(stateDir, vault);
  if (!legacy) return CheckoutIndex.empty();
  const index = await writeCheckout(stateDir, legacy);
  await removeLegacy(stateDir);
  return index;
}

/**
 * Writes the index atomically and returns it, clean: the same object. After many changes (a clone)
 * its rows are read back from the file once the old ones are dropped; after a few (an edit) it
 * keeps what it has (CheckoutIndex.written). Either way a 300,000-row index is never held twice
 * (29 MB each at 100,000 notes).
 */
export async function writeCheckout(stateDir: string, index: CheckoutIndex): Promise<CheckoutIndex> {
  const path = join(stateDir, CHECKOUT_FILE);
  const now = Date.now();
  await writeFileAtomic(path, index.encodePieces(now));
  // A big write's rows are read back when next looked at (written), the old ones collected first.
  index.written(now, () => {
    phaseEnded();
    return readFileSync(path);
  });
  return index;
}

async function readLegacy<T>(stateDir: string, key: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, "store", "meta", `${key}.json`), "utf8")) as T;
  } catch {
    return undefined; // missing, or damaged: nothing to carry over
  }
}

/**
 * Rows for the older stat cache's tree (the checkout root meta): every part of that tree, with the
 * old row's signature where the old row recorded the same address (else unknown: the file is read).
 * Reads the whole tree once.
 */
async function migrateLegacy(stateDir: string, vault: Vault): Promise<CheckoutIndex | null> {
  const cache = await readLegacy<LegacyStatCache>(stateDir, LEGACY_STAT_CACHE);
  const root = await readLegacy<Address | null>(stateDir, LEGACY_CHECKOUT);
  if (!cache && !root) return null;
  const rows: [number, string, CheckoutRow][][] = [[], [], []];
  if (root) {
    for await (const e of iterateTree(root, vault.load)) {
      PARTS.forEach((part, p) => {
        const addr = part === "note" ? e.note : part === "embedding" ? e.embedding : e.position;
        if (!addr) return;
        const extra = part === "note" ? (e.chunked ? 1 : 0) : part === "embedding" ? (e.dims ?? 0) : 0;
        const old = cache?.[`${PART_DIRS[part].dir}/${e.id}${PART_DIRS[part].ext}`];
        const sig = old && old[3] === addr && old[4] === extra ? ([old[0], old[1], old[2]] as CheckoutRow["sig"]) : UNKNOWN_SIG;
        rows[p].push([p, e.id, { sig, addr, extra }]);
      });
    }
  }
  for (const r of rows) r.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return CheckoutIndex.decode(encodeRows(root ?? null, Date.now(), rows.flat()));
}

async function removeLegacy(stateDir: string): Promise<void> {
  for (const key of [LEGACY_STAT_CACHE, LEGACY_CHECKOUT]) await rm(join(stateDir, "store", "meta", `${key}.json`), { force: true });
}
