// verify --repair end to end (issue 7): the real local server, packs damaged where Miniflare keeps
// them on disk (a flipped bit, a truncated pack, a deleted pack), `verify` names exactly the notes
// touched, `verify --repair` uploads intact copies from the device that still holds them, and a
// second device then clones correct notes.
//
// Miniflare persists each R2 object as a file under <state>/r2/<bucket>/blobs/ (its key -> file map
// is in SQLite next to it); a pack's file is found by its content: SHA-256(file) = the pack id.
import { createHash } from "node:crypto";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { serverWithFolder } from "../helpers/server-fixture.ts";
import { decodePackHeader, Codec, type PackHeader } from "../../engine/core/pack.ts";
import { canonicalBytes } from "../../engine/core/canonical.ts";

const fixture = serverWithFolder("penumbra-repair-");

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: fixture.server.token, ...env });
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A deterministic pseudo-random text of about `n` bytes (so that gzip frames fill up). */
function text(seed: number, n: number): string {
  const words = ["river", "lantern", "quiet", "orbit", "maple", "ember", "signal", "harbor", "violet", "cinder", "meadow", "atlas"];
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length] + (x % 97);
    out.push(w);
    len += w.length + 1;
  }
  return out.join(" ");
}

interface NoteFiles {
  note: string;
  embedding: Uint8Array;
  position: string;
}

function makeNote(i: number, big: boolean): NoteFiles {
  const emb = new Float32Array(384).map((_, k) => Math.sin(i * 7 + k));
  return {
    note: JSON.stringify({ title: `Note ${i}`, body: text(i, big ? 40_000 : 600) }, null, 2),
    embedding: new Uint8Array(emb.buffer),
    position: JSON.stringify({ x: i, y: -i, z: 0 }),
  };
}

/** Part address -> note id, computed here from the files (the test's own oracle). */
function partAddresses(notes: Map<string, NoteFiles>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [id, f] of notes) {
    m.set(sha256(canonicalBytes(JSON.parse(f.note))), id);
    m.set(sha256(f.embedding), id);
    m.set(sha256(canonicalBytes(JSON.parse(f.position))), id);
  }
  return m;
}

async function writeNotes(dir: string, notes: Map<string, NoteFiles>): Promise<void> {
  for (const [id, f] of notes) {
    await writeFile(path.join(dir, "notes", `${id}.json`), f.note);
    await writeFile(path.join(dir, "embeddings", `${id}.bin`), f.embedding);
    await writeFile(path.join(dir, "positions", `${id}.json`), f.position);
  }
}

const localPacks = async (dir: string) => new Set((await readdir(path.join(dir, ".penumbra-sync", "store", "packs")).catch(() => [] as string[])).filter((n) => n.endsWith(".pack")).map((n) => n.slice(0, -5)));
const localPackPath = (dir: string, id: string) => path.join(dir, ".penumbra-sync", "store", "packs", `${id}.pack`);

/** The file Miniflare keeps an R2 object's bytes in, found by content. */
async function r2File(packId: string): Promise<string> {
  const blobs = path.join(fixture.server.state, "r2", "penumbra-sync", "blobs");
  for (const name of await readdir(blobs)) {
    const p = path.join(blobs, name);
    if (sha256(await readFile(p)) === packId) return p;
  }
  throw new Error(`no R2 file holds pack ${packId}`);
}

/** Note ids with a part among these objects. */
function notesIn(h: PackHeader, frames: Set<number>, parts: Map<string, string>): string[] {
  const ids = new Set<string>();
  for (const o of h.objects) if (frames.has(o.frame) && parts.has(o.addr)) ids.add(parts.get(o.addr)!);
  return [...ids].sort();
}

const sorted = (a: Iterable<string>) => [...a].sort();

describe("verify --repair", () => {
  it("a flipped bit, a truncated pack and a deleted pack: verify names the notes, --repair fixes what this device holds, a second device clones correct notes", async () => {
    const a = path.join(fixture.tmp, "a");
    expect((await cli(["init", a, "--remote", fixture.server.url, "--vault", "rep"])).code).toBe(0);
    // Three syncs of ten notes: three packs. The first has large notes, so its notes span several gzip frames.
    const all = new Map<string, NoteFiles>();
    const packs: string[] = [];
    for (let s = 0; s < 3; s++) {
      const batch = new Map<string, NoteFiles>();
      for (let i = s * 10; i < s * 10 + 10; i++) batch.set(`n${String(i).padStart(2, "0")}`, makeNote(i, s === 0));
      await writeNotes(a, batch);
      for (const [k, v] of batch) all.set(k, v);
      const before = await localPacks(a);
      const r = await cli(["sync", a]);
      expect(r.code, r.stderr).toBe(0);
      const fresh = [...(await localPacks(a))].filter((p) => !before.has(p));
      expect(fresh).toHaveLength(1);
      packs.push(fresh[0]);
    }
    const parts = partAddresses(all);
    const clean = await cli(["verify", a, "--json"]);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, affectedNotes: [] });

    // Damage. Pack 0: one bit flipped in the data of one of its gzip frames holding notes.
    const bytes = await Promise.all(packs.map((p) => readFile(localPackPath(a, p))));
    const headers = bytes.map((b) => decodePackHeader(b));
    const gzipFrames = headers[0].frames.map((f, i) => ({ f, i })).filter(({ f, i }) => f.codec === Codec.Gzip && notesIn(headers[0], new Set([i]), parts).length > 0);
    expect(gzipFrames.length).toBeGreaterThan(1);
    const flipped = gzipFrames[0];
    const flippedBytes = Buffer.from(bytes[0]);
    flippedBytes[flipped.f.offset + Math.floor(flipped.f.storedLength / 2)] ^= 0x10;
    await writeFile(await r2File(packs[0]), flippedBytes);
    // Pack 1: cut inside its last frame.
    const last1 = headers[1].frames.length - 1;
    const cut = headers[1].frames[last1].offset + 3;
    await writeFile(await r2File(packs[1]), bytes[1].subarray(0, cut));
    // Pack 2: its file deleted.
    await rm(await r2File(packs[2]));

    const notes0 = notesIn(headers[0], new Set([flipped.i]), parts);
    const notes1 = notesIn(headers[1], new Set([last1]), parts);
    const notes2 = notesIn(headers[2], new Set(headers[2].frames.map((_, i) => i)), parts);
    expect(notes0.length).toBeGreaterThan(0);
    expect(notes0.length).toBeLessThan(10); // a subset of the pack's notes: the one frame
    expect(notes1.length).toBeGreaterThan(0);
    expect(notes2).toHaveLength(10);
    const affected = sorted(new Set([...notes0, ...notes1, ...notes2]));

    const found = await cli(["verify", a, "--json"]);
    expect(found.code).toBe(1);
    const fj = JSON.parse(found.stdout);
    expect(fj.ok).toBe(false);
    expect(fj.local.corrupt).toEqual([]);
    expect(fj.affectedNotes).toEqual(affected);
    // Every object of the deleted pack is reported (the head snapshot and tree nodes too).
    expect(fj.remote.damaged.length + fj.remote.missing.length).toBeGreaterThanOrEqual(headers[2].objects.length);
    const human = await cli(["verify", a]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`remote damage touches notes: ${affected.join(", ")}`);
    expect(human.stdout).toContain("verify --repair");

    // The device's own copy of pack 0 is damaged in the same frame: those notes cannot be repaired from here.
    await writeFile(localPackPath(a, packs[0]), flippedBytes);
    const partial = await cli(["verify", a, "--repair", "--json"]);
    expect(partial.code).toBe(1);
    const pj = JSON.parse(partial.stdout);
    expect(pj.local.corrupt.length).toBeGreaterThan(0);
    expect(pj.repair.remainingNotes).toEqual(notes0);
    expect(pj.repair.repairedNotes).toEqual(sorted(new Set([...notes1, ...notes2])));
    expect(pj.repair.notHeld.length).toBe(pj.repair.remaining.length);
    expect(pj.repair.requests).toBe(1);
    const ph = await cli(["verify", a, "--repair"]);
    expect(ph.stdout).toContain(`still damaged: `);
    expect(ph.stdout).toContain(`notes: ${notes0.join(", ")}`);

    // The intact local copy back: the rest is repaired, and verify is clean.
    await writeFile(localPackPath(a, packs[0]), bytes[0]);
    const full = await cli(["verify", a, "--repair", "--json"]);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const rj = JSON.parse(full.stdout);
    expect(rj.repair.repairedNotes).toEqual(notes0);
    console.log(`repair: ${pj.repair.uploaded.length} + ${rj.repair.uploaded.length} object(s) re-sent in ${pj.repair.bytes} + ${rj.repair.bytes} B; vault of ${headers.reduce((n, h) => n + h.objects.length, 0)} objects in ${bytes.reduce((n, b) => n + b.length, 0)} B`);
    expect(rj.repair.remaining).toEqual([]);
    const after = await cli(["verify", a, "--json"]);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ ok: true, affectedNotes: [], remote: { damaged: [], missing: [] } });

    // A second device clones the vault: every note, embedding and position equals the original.
    const b = path.join(fixture.tmp, "b");
    expect((await cli(["init", b, "--remote", fixture.server.url, "--vault", "rep"])).code).toBe(0);
    const sb = await cli(["sync", b]);
    expect(sb.code, sb.stderr).toBe(0);
    expect(sorted(await readdir(path.join(b, "notes")))).toEqual(sorted([...all.keys()].map((id) => `${id}.json`)));
    for (const [id, f] of all) {
      expect(JSON.parse(await readFile(path.join(b, "notes", `${id}.json`), "utf8"))).toEqual(JSON.parse(f.note));
      expect(new Uint8Array(await readFile(path.join(b, "embeddings", `${id}.bin`)))).toEqual(f.embedding);
      expect(JSON.parse(await readFile(path.join(b, "positions", `${id}.json`), "utf8"))).toEqual(JSON.parse(f.position));
    }
    // And both devices keep syncing normally on the repaired vault.
    await writeFile(path.join(b, "notes", "n00.json"), JSON.stringify({ title: "edited on b" }));
    expect((await cli(["sync", b])).code).toBe(0);
    expect((await cli(["sync", a])).code).toBe(0);
    expect(JSON.parse(await readFile(path.join(a, "notes", "n00.json"), "utf8"))).toEqual({ title: "edited on b" });
  }, 180_000);

  it("an encrypted vault: verify finds the damage; --repair explains what is possible instead", async () => {
    const env = { PENUMBRA_SYNC_PASSPHRASE: "seven purple otters juggle fog" };
    const e = path.join(fixture.tmp, "e");
    expect((await cli(["init", e, "--remote", fixture.server.url, "--vault", "rep-enc", "--encrypt"], env)).code).toBe(0);
    const notes = new Map([...Array(5).keys()].map((i) => [`e${i}`, makeNote(i, false)] as const));
    await writeNotes(e, notes);
    const before = await localPacks(e);
    expect((await cli(["sync", e])).code).toBe(0);
    const [pack] = [...(await localPacks(e))].filter((p) => !before.has(p));
    await rm(await r2File(pack));
    const r = await cli(["verify", e, "--repair", "--json"]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.affectedNotes).toEqual(sorted(notes.keys()));
    expect(j.repair).toBeNull();
    expect(j.repairNote).toMatch(/cannot check encrypted objects.*edit the affected notes/);
  }, 120_000);
});
