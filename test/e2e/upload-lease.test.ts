// Issue 18, item 3: a push cut by a Worker crash. The runtime (workerd) is killed with SIGKILL while
// a push has stored a pack and waits for the rest of its body: no rollback runs, and the pack stays
// indexed "uploading". After a restart it still counts in the vault's bytes; once its lease
// (UPLOAD_LEASE_SECONDS) has run out, GC releases it from the index and from R2.
import http from "node:http";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { PackBuilder } from "../../engine/core/pack.ts";
import { encodeJsonPart } from "../../engine/core/parts.ts";
import { encodeSection, jsonSection, Section, STREAM_MAGIC } from "../../engine/core/stream.ts";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { workerdPids } from "../helpers/workerd.ts";

const LEASE_SECONDS = 2;
const VARS = { UPLOAD_LEASE_SECONDS: String(LEASE_SECONDS) };

/** Blob files of the local R2 bucket (Miniflare keeps one file per stored object under r2/<bucket>/blobs/). */
async function r2Blobs(state: string): Promise<number> {
  return (await readdir(path.join(state, "r2"), { recursive: true })).filter((f) => f.split(path.sep).includes("blobs") && !f.endsWith("blobs")).length;
}

async function stats(server: TestServer, vault: string): Promise<{ packs: number; bytes: number; objects: number }> {
  const r = await server.fetch(`/v1/vaults/${vault}`);
  expect(r.status).toBe(200);
  return ((await r.json()) as any).stats;
}

/** Sends the stream's magic and one pack section, then holds the request open (no end section). */
function hangingPush(server: TestServer, vault: string, pack: Uint8Array): http.ClientRequest {
  const req = http.request(new URL(`/v1/vaults/${vault}/push`, server.url), {
    method: "POST",
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/vnd.penumbra.stream" },
  });
  req.on("error", () => {}); // the server dies under it
  req.write(STREAM_MAGIC);
  req.write(encodeSection(Section.Pack, pack));
  return req;
}

describe("an upload cut by a crash of the Worker (kill -9 of workerd)", () => {
  it("stays counted until its lease runs out, then GC releases it (index and R2); the vault works on", async () => {
    let server = await startTestServer({ vars: VARS, keepState: true });
    const state = server.state;
    try {
      const vault = "lease";
      const created = await server.fetch(`/v1/vaults/${vault}`, { method: "PUT", body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) });
      expect(created.status).toBe(201);
      const b = new PackBuilder();
      for (let i = 0; i < 50; i++) {
        const note = encodeJsonPart({ title: `note ${i}`, body: "text ".repeat(200) });
        b.add(ObjectType.Blob, addressOf(note), note, true);
      }
      const pack = await b.finish(fflateCompressor);

      const req = hangingPush(server, vault, pack.bytes);
      for (let i = 0; i < 200 && (await stats(server, vault)).packs === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await stats(server, vault)).toMatchObject({ packs: 1, bytes: pack.bytes.length });
      const pids = workerdPids();
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      req.destroy();
      await Promise.race([server.stop().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);

      // After the restart: the dead upload is still there, holding quota.
      server = await startTestServer({ state, vars: VARS });
      expect(await stats(server, vault)).toMatchObject({ packs: 1, bytes: pack.bytes.length });
      const stored = await r2Blobs(state); // 1 if the put finished before the kill, else 0
      expect(stored).toBeLessThanOrEqual(1);
      const gcNow = await server.fetch(`/v1/vaults/${vault}/gc`, { method: "POST" });
      expect(((await gcNow.json()) as any).deletedPacks).toBe(0); // within its lease: the request might still be running
      await new Promise((r) => setTimeout(r, (LEASE_SECONDS + 1) * 1000));
      const gc = await server.fetch(`/v1/vaults/${vault}/gc`, { method: "POST" });
      const answer = (await gc.json()) as any;
      expect(gc.status).toBe(200);
      expect(answer.deletedPacks).toBe(1);
      expect(await stats(server, vault)).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
      expect(await r2Blobs(state)).toBe(0);

      // The same pack pushes normally now.
      const body = new Uint8Array([...STREAM_MAGIC, ...encodeSection(Section.Pack, pack.bytes), ...jsonSection(Section.End, {})]);
      const again = await server.fetch(`/v1/vaults/${vault}/push`, { method: "POST", body, headers: { "content-type": "application/vnd.penumbra.stream" } });
      expect(again.status, await again.clone().text()).toBe(200);
      expect(await stats(server, vault)).toMatchObject({ packs: 1, bytes: pack.bytes.length });
      expect(await r2Blobs(state)).toBe(1); // the counter sees a stored pack
    } finally {
      await server.stop().catch(() => {});
      await rm(state, { recursive: true, force: true });
    }
  });
});
