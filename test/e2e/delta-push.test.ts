// Tree nodes as deltas on the push wire (engine/sync/delta-push.ts), between engine clients and the
// real Worker over HTTP: merges, the option to turn them off, and the fallback when a server refuses them.
import { describe, it, expect } from "vitest";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { Codec, decodePackHeader } from "../../engine/core/pack.ts";
import { serverForFile } from "../helpers/server-fixture.ts";

installNodeFastPaths();
const fixture = serverForFile();

/** Delta frames in each push body that passed through (the stream's pack sections, read as the Worker reads them). */
function deltaFramesOf(body: Uint8Array): number {
  let n = 0;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let at = 4; at < body.length; ) {
    const kind = body[at];
    const len = view.getUint32(at + 1, true);
    if (kind === 0x50) n += decodePackHeader(body.subarray(at + 5, at + 5 + len), { deltaFrames: true }).frames.filter((f) => f.codec === Codec.Delta).length;
    at += 5 + len;
  }
  return n;
}

/** fetch that records what each push carried; `refuse` answers delta pushes as a Worker older than delta frames did. */
function watchingFetch(refuse = false) {
  const pushes: { deltaFrames: number; status: number }[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = String(input);
    if (!url.endsWith("/push") || !(init?.body instanceof Uint8Array)) return fetch(input, init);
    const deltaFrames = deltaFramesOf(init.body);
    if (refuse && deltaFrames) {
      pushes.push({ deltaFrames, status: 400 });
      return new Response(JSON.stringify({ error: "bad_pack", message: "malformed pack: unknown frame codec 3" }), { status: 400, headers: { "content-type": "application/json" } });
    }
    const res = await fetch(input, init);
    pushes.push({ deltaFrames, status: res.status });
    return res;
  };
  return { fetch: f, pushes };
}

async function device(vault: string, name: string, f: typeof fetch = fetch) {
  const remote = new HttpRemote({ url: fixture.server.url, vault, token: fixture.server.token, fetch: f });
  if (!(await remote.info())) await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

async function fill(v: Vault, n: number) {
  for (let i = 0; i < n; i++) {
    const id = `note-${String(i).padStart(4, "0")}`;
    await v.putNote(id, { title: id, body: `body of ${id}` });
    await v.putPosition(id, { x: i, y: -i, z: 0 });
  }
}

describe("tree nodes as deltas on the push wire", () => {
  it("edits on two devices travel as deltas, merge included, and both end on the same tree", async () => {
    const wa = watchingFetch();
    const wb = watchingFetch();
    const a = await device("delta-merge", "dev-a", wa.fetch);
    const b = await device("delta-merge", "dev-b", wb.fetch);
    await fill(a.v, 800);
    await sync(a.v, a.remote);
    expect(wa.pushes.every((p) => p.deltaFrames === 0)).toBe(true); // nothing to delta against yet
    await sync(b.v, b.remote);

    for (let i = 0; i < 800; i += 37) await a.v.putNote(`note-${String(i).padStart(4, "0")}`, { title: "edited on a", body: String(i) });
    for (let i = 5; i < 800; i += 41) await b.v.putNote(`note-${String(i).padStart(4, "0")}`, { title: "edited on b", body: String(i) });
    await sync(a.v, a.remote);
    expect(wa.pushes.at(-1)).toMatchObject({ status: 200 });
    expect(wa.pushes.at(-1)!.deltaFrames).toBeGreaterThan(0);

    // b's push loses the race, merges with a's head, and pushes the merge against a's tree.
    const rb = await sync(b.v, b.remote);
    expect(rb.merged).toBe(true);
    expect(wb.pushes.at(-1)).toMatchObject({ status: 200 });
    expect(wb.pushes.at(-1)!.deltaFrames).toBeGreaterThan(0);
    await sync(a.v, a.remote);
    expect(a.v.refs.head).toBe(b.v.refs.head);
    expect(await a.v.getNote("note-0005")).toEqual({ title: "edited on b", body: "5" });
    expect(await b.v.getNote("note-0037")).toEqual({ title: "edited on a", body: "37" });
  });

  it("sends whole nodes with deltas turned off, and falls back to them when the server refuses deltas", async () => {
    const off = watchingFetch();
    const a = await device("delta-off", "dev-a", off.fetch);
    await fill(a.v, 300);
    await sync(a.v, a.remote);
    await a.v.putNote("note-0007", { title: "edited" });
    await sync(a.v, a.remote, { deltas: false });
    expect(off.pushes.map((p) => p.deltaFrames)).toEqual([0, 0]);

    const old = watchingFetch(true);
    const c = await device("delta-old-server", "dev-c", old.fetch);
    await fill(c.v, 300);
    await sync(c.v, c.remote);
    await c.v.putNote("note-0009", { title: "edited" });
    await c.v.putNote("note-0290", { title: "edited too" });
    const r = await sync(c.v, c.remote);
    // Refused once with deltas, then the same request whole: the head moved.
    expect(old.pushes.slice(1).map((p) => [p.deltaFrames > 0, p.status])).toEqual([
      [true, 400],
      [false, 200],
    ]);
    const other = await device("delta-old-server", "dev-d");
    await sync(other.v, other.remote);
    expect(other.v.refs.head).toBe(r.snapshot);
    expect(await other.v.getNote("note-0290")).toEqual({ title: "edited too" });
  });
});
