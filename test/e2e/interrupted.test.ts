// Issue #3, property 4: a sync cut short at any step leaves the remote and the local store
// consistent, and the next sync completes and loses nothing. Faults are injected in the transport
// (a wrapper around the real fetch) against the real Worker.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";

installNodeFastPaths();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

type Fault = "drop-request" | "drop-response" | "truncate-request" | "truncate-response" | "duplicate-request";

/** Injects `fault` into the n-th request whose path ends with `route` (then behaves). */
function faultyFetch(fault: Fault, route: "/push" | "/pull", nth = 1): typeof fetch {
  let seen = 0;
  return async (input, init) => {
    const url = String(input);
    if (!url.endsWith(route) || ++seen !== nth) return fetch(input, init);
    const body = init?.body as Uint8Array | undefined;
    switch (fault) {
      case "drop-request":
        throw new TypeError("fetch failed (injected: request never sent)");
      case "drop-response": {
        const res = await fetch(input, init);
        await res.arrayBuffer();
        throw new TypeError("fetch failed (injected: response lost after the server acted)");
      }
      case "truncate-request":
        return fetch(input, { ...init, body: body?.slice(0, Math.floor(body.length / 2)) as BodyInit | undefined });
      case "truncate-response": {
        const res = await fetch(input, init);
        const bytes = new Uint8Array(await res.arrayBuffer());
        return new Response(bytes.subarray(0, Math.floor(bytes.length * 0.6)), { status: res.status, headers: res.headers });
      }
      case "duplicate-request": {
        await (await fetch(input, init)).arrayBuffer();
        return fetch(input, init);
      }
    }
  };
}

async function device(vault: string, name: string, f?: typeof fetch) {
  const remote = new HttpRemote({ url: server.url, vault, token: server.token, fetch: f });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote };
}

let n = 0;
const faults: Fault[] = ["drop-request", "drop-response", "truncate-request", "truncate-response", "duplicate-request"];

describe("interrupted syncs", () => {
  for (const fault of faults) {
    for (const route of ["/push", "/pull"] as const) {
      it(`${fault} on ${route}: the next sync completes and nothing is lost`, async () => {
        const vault = `cut-${n++}`;
        const setup = await device(vault, "setup");
        await setup.remote.create({ format: 1, addressing: "sha256", encryption: null });
        for (let i = 0; i < 40; i++) await setup.v.putNote(`base${i}`, { title: `base ${i}`, body: `base body ${i}\n`.repeat(50) });
        await sync(setup.v, setup.remote);

        // Device A clones cleanly; then the remote moves, A edits, and A syncs through the faulty
        // transport: its push loses the race (409), so the sync also pulls and merges.
        const a = await device(vault, "dev-a", faultyFetch(fault, route));
        await sync(a.v, new HttpRemote({ url: server.url, vault, token: server.token }));
        await setup.v.putNote("base5", { title: "base 5", body: "edited by setup" });
        await sync(setup.v, setup.remote);
        for (let i = 0; i < 10; i++) await a.v.putNote(`a${i}`, { title: `a ${i}`, body: `from a ${i}` });
        await a.v.delete("base0");
        const head0 = (await setup.remote.info())?.head?.snapshot;
        const first = await sync(a.v, a.remote).then(
          () => "ok",
          (e: Error) => e.name,
        );
        // Whatever happened, the remote head is a complete snapshot: a fresh device can clone it.
        const probe = await device(vault, "probe");
        await sync(probe.v, probe.remote);
        expect(probe.v.headRoot).toBe(await probe.v.rootOf((await setup.remote.info())?.head?.snapshot ?? null));
        const info = await setup.remote.info();
        expect([head0, a.v.refs.head]).toContain(info?.head?.snapshot);

        // Faults stop: A's next sync completes, and every device converges with nothing lost.
        const healed = await device(vault, "dev-a2");
        const report = await sync(a.v, new HttpRemote({ url: server.url, vault, token: server.token }));
        expect(report.snapshot).toMatch(/^[0-9a-f]{64}$/);
        await sync(healed.v, healed.remote);
        await sync(setup.v, setup.remote);
        for (const v of [a.v, healed.v, setup.v]) {
          expect(v.headRoot).toBe(a.v.headRoot);
          expect(v.ids()).toEqual([...Array.from({ length: 10 }, (_, i) => `a${i}`), ...Array.from({ length: 39 }, (_, i) => `base${i + 1}`)].sort());
          expect((await v.getNote("a3"))?.body).toBe("from a 3");
          expect((await v.getNote("base5"))?.body).toBe("edited by setup");
        }
        expect(["ok", "RemoteError", "SyncError", "FormatError"]).toContain(first);
      }, 60_000);
    }
  }

  it("a multi-request push cut after some uploads: the head never moves early, the retry completes", async () => {
    const vault = `cut-${n++}`;
    // The link goes down for good after two uploads (the client's own retries cannot get through).
    let pushes = 0;
    let down = true;
    const flaky: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/push") && ++pushes > 2 && down) throw new TypeError("fetch failed (injected: link down)");
      return fetch(input, init);
    };
    const remote = new HttpRemote({ url: server.url, vault, token: server.token, fetch: flaky });
    await remote.create({ format: 1, addressing: "sha256", encryption: null });
    const a = await Vault.open({ store: new MemoryStore(), device: "dev-a", compressor: nodeCompressor, packTarget: 48 * 1024 });
    for (let i = 0; i < 60; i++) await a.putNote(`big${i}`, { title: `big ${i}`, body: Array.from({ length: 400 }, (_, j) => `line ${j} of note ${i} ${(i * 7919 + j * 104729) % 1000003}`).join("\n") });
    const opts = { requestTarget: 64 * 1024 };
    await expect(sync(a, remote, opts)).rejects.toThrow(/injected/);
    expect(a.refs.unpushed.length).toBeGreaterThan(3);
    expect((await remote.info())?.head).toBeNull();
    down = false;
    const report = await sync(a, remote, opts);
    expect(report.uploaded.requests).toBeGreaterThan(1);
    expect((await remote.info())?.head?.snapshot).toBe(a.refs.head);
    const b = await Vault.open({ store: new MemoryStore(), device: "dev-b", compressor: nodeCompressor });
    await sync(b, new HttpRemote({ url: server.url, vault, token: server.token }));
    expect(b.headRoot).toBe(a.headRoot);
    expect((await b.getNote("big42"))?.title).toBe("big 42");
  }, 60_000);
});
