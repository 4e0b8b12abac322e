// A clone's first checkout (cli/checkout-stage.ts): part folders with no row that are empty are
// written through a staging folder and moved in by one rename. The files and rows equal the per-file
// path's (a scan right after reads nothing); a name the user takes meanwhile keeps the user's file;
// a killed run's staging folder (torn files in it) is removed and never reaches a part folder; a part
// folder that has rows, holds a file or is a symlink is written file by file as before.
import { describe, it, expect } from "vitest";
import { mkdtemp, rm, writeFile, readFile, readdir, mkdir, symlink, stat, chmod } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { canonicalBytes } from "../../engine/core/canonical.ts";
import { scanFolder, applyTree as applyTreeWith } from "../../cli/vault-folder.ts";
import { CheckoutIndex, UNKNOWN_SIG } from "../../cli/checkout-index.ts";
import { CheckoutStage, STAGE_DIR } from "../../cli/checkout-stage.ts";
import { STATE_DIR } from "../../cli/state-dir.ts";
import { fileBytes, writeBatch } from "../../cli/checkout-writer.ts";

const N = 40;

/** A vault whose head holds N notes (every other with an embedding, every third with a position). */
async function source(): Promise<Vault> {
  const v = await Vault.open({ store: new MemoryStore(), device: "s", lazyWorking: true });
  for (let i = 0; i < N; i++) {
    const id = `n${String(i).padStart(3, "0")}`;
    v.putEntry({
      id,
      note: v.stageNoteBytes(canonicalBytes({ title: `note ${i}`, body: "x".repeat(i) })).note,
      ...(i % 2 === 0 ? { embedding: v.stageEmbeddingBytes(new Uint8Array(new Float32Array([i, 1, 2]).buffer)), dims: 3 } : {}),
      ...(i % 3 === 0 ? { position: v.stageJsonBlob(canonicalBytes({ x: i, y: -i, z: 0 })) } : {}),
    });
  }
  await v.commit();
  return v;
}

/** Queues note `id`'s file (its stored bytes given) on the stage; its row is set once the file is written. */
function addNote(stage: CheckoutStage, checkout: CheckoutIndex, id: string, stored: Uint8Array): Promise<void> {
  return stage.add("note", `${id}.json`, stored, (sig) => checkout.set("note", id, { sig, addr: "ab".repeat(32), extra: 0 }));
}

async function tempFolder(parts = true): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-stage-"));
  await mkdir(path.join(dir, STATE_DIR));
  if (parts) for (const sub of ["notes", "embeddings", "positions"]) await mkdir(path.join(dir, sub));
  return dir;
}

async function listing(dir: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const sub of ["notes", "embeddings", "positions"]) out[sub] = (await readdir(path.join(dir, sub)).catch(() => [])).sort();
  return out;
}

/** The folder as the per-file path writes it: every part folder holds a file, so none is staged. */
async function perFile(v: Vault): Promise<{ dir: string; checkout: CheckoutIndex }> {
  const dir = await tempFolder();
  for (const sub of ["notes", "embeddings", "positions"]) await writeFile(path.join(dir, sub, "zz-user.txt"), "mine");
  const checkout = CheckoutIndex.empty();
  const r = await applyTreeWith(dir, v, v.headRoot!, checkout);
  expect(r.skipped).toEqual([]);
  return { dir, checkout };
}

// Every case runs twice: files created on the calling thread, and on writer threads (a big clone's way).
describe.each([
  ["on the calling thread", undefined],
  ["on writer threads", 0],
])("a clone's first checkout through a staging folder, %s", (_how, writerThreadsFrom) => {
  const applyTree = (dir: string, v: Vault, to: string, checkout: CheckoutIndex) => applyTreeWith(dir, v, to, checkout, { writerThreadsFrom });
  it("writes what the per-file path writes, leaves no staging folder, and its rows match the files (a scan reads nothing)", async () => {
    const v = await source();
    const dir = await tempFolder();
    const ref = await perFile(v);
    try {
      const checkout = CheckoutIndex.empty();
      const r = await applyTree(dir, v, v.headRoot!, checkout);
      expect(r).toMatchObject({ written: N + N / 2 + Math.ceil(N / 3), deleted: 0, skipped: [] });
      expect(existsSync(path.join(dir, STATE_DIR, STAGE_DIR))).toBe(false);
      const mine = await listing(dir);
      const theirs = await listing(ref.dir);
      for (const sub of Object.keys(theirs)) expect(mine[sub]).toEqual(theirs[sub].filter((n) => n !== "zz-user.txt"));
      for (const [sub, names] of Object.entries(mine)) for (const n of names) expect(await readFile(path.join(dir, sub, n))).toEqual(await readFile(path.join(ref.dir, sub, n)));
      // The rows' signatures are the files' own: after saving, a scan stats and reads nothing.
      const saved = CheckoutIndex.decode(checkout.encode());
      const scan = await scanFolder(dir, v, saved);
      expect([scan.hashed, scan.changes.size, scan.cacheChanged]).toEqual([0, 0, false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(ref.dir, { recursive: true, force: true });
    }
  });

  it("part folders that are missing are made; a part folder's permissions are kept", async () => {
    const v = await source();
    const dir = await tempFolder(false);
    try {
      await mkdir(path.join(dir, "notes"));
      await chmod(path.join(dir, "notes"), 0o750);
      const r = await applyTree(dir, v, v.headRoot!, CheckoutIndex.empty());
      expect(r.skipped).toEqual([]);
      const l = await listing(dir);
      expect([l.notes.length, l.embeddings.length, l.positions.length]).toEqual([N, N / 2, Math.ceil(N / 3)]);
      expect((await stat(path.join(dir, "notes"))).mode & 0o777).toBe(0o750);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an empty part folder that gets no file is left as it is (same inode: a watch on it stays valid)", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "s", lazyWorking: true });
    v.putEntry({ id: "only-note", note: v.stageNoteBytes(canonicalBytes({ title: "t" })).note });
    await v.commit();
    const dir = await tempFolder();
    try {
      const before = await Promise.all(["notes", "embeddings", "positions"].map(async (sub) => (await stat(path.join(dir, sub))).ino));
      const r = await applyTree(dir, v, v.headRoot!, CheckoutIndex.empty());
      expect(r.written).toBe(1);
      const after = await Promise.all(["notes", "embeddings", "positions"].map(async (sub) => (await stat(path.join(dir, sub))).ino));
      expect(after[0]).not.toBe(before[0]); // staged and moved in
      expect(after.slice(1)).toEqual(before.slice(1));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a file the user makes in a part folder while it runs is never overwritten: the other files are moved in one by one", async () => {
    const v = await source();
    const dir = await tempFolder();
    try {
      const checkout = CheckoutIndex.empty();
      const stage = CheckoutStage.open(dir, checkout);
      expect(["note", "embedding", "position"].map((p) => stage.stages(p as "note"))).toEqual([true, true, true]);
      const bytes = canonicalBytes({ title: "ours" }); // stored form: the file is it re-indented
      if (writerThreadsFrom === 0) stage.threads();
      for (const id of ["a", "b", "c"]) await addNote(stage, checkout, id, bytes);
      await stage.drain();
      await stage.close();
      // Meanwhile the user makes b.json and an unrelated file.
      await writeFile(path.join(dir, "notes", "b.json"), "the user's own b");
      await writeFile(path.join(dir, "notes", "other.txt"), "x");
      const out = stage.finish(checkout);
      expect(out.skipped).toEqual(["notes/b.json"]);
      expect(await readFile(path.join(dir, "notes", "b.json"), "utf8")).toBe("the user's own b");
      expect((await listing(dir)).notes).toEqual(["a.json", "b.json", "c.json", "other.txt"]);
      expect(await readFile(path.join(dir, "notes", "a.json"), "utf8")).toBe('{\n  "title": "ours"\n}\n');
      // b's row keeps the tree's part with an unknown signature (the next scan reads the user's file);
      // a's and c's signatures are their files' (link kept inode, size and mtime).
      expect(checkout.get("note", "b")!.sig).toEqual(UNKNOWN_SIG);
      for (const id of ["a", "c"]) {
        const st = await stat(path.join(dir, "notes", `${id}.json`));
        expect(checkout.get("note", id)!.sig).toEqual([st.size, st.mtimeMs, st.ino]);
      }
      expect(existsSync(path.join(dir, STATE_DIR, STAGE_DIR))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a killed run's staging folder (a torn file in it) is removed by the next checkout and never reaches a part folder", async () => {
    const v = await source();
    const dir = await tempFolder();
    try {
      const left = path.join(dir, STATE_DIR, STAGE_DIR, "notes");
      await mkdir(left, { recursive: true });
      await writeFile(path.join(left, "n000.json"), '{\n  "bo'); // torn
      await writeFile(path.join(left, "stale.json"), "{}");
      const r = await applyTree(dir, v, v.headRoot!, CheckoutIndex.empty());
      expect(r.skipped).toEqual([]);
      expect((await listing(dir)).notes).not.toContain("stale.json");
      expect(JSON.parse(await readFile(path.join(dir, "notes", "n000.json"), "utf8"))).toEqual({ title: "note 0", body: "" });
      expect(existsSync(path.join(dir, STATE_DIR, STAGE_DIR))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is not used for a part that has rows, a part folder that holds a file, or a part folder that is a symlink", async () => {
    const dir = await tempFolder();
    const elsewhere = await mkdtemp(path.join(tmpdir(), "penumbra-stage-link-"));
    try {
      await writeFile(path.join(dir, "embeddings", "x.txt"), "x");
      await rm(path.join(dir, "positions"), { recursive: true });
      await symlink(elsewhere, path.join(dir, "positions"));
      const checkout = CheckoutIndex.empty();
      checkout.set("note", "a", { sig: [1, 2, 3], addr: "ab".repeat(32), extra: 0 });
      const stage = CheckoutStage.open(dir, checkout);
      expect([stage.stages("note"), stage.stages("embedding"), stage.stages("position")]).toEqual([false, false, false]);
      // The whole checkout through a symlinked part folder writes where it points.
      const v = await source();
      const r = await applyTree(dir, v, v.headRoot!, CheckoutIndex.empty());
      expect(r.skipped).toEqual([]);
      expect((await readdir(elsewhere)).length).toBe(Math.ceil(N / 3));
      expect((await readdir(path.join(dir, "embeddings"))).length).toBe(N / 2 + 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});

describe("a first checkout's writer threads", () => {
  it("write many batches (more than a thread may have out at once) exactly as the calling thread does", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "s", lazyWorking: true });
    const n = 700;
    for (let i = 0; i < n; i++) {
      const id = `m${String(i).padStart(4, "0")}`;
      v.putEntry({ id, note: v.stageNoteBytes(canonicalBytes({ title: id, body: "y".repeat(i % 50) })).note, embedding: v.stageEmbeddingBytes(new Uint8Array(new Float32Array([i, 2]).buffer)), dims: 2 });
    }
    await v.commit();
    const threaded = await tempFolder();
    const inline = await tempFolder();
    try {
      const a = CheckoutIndex.empty();
      const b = CheckoutIndex.empty();
      expect(await applyTreeWith(threaded, v, v.headRoot!, a, { writerThreadsFrom: 0 })).toMatchObject({ written: 2 * n, skipped: [] });
      expect(await applyTreeWith(inline, v, v.headRoot!, b, { writerThreadsFrom: Infinity })).toMatchObject({ written: 2 * n, skipped: [] });
      expect(await listing(threaded)).toEqual(await listing(inline));
      for (const [sub, names] of Object.entries(await listing(threaded))) for (const f of names) expect(await readFile(path.join(threaded, sub, f))).toEqual(await readFile(path.join(inline, sub, f)));
      const saved = CheckoutIndex.decode(a.encode());
      const scan = await scanFolder(threaded, v, saved);
      expect([scan.hashed, scan.changes.size, scan.cacheChanged]).toEqual([0, 0, false]);
      for (let i = 0; i < n; i += 97) {
        const id = `m${String(i).padStart(4, "0")}`;
        expect(a.get("note", id)!.addr).toBe(b.get("note", id)!.addr);
        const st = await stat(path.join(threaded, "embeddings", `${id}.bin`));
        expect(a.get("embedding", id)!.sig).toEqual([st.size, st.mtimeMs, st.ino]);
      }
    } finally {
      await rm(threaded, { recursive: true, force: true });
      await rm(inline, { recursive: true, force: true });
    }
  });

  it("a batch that fails (a name already staged) fails the checkout: no row for its files, nothing moved in, and the next checkout starts afresh", async () => {
    const v = await source();
    const dir = await tempFolder();
    try {
      const checkout = CheckoutIndex.empty();
      const stage = CheckoutStage.open(dir, checkout);
      stage.threads();
      const bytes = canonicalBytes({});
      await addNote(stage, checkout, "a", bytes);
      await writeFile(path.join(dir, STATE_DIR, STAGE_DIR, "notes", "b.json"), "not ours");
      await addNote(stage, checkout, "b", bytes);
      await expect(stage.drain()).rejects.toMatchObject({ code: "EEXIST" });
      await stage.close();
      expect([checkout.get("note", "a"), checkout.get("note", "b")]).toEqual([undefined, undefined]);
      expect(await readdir(path.join(dir, "notes"))).toEqual([]);
      // The next run removes the staging folder and writes every file.
      const r = await applyTreeWith(dir, v, v.headRoot!, CheckoutIndex.empty(), { writerThreadsFrom: 0 });
      expect(r.skipped).toEqual([]);
      expect((await listing(dir)).notes.length).toBe(N);
      expect(existsSync(path.join(dir, STATE_DIR, STAGE_DIR))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a part that does not decode fails its batch on the thread as it fails the calling thread's checkout", async () => {
    const dir = await tempFolder();
    try {
      for (const threads of [true, false]) {
        const checkout = CheckoutIndex.empty();
        const stage = CheckoutStage.open(dir, checkout);
        if (threads) stage.threads();
        const bad = async () => {
          await stage.add("position", "p.json", new TextEncoder().encode("[1, 2"), () => checkout.set("position", "p", { sig: [1, 1, 1], addr: "ab".repeat(32), extra: 0 }));
          await stage.drain();
        };
        await expect(bad()).rejects.toThrow(/position/);
        await stage.close();
        expect(checkout.get("position", "p")).toBeUndefined();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a batch retried on the calling thread (its thread died part way) replaces what the thread wrote of it", async () => {
    const dir = await tempFolder();
    try {
      const prefix = path.join(dir, "notes") + path.sep;
      await writeFile(prefix + "a.json", "to"); // torn by the thread's death
      const data = new TextEncoder().encode("AAAbb");
      const sigs = writeBatch({ prefix, part: "embedding", names: ["a.json", "b.json"], data, ends: new Uint32Array([3, 5]), replace: true });
      expect([await readFile(prefix + "a.json", "utf8"), await readFile(prefix + "b.json", "utf8")]).toEqual(["AAA", "bb"]);
      const st = await stat(prefix + "a.json");
      expect([...sigs.subarray(0, 3)]).toEqual([3, st.mtimeMs, st.ino]);
      // Without `replace` an existing name is an error, never overwritten.
      expect(() => writeBatch({ prefix, part: "embedding", names: ["b.json"], data, ends: new Uint32Array([1]) })).toThrow(/EEXIST/);
      expect(await readFile(prefix + "b.json", "utf8")).toBe("bb");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a batch of notes writes each note's file as fileBytes makes it, across notes that outgrow the thread's buffer", async () => {
    const dir = await tempFolder();
    try {
      const prefix = path.join(dir, "notes") + path.sep;
      await mkdir(prefix, { recursive: true });
      // A small note, one of ~1.2 MB of 2- and 3-byte UTF-8 (past the 64 KiB buffer), a small one after it.
      const notes = [{ title: "a" }, { title: "é€ big", body: "ß→".repeat(200_000) }, { title: "c", tags: ["x", "y"] }].map((n) => canonicalBytes(n));
      const ends = new Uint32Array(notes.length);
      notes.reduce((at, n, i) => (ends[i] = at + n.length), 0);
      const data = new Uint8Array(ends[ends.length - 1]);
      notes.forEach((n, i) => data.set(n, i ? ends[i - 1] : 0));
      const names = ["a.json", "b.json", "c.json"];
      writeBatch({ prefix, part: "note", names, data, ends });
      for (let i = 0; i < names.length; i++) expect(Buffer.compare(await readFile(prefix + names[i]), fileBytes("note", notes[i]))).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
