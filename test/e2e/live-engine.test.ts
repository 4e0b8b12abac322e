// startLive (engine/sync/live.ts) between engine clients in Node, through the real Worker over the
// local server: an edit on one device reaches another that only listens, local changes are
// debounced into one sync, a server restart is survived (reconnect, catch-up), stop() lets the
// sync in flight finish, and a revoked token ends the session.
import { describe, it, expect, afterEach } from "vitest";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { Vault, MemoryStore, HttpRemote, RemoteError } from "../../engine/index.ts";
import { startLive, LiveStoppedError, type LiveOptions, type LiveSession, type LiveSyncEvent } from "../../engine/sync/live.ts";
import { nodeLiveSocket } from "../../engine/node/live-socket.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { createServer } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

installNodeFastPaths();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Waits until `cond` holds (the test's timeout is the failure). */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 2000) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function server(opts: { state?: string; port?: number; token?: string } = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  cleanup.push(() => s.stop());
  return s;
}

async function device(s: TestServer, vault: string, name: string, opts: LiveOptions = {}, token = s.token) {
  const remote = new HttpRemote({ url: s.url, vault, token });
  if (!(await remote.info())) await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  const events: LiveSyncEvent[] = [];
  const errors: unknown[] = [];
  const session: LiveSession = startLive(v, remote, { socket: nodeLiveSocket, backoff: { minMs: 50, maxMs: 400 }, onSync: (e) => events.push(e), onError: (e) => errors.push(e), ...opts });
  cleanup.push(() => session.stop());
  return { v, remote, session, events, errors };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });

describe("startLive", () => {
  it("brings an edit to a device that only listens, and coalesces a burst of local changes into one sync", async () => {
    const s = await server();
    const changes: number[] = [];
    // A long debounce, so that the 20 changes surely fall within one window even on a busy machine.
    const a = await device(s, "live-e1", "dev-a", { debounceMs: 1500 });
    const b = await device(s, "live-e1", "dev-b", { onChange: (r) => changes.push(r.changes.added + r.changes.modified) });
    await until(() => a.session.counts.syncs >= 1 && b.session.counts.syncs >= 1, "the start syncs");
    const before = a.session.counts.syncs;
    for (let i = 0; i < 20; i++) {
      await a.v.putNote(`n${i}`, { title: `note ${i}`, body: "x" });
      a.session.changed();
    }
    await until(async () => (await b.v.getNote("n19"))?.title === "note 19", "the burst on B");
    // B can hold the notes before either sync has returned (and counted): wait for both to end.
    await until(() => a.session.counts.syncs > before && changes.length > 0, "both syncs reported");
    expect(b.v.ids()).toHaveLength(20);
    expect(b.v.refs.head).toBe(a.v.refs.head);
    // One sync carried the whole burst (the 20 changed() calls came within the debounce).
    expect(a.session.counts.syncs - before).toBe(1);
    expect(a.events.at(-1)!.report.pushed.added).toBe(20);
    expect(changes).toEqual([20]);
    // A's own head came back announced: it did not sync again for it.
    // syncNow runs a sync of its own and hands back its report.
    const bSyncs = b.session.counts.syncs;
    const served = await b.session.syncNow();
    expect(served?.snapshot).toBe(b.v.refs.head);
    expect(b.session.counts.syncs).toBe(bSyncs + 1);
    expect(a.session.counts.syncs - before).toBe(1);
    expect(a.errors).toEqual([]);
    // And the other way.
    await b.v.putNote("n0", { title: "edited on B", body: "y" });
    b.session.changed();
    await until(async () => (await a.v.getNote("n0"))?.title === "edited on B", "B's edit on A");
  });

  it("reconnects after the server restarts and catches up on what it missed", async () => {
    const state = await mkdtemp(path.join(tmpdir(), "penumbra-live-"));
    cleanup.push(() => rm(state, { recursive: true, force: true }));
    const port = await freePort();
    const token = "live-restart-token";
    let s = await server({ state, port, token });
    const statuses: string[] = [];
    const a = await device(s, "live-e2", "dev-a");
    const b = await device(s, "live-e2", "dev-b", { onStatus: (st) => statuses.push(st) });
    await until(() => b.session.counts.syncs >= 1 && statuses.includes("live"), "B live");
    await s.stop();
    await until(() => statuses.at(-1) === "offline", "B sees the server gone");
    // A edits while the server is down: its sync fails and is retried.
    await a.v.putNote("while-down", { title: "written offline" });
    a.session.changed();
    await until(() => a.errors.length > 0, "A's failed sync");
    expect(a.errors[0]).toBeInstanceOf(RemoteError);
    s = await server({ state, port, token });
    await until(async () => (await b.v.getNote("while-down"))?.title === "written offline", "the offline edit on B");
    expect(b.session.counts.connections).toBeGreaterThanOrEqual(2);
    expect(b.events.some((e) => e.reasons.includes("reconnect"))).toBe(true);
    expect(b.v.refs.head).toBe(a.v.refs.head);
  });

  it("stop() lets the sync in flight finish; a revoked token ends the session with 401", async () => {
    const s = await server();
    const gate: { open?: () => void } = {};
    const a = await device(s, "live-e3", "dev-a");
    await until(() => a.session.counts.syncs >= 1, "A's start sync");
    await a.v.putNote("n", { title: "t" });
    // A sync step that holds until the test lets it go, then syncs for real.
    const held = await device(s, "live-e3", "dev-held", {
      run: async () => {
        await new Promise<void>((r) => (gate.open = r));
        const { sync } = await import("../../engine/sync/sync.ts");
        return sync(held.v, held.remote);
      },
    });
    await until(() => !!gate.open, "the held sync started");
    // Asked for while a sync is in flight: only a sync that starts later may serve it, and none will.
    const asked = held.session.syncNow().then(() => null, (e) => e);
    const stopped = held.session.stop();
    gate.open!();
    await stopped;
    expect(await asked).toBeInstanceOf(LiveStoppedError);
    await expect(held.session.syncNow()).rejects.toBeInstanceOf(LiveStoppedError);
    expect(held.session.counts.syncs).toBe(1);
    expect(held.v.refs.head).toBe(a.v.refs.head);

    const made = (await (await s.fetch("/v1/vaults/live-e3/tokens", { method: "POST", body: JSON.stringify({ scope: "write" }), headers: { "content-type": "application/json" } })).json()) as { id: string; token: string };
    const c = await device(s, "live-e3", "dev-c", {}, made.token);
    await until(() => c.session.counts.syncs >= 1, "C's start sync");
    expect((await s.fetch(`/v1/vaults/live-e3/tokens/${made.id}`, { method: "DELETE" })).status).toBe(200);
    await c.v.putNote("c", { title: "from C" });
    c.session.changed();
    const err = await c.session.done.then(() => null, (e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).status).toBe(401);
  });
});
