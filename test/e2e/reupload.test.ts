// A commit refused with missing_objects (issue 7): the server's garbage collection removed objects a
// device's pending snapshot relies on (the device believed the server had them). The sync re-sends
// them from the local store, once, and completes; nothing is lost. And a refusal that a re-upload
// cannot cure ends the sync with a clear error after exactly one more request (no loop).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.ts";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { HttpRemote, MemoryStore, SyncError, Vault, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";

installNodeFastPaths();
let server: TestServer;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-reupload-"));
  // No grace period: a GC right after a sync may collect everything the head does not reach.
  server = await startTestServer({ vars: { GC_GRACE_SECONDS: "0" } });
});
afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { PENUMBRA_SYNC_TOKEN: server.token });
}

async function json(args: string[]): Promise<any> {
  const r = await cli([...args, "--json"]);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

const note = (title: string, body: string) => JSON.stringify({ title, body }, null, 2);
const readNote = async (dir: string, id: string) => JSON.parse(await readFile(path.join(dir, "notes", `${id}.json`), "utf8"));

describe("re-upload after missing_objects", () => {
  it("a restore reuses objects GC removed: sync re-sends them and completes; a second device gets the note", async () => {
    const a = path.join(tmp, "a");
    await json(["init", a, "--remote", server.url, "--vault", "reup"]);
    // n1 alone first, so that its first version sits in a pack nothing else keeps alive.
    await writeFile(path.join(a, "notes", "n1.json"), note("One", "the first version\nof n1"));
    await writeFile(path.join(a, "positions", "n1.json"), JSON.stringify({ x: 1, y: 1, z: 1 }));
    const s1 = (await json(["sync", a])).snapshot as string;
    for (let i = 2; i <= 6; i++) await writeFile(path.join(a, "notes", `n${i}.json`), note(`Note ${i}`, `body ${i}`));
    await writeFile(path.join(a, "notes", "n1.json"), note("One", "the second version"));
    await rm(path.join(a, "positions", "n1.json"));
    await json(["sync", a]);

    // Keep only the head: n1's first version, its position and S1 are collected.
    const gc = await json(["gc", a, "--keep-head"]);
    expect(gc.deletedPacks + gc.repackedPacks).toBeGreaterThan(0);
    expect(gc.after.bytes).toBeLessThan(gc.before.bytes);

    // The device still holds S1 and brings n1 back from it: the files match objects it already
    // has, so its new snapshot's packs do not carry them, while the server no longer has them.
    const restored = await json(["restore", a, "--snapshot", s1, "--note", "n1"]);
    expect(restored.written).toBe(2);
    const synced = await json(["sync", a]);
    expect(synced.reuploaded).toBeGreaterThanOrEqual(2); // the note blob and the position blob (plus any tree node)
    expect(synced.uploaded.requests).toBe(2); // the refused commit, then the commit with the re-sent objects
    console.log(`re-upload: ${synced.reuploaded} object(s) re-sent; the sync sent ${synced.uploaded.bytes} B in ${synced.uploaded.requests} upload request(s)`);

    const b = path.join(tmp, "b");
    await json(["init", b, "--remote", server.url, "--vault", "reup"]);
    await json(["sync", b]);
    expect(await readNote(b, "n1")).toEqual({ title: "One", body: "the first version\nof n1" });
    expect(JSON.parse(await readFile(path.join(b, "positions", "n1.json"), "utf8"))).toEqual({ x: 1, y: 1, z: 1 });
    for (let i = 2; i <= 6; i++) expect((await readNote(b, `n${i}`)).body).toBe(`body ${i}`);
    expect((await json(["verify", b])).ok).toBe(true);
    expect((await json(["verify", a])).ok).toBe(true);
  }, 180_000);

  it("a refusal the re-upload cannot cure: one more request, then a clear error; the local snapshot waits, unharmed", async () => {
    let pushes = 0;
    // Fault injection in the transport: every commit is answered missing_objects without reaching the server.
    const faulty: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/push")) {
        pushes++;
        return new Response(JSON.stringify({ error: "missing_objects", message: "injected", missing: [] }), { status: 400, headers: { "content-type": "application/json" } });
      }
      return fetch(input, init);
    };
    const remote = new HttpRemote({ url: server.url, vault: "reup-loop", token: server.token, fetch: faulty });
    await remote.create({ format: 1, addressing: "sha256", encryption: null });
    const v = await Vault.open({ store: new MemoryStore(), compressor: nodeCompressor });
    await v.putNote("n1", { title: "kept" });
    const err = await sync(v, remote).catch((e) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err.code).toBe("remote_incomplete");
    expect(pushes).toBe(2);
    expect(v.refs.head).not.toBeNull();
    expect(v.refs.base).toBeNull();
    // Without the fault, the same device pushes its waiting snapshot.
    const ok = new HttpRemote({ url: server.url, vault: "reup-loop", token: server.token });
    await sync(v, ok);
    expect(v.refs.base).toBe(v.refs.head);
    expect((await ok.info())?.head?.snapshot).toBe(v.refs.head);
  }, 60_000);
});
