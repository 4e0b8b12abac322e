// End to end: `penumbra-sync serve --open-vault` as a user runs it, the Penumbra app's client
// replayed over HTTP exactly as it talks (no token, no vault: test/helpers/penumbra-app-client.ts),
// and engine clients (Vault + HttpRemote + sync) on the same vault: what the app pushes, the engine
// pulls, and the reverse.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpRemote, MemoryStore, sync, Vault } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { runCli, spawnServe } from "../helpers/cli.ts";
import { AppClient, appEmbedding, appNote, bitsOf, isRfc3339, uuidOf, type AppNote, type AppPosition } from "../helpers/penumbra-app-client.ts";

installNodeFastPaths();
const VAULT = "penumbra";
const TOKEN = "e2e-open-vault-operator-token";
let tmp: string;
let server: Awaited<ReturnType<typeof spawnServe>>;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "penumbra-app-e2e-"));
  server = await spawnServe(path.join(tmp, "server"), TOKEN, ["--open-vault", VAULT]);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const app = () => new AppClient((p, init) => fetch(new URL(p, server.url), init));

async function engineDevice(name: string) {
  const remote = new HttpRemote({ url: server.url, vault: VAULT, token: TOKEN });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

describe("serve --open-vault and the app's client", () => {
  it("says loudly at start what it opens; bad settings are usage errors", async () => {
    // stderr is another pipe: its banner may arrive after stdout's `listening on`.
    await expect.poll(() => server.stderr()).toContain(`OPEN VAULT: requests to ${server.url}/sync/* WITHOUT a token read AND WRITE vault "${VAULT}"`);
    expect(server.stdout).toContain(`open vault ${VAULT} (write, no token needed on /sync/*)`);
    for (const args of [
      ["--open-vault", "bad/name"],
      ["--open-vault", VAULT, "--open-vault-access", "admin"],
      ["--open-vault-access", "read"],
    ]) {
      const r = await runCli(["serve", "--port", "0", "--state", path.join(tmp, "never"), "--token", TOKEN, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/open-vault/);
    }
  });

  it("replays connect, push, pull, pull since, status over HTTP: every field the client reads", async () => {
    const a = app();
    await a.connect();
    const ids = [uuidOf(1, 50), uuidOf(2, 50)];
    const notes = ids.map((id, i) => appNote(id, `T${i}`, `body ${i}`));
    const emb = new Map(ids.map((id, i) => [id, appEmbedding(i + 50)]));
    const pos = new Map<string, AppPosition>(ids.map((id, i) => [id, { x: 100 + i, y: 200.25 }]));
    const p1 = await a.push(notes, emb, pos);
    expect(p1.accepted).toBe(2);
    const full = await a.pull();
    for (const n of notes) expect(full.notes.get(n.id)).toEqual(n);
    for (const [id, f] of emb) expect(bitsOf(full.embeddings.get(id)!)).toEqual(bitsOf(f));
    expect(Object.fromEntries(full.positions)).toEqual(Object.fromEntries(pos));
    expect(full.snapshot).toMatchObject({ snapshot_id: p1.snapshotId, note_count: 2 });
    const label = "0b6a2f4e-7c1d-4e8a-9b3f-5d2c1e0a9f88";
    const edited = { ...notes[1], body: "edited", meta: { ...notes[1].meta, updated_at: "2026-06-13T10:00:00Z" } };
    const p2 = await a.push([edited], new Map(), new Map(), label);
    expect(p2).toMatchObject({ snapshotId: label, accepted: 1 });
    const since = await a.pull(p1.snapshotId);
    expect([...since.notes.values()]).toEqual([edited]);
    expect(since.embeddings.size + since.positions.size).toBe(0);
    expect(since.snapshot).toMatchObject({ snapshot_id: label, note_count: 2 });
    const s = await a.status();
    expect(s.noteCount).toBe(2);
    expect(s.snapshotId).toBe(label);
    expect(isRfc3339(s.lastModified)).toBe(true);
    expect(s.storageBytes).toBeGreaterThan(0);
    expect(s.storageLimit).toBe(536870912);
    expect(a.requests).toEqual(["GET /sync/status", "POST /sync/push", "POST /sync/pull", "POST /sync/push", `POST /sync/pull?since=${p1.snapshotId}`, "GET /sync/status"]);
    // Engine routes are not open: a token-less engine request is 401.
    expect((await fetch(new URL(`/v1/vaults/${VAULT}`, server.url))).status).toBe(401);
  });

  it("mixed writers: what the app pushes an engine client pulls, and the reverse, on the open vault", async () => {
    const a = app();
    const base = await a.status();
    const ids = Array.from({ length: 5 }, (_, i) => uuidOf(i, 77));
    const notes: AppNote[] = ids.map((id, i) => appNote(id, `Mixed ${i}`, `line one\nline two ${i}`));
    const emb = new Map(ids.map((id, i) => [id, appEmbedding(i + 77)]));
    const pos = new Map<string, AppPosition>(ids.map((id, i) => [id, { x: i * 1.5, y: 3 }]));
    const pushed = await a.push(notes, emb, pos, "mixed-1");

    // The engine pulls the app's writes: notes value-equal, embeddings bit-exact, positions equal.
    const e = await engineDevice("engine-a");
    await sync(e.v, e.remote);
    for (const n of notes) expect(await e.v.getNote(n.id)).toEqual(n);
    for (const [id, f] of emb) expect(bitsOf((await e.v.getEmbedding(id))!)).toEqual(bitsOf(f));
    for (const [id, p] of pos) expect(await e.v.getPosition(id)).toEqual(p);

    // The engine edits (nested meta.updated_at, as the app does), moves a card, re-embeds one, adds one, syncs.
    const edited = { ...notes[0], title: "edited by engine", meta: { ...notes[0].meta, updated_at: "2026-06-14T00:00:00Z" } };
    await e.v.putNote(ids[0], edited as any);
    await e.v.putPosition(ids[1], { x: -4, y: 8.5 });
    const reEmb = appEmbedding(4242);
    await e.v.putEmbedding(ids[2], reEmb);
    const fresh = appNote(uuidOf(9, 77), "from engine", "engine body");
    await e.v.putNote(fresh.id, fresh as any);
    await e.v.putEmbedding(fresh.id, appEmbedding(9));
    await e.v.putPosition(fresh.id, { x: 1, y: 1 });
    await sync(e.v, e.remote);

    // The app pulls since its push: exactly the engine's changes, in the shapes it parses.
    const d = await a.pull(pushed.snapshotId);
    expect(d.raw.sinceUnknown).toBeUndefined();
    expect([...d.notes.keys()].sort()).toEqual([ids[0], fresh.id].sort());
    expect(d.notes.get(ids[0])).toEqual(edited);
    expect(d.notes.get(fresh.id)).toEqual(fresh);
    expect([...d.embeddings.keys()].sort()).toEqual([ids[2], fresh.id].sort());
    expect(bitsOf(d.embeddings.get(ids[2])!)).toEqual(bitsOf(reEmb));
    expect(Object.fromEntries(d.positions)).toEqual({ [ids[1]]: { x: -4, y: 8.5 }, [fresh.id]: { x: 1, y: 1 } });
    expect(d.snapshot!.snapshot_id).toBe(e.v.refs.head);
    expect(d.snapshot!.note_count).toBe(base.noteCount + 6);

    // The app writes on top; a second engine device and the first see it.
    const byApp = { ...fresh, body: "answered by the app" };
    await a.push([byApp], new Map(), new Map(), "mixed-2");
    const e2 = await engineDevice("engine-b");
    await sync(e2.v, e2.remote);
    await sync(e.v, e.remote);
    for (const dev of [e, e2]) {
      expect(await dev.v.getNote(fresh.id)).toEqual(byApp);
      expect(await dev.v.getNote(ids[0])).toEqual(edited);
      expect(bitsOf((await dev.v.getEmbedding(ids[2]))!)).toEqual(bitsOf(reEmb));
    }
    expect((await a.status()).snapshotId).toBe("mixed-2");
  });
});
