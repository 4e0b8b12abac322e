// The folder scan on worker threads gives what the scan on the main thread gives: the same entries,
// stat-cache rows, reports of bad files and staged objects, in the same order, for plain and
// encrypted vaults, with or without a stat cache, and when a thread dies mid-scan.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm, writeFile, mkdir, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { scanFolder, type FolderReader } from "../../cli/vault-folder.ts";
import { CheckoutIndex } from "../../cli/checkout-index.ts";
import { ScanPool } from "../../cli/scan-pool.ts";
import { threadsBesideMain } from "../../engine/node/worker-pool.ts";
import { generateVault } from "../../sample/generator.ts";
import { writeVaultFolder } from "../../sample/folder.ts";

installNodeCrypto();
let folder: string;
const pools: ScanPool[] = [];
const newPool = () => {
  // Every scan on threads (no minimum), in many small messages.
  const p = new ScanPool({ size: 2, batch: 7, inFlight: 3, minReads: 0 });
  pools.push(p);
  return p;
};

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "penumbra-scan-pool-"));
  await writeVaultFolder(folder, generateVault({ notes: 120, seed: 7 }));
  // Files the scan must report and skip: bad JSON, a JSON array, a torn embedding, a bad name, a directory.
  await writeFile(path.join(folder, "notes", "broken.json"), "{ not json");
  await writeFile(path.join(folder, "positions", "array.json"), "[1, 2]");
  await writeFile(path.join(folder, "embeddings", "torn.bin"), new Uint8Array(7));
  await writeFile(path.join(folder, "notes", "bad name!.json"), "{}");
  await mkdir(path.join(folder, "notes", "adir.json"));
});

afterAll(async () => {
  for (const p of pools) await p.close();
  await rm(folder, { recursive: true, force: true });
});

/** A device: its vault and the checkout index of the folder (as the CLI keeps them). */
async function device(keys: VaultKeys | undefined) {
  return { v: await Vault.open({ store: new MemoryStore(), keys, device: "d", lazyWorking: true }), checkout: CheckoutIndex.empty() };
}

/** Scans the folder as `sync` does: the changes into the vault, a commit, the checkout moved to the new head. */
async function scan(d: Awaited<ReturnType<typeof device>>, reader?: FolderReader) {
  const r = await scanFolder(folder, d.v, d.checkout, undefined, reader);
  d.v.updateEntries(r.changes);
  const { snapshot } = await d.v.commit();
  d.checkout.root = d.v.headRoot;
  return { r, root: d.v.headRoot, snapshotSet: snapshot !== null, v: d.v };
}

const rowsOf = (c: CheckoutIndex) => [...c.rows()];

describe.each([
  ["plain", undefined],
  ["encrypted", VaultKeys.generate()],
])("scan on threads = scan inline, %s vault", (_name, keys) => {
  it("without a stat cache, then with it, then after edits", async () => {
    const pool = newPool();
    const devA = await device(keys);
    const devB = await device(keys);
    const a = await scan(devA);
    const b = await scan(devB, pool);
    expect(pool.started).toBe(true);
    expect(b.r.ignored).toEqual(a.r.ignored);
    expect(a.r.ignored).toHaveLength(5);
    expect([b.r.hashed, b.r.bytesRead]).toEqual([a.r.hashed, a.r.bytesRead]);
    expect([...b.r.changes.entries()]).toEqual([...a.r.changes.entries()]);
    expect(b.r.changes.size).toBeGreaterThanOrEqual(120); // every note is new to a fresh device
    expect(b.root).toBe(a.root);
    expect(rowsOf(devB.checkout)).toEqual(rowsOf(devA.checkout));
    // Everything read back from the threads' scan is what the folder holds.
    expect(await b.v.getNote("n000042")).toEqual(await a.v.getNote("n000042"));

    // With the cache: nothing is read but the three bad files (they never get a cache row).
    const again = await scan(devB, pool);
    expect(again.r.hashed).toBe(3);
    expect(again.r.changes.size).toBe(0);
    expect(again.root).toBe(a.root);

    // An edited file (new mtime and content) is read again, and only it.
    const id = [...a.r.changes.keys()].sort()[3];
    const edited = path.join(folder, "positions", `${id}.json`);
    await writeFile(edited, JSON.stringify({ x: 1, y: 2, z: keys ? 3 : 4 }));
    await utimes(edited, new Date(), new Date(Date.now() + 5000));
    const inline = await scan(devA);
    const threads = await scan(devB, pool);
    expect([...threads.r.changes.keys()]).toEqual([id]);
    expect([...inline.r.changes.keys()]).toEqual([id]);
    expect(threads.r.hashed).toBe(1 + 3);
    expect(threads.r.hashed).toBe(inline.r.hashed);
    expect(threads.root).toBe(inline.root);
  });
});

it("a thread that dies mid-scan has its files read on the main thread: same result", async () => {
  const pool = newPool();
  const a = await scan(await device(undefined));
  const v = await Vault.open({ store: new MemoryStore(), device: "d" });
  let killed = false;
  const r = await scanFolder(folder, v, CheckoutIndex.empty(), () => {
    if (killed) return;
    killed = true;
    void (pool as unknown as { pool: { workers: { terminate(): Promise<number> }[] } }).pool.workers[0].terminate();
  }, pool);
  expect(killed).toBe(true);
  v.updateEntries(r.changes);
  await v.commit();
  expect(v.headRoot).toBe(a.root);
  expect(r.ignored).toEqual(a.r.ignored);
  await new Promise((res) => setTimeout(res, 50));
  expect(pool.failure?.message).toMatch(/penumbra-scan thread exited/);
});

it("released after a scan, the threads stop; the next scan starts them again and reads the same", async () => {
  const pool = newPool();
  const a = await scan(await device(undefined));
  const d = await device(undefined);
  const first = await scan(d, pool);
  expect(pool.started).toBe(true);
  await pool.release();
  expect(pool.started).toBe(false);
  const fresh = await device(undefined);
  const second = await scan(fresh, pool);
  expect(pool.started).toBe(true);
  expect(pool.failure).toBe(null);
  expect(second.root).toBe(a.root);
  expect(first.root).toBe(a.root);
  expect(rowsOf(fresh.checkout)).toEqual(rowsOf(d.checkout));
});

it("reads on one core fewer than the machine has, at least one thread, at most three", () => {
  expect([1, 2, 3, 4, 8, 64].map((cores) => threadsBesideMain(cores))).toEqual([1, 1, 2, 3, 3, 3]);
});
