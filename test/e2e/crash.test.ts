// Crash safety of the CLI (issue 7): the CLI child process really is killed (SIGKILL) at random
// points of push and pull, many times, on a vault of a few hundred notes edited between runs. After
// every kill:
//   - the vault folder has no half-written note file: each file is byte for byte what the folder
//     held before the run or what the vault now holds (nothing else);
//   - the remote head is complete: a fresh clone succeeds (every object fetched and hash-checked);
//   - the next sync of the killed folder finishes, and the folder then equals the vault's contents,
//     which the other device's syncs have to reach too (checked at the end: both folders, verify).
// Kill points: the CLI's test hook PENUMBRA_CRASH_AT (cli/crash-hook.ts) either stops at a named
// point (an exact kill there) or just traces the points, and the test kills a random 0-40 ms after
// a random one of them. Two devices own disjoint notes, so every file has one writer and the
// expected contents are known without merging. PENUMBRA_LONG=1 kills more often.
import { spawn } from "node:child_process";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import { describe, expect, it } from "vitest";
import { BIN, ROOT, runCli, type CliResult } from "../helpers/cli.ts";
import { serverWithFolder } from "../helpers/server-fixture.ts";
import { HttpRemote, MemoryStore, Vault, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { rng } from "../core/util.ts";

installNodeFastPaths();
const LONG = process.env.PENUMBRA_LONG === "1";
const KILLS = LONG ? 80 : 15;
const CLONE_KILLS = LONG ? 20 : 6;
// Weighted towards the points inside the network steps and right before the folder is written.
// checkout-write and index-write come right before the local state files are replaced (the
// checkout index, the store's object index), so a kill a few ms after them lands in those writes.
const POINTS = ["scanned", "committed", "pushed", "pushed", "pack-stored", "pack-stored", "synced", "synced", "done", "checkout-write", "checkout-write", "index-write"] as const;
const DIRS = ["notes", "positions", "embeddings"];

const fixture = serverWithFolder("penumbra-crash-");

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: fixture.server.token });
}

/** path relative to the folder ("notes/a001.json") -> bytes */
type Files = Map<string, Buffer>;

// Files are written exactly as a pull writes them (sorted keys, 2-space indent, newline), so that
// "the old or the new content" can be checked byte for byte.
const noteBytes = (title: string, body: string) => Buffer.from(JSON.stringify({ body, title }, null, 2) + "\n");
const positionBytes = (x: number, y: number) => Buffer.from(JSON.stringify({ x, y, z: 0 }, null, 2) + "\n");
const embeddingBytes = (seed: number) => Buffer.from(new Float32Array(384).map((_, k) => Math.sin(seed + k)).buffer);

async function readFolder(dir: string): Promise<{ files: Files; temps: number }> {
  const files: Files = new Map();
  let temps = 0;
  for (const sub of DIRS) {
    for (const name of await readdir(path.join(dir, sub)).catch(() => [] as string[])) {
      if (name.startsWith(".") && name.endsWith(".tmp")) temps++;
      else files.set(`${sub}/${name}`, await readFile(path.join(dir, sub, name)));
    }
  }
  return { files, temps };
}

async function writeFiles(dir: string, changes: Map<string, Buffer | null>): Promise<void> {
  for (const [rel, bytes] of changes) {
    if (bytes) await writeFile(path.join(dir, rel), bytes);
    else await rm(path.join(dir, rel), { force: true });
  }
}

/** Edits of the notes `owner` writes: some bodies rewritten, a few notes added and deleted. */
function edits(model: Files, owner: string, rnd: () => number, round: number): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>();
  const ids = [...model.keys()].filter((k) => k.startsWith(`notes/${owner}`)).map((k) => k.slice(6, -5));
  for (let i = 0; i < 8; i++) {
    const id = ids[Math.floor(rnd() * ids.length)];
    out.set(`notes/${id}.json`, noteBytes(`Note ${id}`, `round ${round} edit ${i}\n${"text ".repeat(Math.floor(rnd() * 200))}`));
    if (rnd() < 0.3) out.set(`positions/${id}.json`, positionBytes(round, i));
  }
  for (let i = 0; i < 2; i++) {
    const id = ids[Math.floor(rnd() * ids.length)];
    if ([...out.keys()].some((k) => k.includes(`/${id}.`))) continue;
    for (const sub of DIRS) if (model.has(`${sub}/${id}${sub === "embeddings" ? ".bin" : ".json"}`)) out.set(`${sub}/${id}${sub === "embeddings" ? ".bin" : ".json"}`, null);
  }
  const fresh = `${owner}${round}x${Math.floor(rnd() * 1e6)}`;
  out.set(`notes/${fresh}.json`, noteBytes(`New ${fresh}`, "added"));
  out.set(`embeddings/${fresh}.bin`, embeddingBytes(round));
  return out;
}

function apply(model: Files, changes: Map<string, Buffer | null>): void {
  for (const [rel, bytes] of changes) {
    if (bytes) model.set(rel, bytes);
    else model.delete(rel);
  }
}

interface Run {
  killedAt: string | null;
  code: number | null;
}

/** Runs `penumbra-sync <cmd> <dir>` and kill -9s it at `point` (exact) or a random delay after it (trace). */
function runAndKill(cmd: string, dir: string, point: string, exact: boolean, delayMs: number, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, cmd, dir], {
      cwd: ROOT,
      env: { ...process.env, ...env, PENUMBRA_SYNC_TOKEN: fixture.server.token, PENUMBRA_CRASH_AT: exact ? point : "trace" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let killedAt: string | null = null;
    readline.createInterface({ input: child.stderr! }).on("line", (line) => {
      if (killedAt || line !== `crash-point ${point}`) return;
      killedAt = point;
      if (exact) child.kill("SIGKILL");
      else setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("exit", (code, signal) => resolve({ killedAt: signal === "SIGKILL" ? killedAt : null, code }));
  });
}

/** Everything the remote head holds, through a fresh device (every object fetched and hash-checked). */
async function cloneHead(): Promise<Files> {
  const v = await Vault.open({ store: new MemoryStore(), compressor: nodeCompressor });
  await sync(v, new HttpRemote({ url: fixture.server.url, vault: "crash", token: fixture.server.token }));
  const files: Files = new Map();
  for (const id of v.ids()) {
    const e = v.entry(id)!;
    if (e.note) files.set(`notes/${id}.json`, Buffer.from(JSON.stringify(await v.getNote(id), null, 2) + "\n"));
    if (e.position) files.set(`positions/${id}.json`, Buffer.from(JSON.stringify(await v.getPosition(id), null, 2) + "\n"));
    if (e.embedding) files.set(`embeddings/${id}.bin`, Buffer.from((await v.getEmbedding(id))!.buffer));
  }
  return files;
}

function expectSameFiles(actual: Files, expected: Files, what: string): void {
  expect([...actual.keys()].sort(), what).toEqual([...expected.keys()].sort());
  for (const [rel, bytes] of expected) expect(actual.get(rel)!.equals(bytes), `${what}: ${rel}`).toBe(true);
}

describe("crash safety of the CLI", () => {
  it(`kill -9 during push and pull, ${KILLS} times: no half-written file, a complete remote head, the next sync converges`, async () => {
    const seed = Number(process.env.PENUMBRA_CRASH_SEED ?? Date.now() % 100_000);
    const rnd = rng(seed); // seeded, so a failing run can be replayed with PENUMBRA_CRASH_SEED
    const dev = { a: path.join(fixture.tmp, "a"), b: path.join(fixture.tmp, "b") };
    for (const d of Object.values(dev)) expect((await cli(["init", d, "--remote", fixture.server.url, "--vault", "crash"])).code).toBe(0);
    // A writes 250 notes (every third with an embedding, every second with a position), B 50.
    const model: Files = new Map();
    for (const [owner, count] of [["a", 250], ["b", 50]] as const) {
      const files = new Map<string, Buffer | null>();
      for (let i = 0; i < count; i++) {
        const id = `${owner}${String(i).padStart(3, "0")}`;
        files.set(`notes/${id}.json`, noteBytes(`Note ${id}`, `first version of ${id}\n${"words ".repeat(i % 50)}`));
        if (i % 2 === 0) files.set(`positions/${id}.json`, positionBytes(i, -i));
        if (i % 3 === 0) files.set(`embeddings/${id}.bin`, embeddingBytes(i));
      }
      await writeFiles(dev[owner], files);
      apply(model, files);
      const r = await cli(["sync", dev[owner]]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await cli(["sync", dev.a])).code).toBe(0);
    expectSameFiles((await readFolder(dev.a)).files, model, "a after setup");

    let kills = 0;
    let temps = 0;
    const killedAt: Record<string, number> = {};
    for (let round = 0; kills < KILLS && round < KILLS * 3; round++) {
      // Devices take turns: A edits and pushes (sync or push), B edits a little and pulls (sync or pull).
      const owner = round % 2 === 0 ? "a" : "b";
      const dir = dev[owner];
      const cmd = owner === "a" ? (rnd() < 0.7 ? "sync" : "push") : rnd() < 0.5 ? "sync" : "pull";
      const changes = edits(model, owner, rnd, round);
      await writeFiles(dir, changes);
      apply(model, changes);
      const before = (await readFolder(dir)).files;
      const point = POINTS[Math.floor(rnd() * POINTS.length)];
      const exact = round % 2 === 0;
      const run = await runAndKill(cmd, dir, point, exact, Math.floor(rnd() * 40));
      const ctx = `seed ${seed}, round ${round}, ${owner} ${cmd}, ${exact ? "at" : "after"} ${point}`;
      if (run.killedAt) {
        kills++;
        killedAt[point] = (killedAt[point] ?? 0) + 1;
      }

      // The folder: every file is its content before the run or the vault's content now.
      const after = await readFolder(dir);
      temps += after.temps;
      for (const rel of new Set([...before.keys(), ...model.keys(), ...after.files.keys()])) {
        const cur = after.files.get(rel);
        const ok = (x: Buffer | undefined) => (x === undefined ? cur === undefined : cur !== undefined && cur.equals(x));
        expect(ok(before.get(rel)) || ok(model.get(rel)), `${ctx}: ${rel} is neither its old nor its new content`).toBe(true);
      }
      // The remote head is complete: a fresh device clones it.
      await cloneHead();

      // The next sync finishes, and the folder then holds exactly the vault's contents.
      const next = await cli(["sync", dir]);
      expect(next.code, `${ctx}: the next sync failed: ${next.stderr}`).toBe(0);
      expectSameFiles((await readFolder(dir)).files, model, `${ctx}: after the next sync`);
      expectSameFiles(await cloneHead(), model, `${ctx}: the remote head after the next sync`);
    }
    expect(kills).toBe(KILLS);

    // Both devices converge and verify.
    for (const d of [dev.a, dev.b, dev.a]) expect((await cli(["sync", d])).code).toBe(0);
    for (const d of [dev.a, dev.b]) {
      expectSameFiles((await readFolder(d)).files, model, `${d} at the end`);
      const v = await cli(["verify", d, "--json"]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    }
    console.log(`crash test: seed ${seed}, ${kills} kills (${JSON.stringify(killedAt)}), ${temps} leftover temp file(s) seen`);
  }, LONG ? 1_800_000 : 600_000);

  // A clone writes its files through a staging folder (cli/checkout-stage.ts) and moves each part
  // folder in with one rename: a kill while it writes or between the renames must leave only whole
  // files in the part folders, and the next sync must finish the checkout without taking any file
  // for a user's edit (it pushes nothing).
  it(`kill -9 during a clone's checkout, ${CLONE_KILLS} times: only whole files in the folder, the next sync finishes it and pushes nothing`, async () => {
    const seed = Number(process.env.PENUMBRA_CRASH_SEED ?? Date.now() % 100_000);
    const rnd = rng(seed);
    const src = path.join(fixture.tmp, "clone-src");
    expect((await cli(["init", src, "--remote", fixture.server.url, "--vault", "crash-clone"])).code).toBe(0);
    const model: Files = new Map();
    const files = new Map<string, Buffer | null>();
    for (let i = 0; i < 600; i++) {
      const id = `c${String(i).padStart(3, "0")}`;
      files.set(`notes/${id}.json`, noteBytes(`Note ${id}`, `clone me ${i}\n${"words ".repeat(i % 40)}`));
      if (i % 2 === 0) files.set(`positions/${id}.json`, positionBytes(i, i));
      if (i % 3 === 0) files.set(`embeddings/${id}.bin`, embeddingBytes(i));
    }
    await writeFiles(src, files);
    apply(model, files);
    expect((await cli(["sync", src])).code).toBe(0);
    // Half the clones write on the writer threads a big clone uses (the test hook lowers their threshold).
    const runClone = async (dir: string, point: string, exact: boolean, delayMs: number, threads: boolean) => {
      expect((await cli(["init", dir, "--remote", fixture.server.url, "--vault", "crash-clone"])).code).toBe(0);
      return runAndKill("sync", dir, point, exact, delayMs, threads ? { PENUMBRA_CHECKOUT_THREADS_FROM: "0" } : {});
    };
    let kills = 0;
    for (let k = 0; kills < CLONE_KILLS && k < CLONE_KILLS * 3; k++) {
      const dir = path.join(fixture.tmp, `clone-${k}`);
      const exact = k % 2 === 0;
      const threads = Math.floor(k / 2) % 2 === 0;
      const run = await runClone(dir, exact ? "staged" : "synced", exact, Math.floor(rnd() * 40), threads);
      const ctx = `seed ${seed}, clone ${k}, ${exact ? "at staged" : "after synced"}${threads ? ", writer threads" : ""}`;
      if (run.killedAt) kills++;
      const after = await readFolder(dir);
      expect(after.temps, ctx).toBe(0);
      for (const [rel, bytes] of after.files) expect(model.get(rel)?.equals(bytes), `${ctx}: ${rel} is not whole`).toBe(true);
      const next = await runCli(["sync", dir, "--json"], { PENUMBRA_SYNC_TOKEN: fixture.server.token });
      expect(next.code, `${ctx}: ${next.stderr}`).toBe(0);
      expect(JSON.parse(next.stdout).pushed, ctx).toMatchObject({ added: 0, modified: 0, deleted: 0 });
      expectSameFiles((await readFolder(dir)).files, model, `${ctx}: after the next sync`);
    }
    expect(kills).toBe(CLONE_KILLS);
  }, 600_000);
});
