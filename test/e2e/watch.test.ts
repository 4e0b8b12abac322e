// `penumbra-sync watch` end to end: two watching device folders on the local server. Each case
// ends with identical folders; the assertions are on outcomes and counts (syncs, files pushed),
// never on times.
import { describe, it, expect, afterEach } from "vitest";
import { mkdtemp, readdir, readFile, rm, writeFile, unlink, rename, stat } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:net";
import { startTestServer, type TestServer } from "../helpers/local-server.ts";
import { startCountingProxy } from "../helpers/counting-proxy.ts";
import { runCli } from "../helpers/cli.ts";
import { spawnWatch, type WatchProcess } from "../helpers/watch.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function until(cond: () => boolean | Promise<boolean>, what: string | (() => string)): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 1600) throw new Error(`never happened: ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function scratch(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "penumbra-watch-"));
  cleanup.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function server(opts: { state?: string; port?: number; token?: string } = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  cleanup.push(() => s.stop());
  return s;
}

async function initFolder(dir: string, url: string, vault: string, token: string): Promise<void> {
  const r = await runCli(["init", dir, "--remote", url, "--vault", vault], { PENUMBRA_SYNC_TOKEN: token });
  expect(r.code, r.stderr).toBe(0);
}

function watch(dir: string, token: string, args: string[] = [], env: Record<string, string> = {}): WatchProcess {
  const w = spawnWatch(dir, args, { PENUMBRA_SYNC_TOKEN: token, ...env });
  cleanup.push(() => w.stop("SIGKILL"));
  return w;
}

/** JSON with object keys sorted: devices write the same note with keys in another order. */
const sortedKeys = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(sortedKeys) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])])) : v;

/** The folder's notes as content: JSON parsed (devices format it differently), embeddings as hex. */
async function contents(dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const sub of ["notes", "embeddings", "positions"]) {
    for (const name of (await readdir(path.join(dir, sub)).catch(() => [] as string[])).sort()) {
      if (name.startsWith(".")) continue;
      const bytes = await readFile(path.join(dir, sub, name));
      out[`${sub}/${name}`] = name.endsWith(".json") ? sortedKeys(JSON.parse(bytes.toString("utf8"))) : bytes.toString("hex");
    }
  }
  return out;
}

async function converged(a: string, b: string, check: (c: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  let other: Record<string, unknown> = {};
  await until(async () => {
    const [ca, cb] = await Promise.all([contents(a), contents(b)]);
    last = ca;
    other = cb;
    return JSON.stringify(ca) === JSON.stringify(cb) && check(ca);
  }, () => `identical folders: ${JSON.stringify(last).slice(0, 400)} vs ${JSON.stringify(other).slice(0, 400)}`);
  return last;
}

const note = (dir: string, id: string, value: unknown) => writeFile(path.join(dir, "notes", `${id}.json`), JSON.stringify(value));
const syncs = (w: WatchProcess) => w.events.filter((e) => e.event === "sync");
const pushedAdded = (w: WatchProcess) => syncs(w).reduce((n, e) => n + e.pushed.added, 0);

async function pair(vault: string, s: { url: string; token: string }, args: string[] = [], envA: Record<string, string> = {}) {
  const tmp = await scratch();
  const a = path.join(tmp, "a");
  const b = path.join(tmp, "b");
  await initFolder(a, s.url, vault, s.token);
  await initFolder(b, s.url, vault, s.token);
  const wa = watch(a, s.token, args, envA);
  const wb = watch(b, s.token, args);
  await Promise.all([wa, wb].map((w) => w.waitFor((e) => e.event === "sync" && e.reasons.includes("start"), "the start sync")));
  await Promise.all([wa, wb].map((w) => w.waitFor((e) => e.event === "live", "live")));
  return { a, b, wa, wb };
}

describe("watch", () => {
  it("carries an edit, a delete and a rename both ways; a second watch on a folder refuses; SIGINT exits 0 and frees the lock", async () => {
    const s = await server();
    const { a, b, wa, wb } = await pair("w-basic", s);
    await note(a, "n1", { title: "one", body: "hello" });
    await converged(a, b, (c) => !!c["notes/n1.json"]);
    await note(b, "n1", { title: "one", body: "edited on B" });
    await converged(a, b, (c) => (c["notes/n1.json"] as any)?.body === "edited on B");
    await rename(path.join(a, "notes", "n1.json"), path.join(a, "notes", "n2.json"));
    const renamed = await converged(a, b, (c) => !!c["notes/n2.json"] && !c["notes/n1.json"]);
    expect(renamed).toEqual({ "notes/n2.json": { title: "one", body: "edited on B" } });
    await unlink(path.join(b, "notes", "n2.json"));
    expect(await converged(a, b, (c) => !c["notes/n2.json"])).toEqual({});

    const second = await runCli(["watch", a], { PENUMBRA_SYNC_TOKEN: s.token });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`another watch \\(pid ${wa.child.pid}\\) is already running`));
    // A one-shot sync beside it is served by it (the describe below shows what that means).
    const oneShot = await runCli(["sync", a, "--json"], { PENUMBRA_SYNC_TOKEN: s.token });
    expect(oneShot.code, oneShot.stderr).toBe(0);
    expect(JSON.parse(oneShot.stdout)).toMatchObject({ servedBy: "watch", watchPid: wa.child.pid });

    expect(await wa.stop("SIGINT")).toBe(0);
    expect(await wb.stop("SIGTERM")).toBe(0);
    expect(wa.events.at(-1)!.event).toBe("stopped");
    await expect(readFile(path.join(a, ".penumbra-sync", "watch.lock"))).rejects.toThrow();
    expect((await runCli(["sync", a], { PENUMBRA_SYNC_TOKEN: s.token })).code).toBe(0);
    // Only the changed files were read after the start: one note per local sync, never a full scan.
    for (const e of syncs(wa).filter((e) => !e.full)) expect(e.hashed).toBeLessThanOrEqual(1);
  });

  it("sends a burst of 500 files written at once, and a file written while a sync is in flight", async () => {
    const s = await server();
    const proxy = await startCountingProxy(s.url);
    cleanup.push(() => proxy.close());
    const { a, b, wa, wb } = await pair("w-burst", { url: proxy.url, token: s.token }, [], { PENUMBRA_CRASH_AT: "trace" });
    for (let i = 0; i < 500; i++) writeFileSync(path.join(a, "notes", `b${i}.json`), JSON.stringify({ title: `burst ${i}` }));
    const got = await converged(a, b, (c) => Object.keys(c).length === 500);
    expect(Object.keys(got)).toHaveLength(500);
    await until(() => pushedAdded(wa) >= 500, "A's sync lines"); // printed once each sync is done
    expect(pushedAdded(wa)).toBe(500);
    // Far fewer syncs than files: the debounce gathered them.
    expect(syncs(wa).filter((e) => e.pushed.added > 0).length).toBeLessThan(50);

    // Hold the network, so the next sync stays in flight after its scan; write meanwhile.
    proxy.hold();
    const scannedBefore = wa.stderr.filter((l) => l === "crash-point scanned").length;
    await note(a, "first", { title: "first" });
    await until(() => wa.stderr.filter((l) => l === "crash-point scanned").length > scannedBefore, "A's sync scanned");
    await note(a, "during", { title: "written during the sync" });
    proxy.release();
    const after = await converged(a, b, (c) => !!c["notes/during.json"] && !!c["notes/first.json"]);
    expect(Object.keys(after)).toHaveLength(502);
    await until(() => pushedAdded(wa) >= 502, "A's sync lines");
    expect(pushedAdded(wa)).toBe(502);
    expect(await wa.stop()).toBe(0);
    expect(await wb.stop()).toBe(0);
  });

  it("reconnects after the server restarts and catches up on edits made while it was down", async () => {
    const state = await scratch();
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const token = "watch-restart-token";
    let s = await server({ state: path.join(state, "srv"), port, token });
    const { a, b, wa, wb } = await pair("w-restart", s);
    await note(a, "before", { title: "before" });
    await converged(a, b, (c) => !!c["notes/before.json"]);
    await s.stop();
    await Promise.all([wa, wb].map((w) => w.waitFor((e) => e.event === "offline", "offline")));
    await note(a, "while-down", { title: "written while the server was down" });
    await wa.waitFor((e) => e.event === "error", "A's sync failing");
    s = await server({ state: path.join(state, "srv"), port, token });
    await converged(a, b, (c) => !!c["notes/while-down.json"]);
    await until(() => wb.events.filter((e) => e.event === "live").length >= 2, "B live again");
    const catchUp = await wb.waitFor((e) => e.event === "sync" && e.reasons.includes("reconnect"), "B's catch-up sync after the reconnect");
    expect(catchUp.full).toBe(true);
    expect(await wa.stop()).toBe(0);
    expect(await wb.stop()).toBe(0);
  });

  it("the periodic rescan catches a change the watcher missed", async () => {
    const s = await server();
    // A's watcher drops every event of notes/missed*.json (a simulated lost inotify event).
    const { a, b, wa, wb } = await pair("w-missed", s, ["--rescan-s", "2"], { PENUMBRA_SYNC_TEST_DROP_EVENTS: "^notes/missed" });
    await note(a, "missed", { title: "the watcher never saw me" });
    await note(a, "seen", { title: "seen" });
    await converged(a, b, (c) => !!c["notes/missed.json"] && !!c["notes/seen.json"]);
    // The sync that carried it was a periodic full rescan (A prints its line once it is done).
    const carried = await wa.waitFor((e) => e.event === "sync" && e.pushed.added > 0 && e.reasons.includes("periodic"), "a periodic sync pushing the missed note");
    expect(carried.full).toBe(true);
    expect(pushedAdded(wa)).toBe(2);
    expect(await wa.stop()).toBe(0);
    expect(await wb.stop()).toBe(0);
  });

  it("keeps an encrypted vault in sync too", async () => {
    const s = await server();
    const tmp = await scratch();
    const [a, b] = [path.join(tmp, "a"), path.join(tmp, "b")];
    const env = { PENUMBRA_SYNC_TOKEN: s.token, PENUMBRA_SYNC_PASSPHRASE: "correct horse battery staple" };
    for (const d of [a, b]) expect((await runCli(["init", d, "--remote", s.url, "--vault", "w-enc", ...(d === a ? ["--encrypt"] : [])], env)).code).toBe(0);
    const [wa, wb] = [watch(a, s.token), watch(b, s.token)];
    await Promise.all([wa, wb].map((w) => w.waitFor((e) => e.event === "live", "live")));
    await note(a, "secret", { title: "sealed", body: "only devices read this" });
    await writeFile(path.join(b, "positions", "secret.json"), JSON.stringify({ x: 1, y: 2 }));
    const end = await converged(a, b, (c) => !!c["notes/secret.json"] && !!c["positions/secret.json"]);
    expect(end).toEqual({ "notes/secret.json": { body: "only devices read this", title: "sealed" }, "positions/secret.json": { x: 1, y: 2 } });
    expect(await wa.stop()).toBe(0);
    expect(await wb.stop()).toBe(0);
  });

  it("two watchers editing one note at once converge, with the conflict copy in both folders", async () => {
    const s = await server();
    const { a, b, wa, wb } = await pair("w-conflict", s);
    await note(a, "c", { title: "shared", body: "line 1\nline 2\nline 3" });
    await converged(a, b, (c) => !!c["notes/c.json"]);
    await Promise.all([note(a, "c", { title: "shared", body: "line 1\nA's line 2\nline 3" }), note(b, "c", { title: "shared", body: "line 1\nB's line 2\nline 3" })]);
    const end = await converged(a, b, (c) => Object.keys(c).some((k) => k.startsWith("notes/c.conflict-")));
    const copies = Object.keys(end).filter((k) => k.startsWith("notes/c.conflict-"));
    expect(copies).toHaveLength(1);
    const bodies = [(end["notes/c.json"] as any).body, (end[copies[0]] as any).body].sort();
    expect(bodies).toEqual(["line 1\nA's line 2\nline 3", "line 1\nB's line 2\nline 3"]);
    expect((end[copies[0]] as any).title).toBe("shared (conflict copy)");
    expect(await wa.stop()).toBe(0);
    expect(await wb.stop()).toBe(0);
    // Read once both have exited: every line is in.
    expect([...syncs(wa), ...syncs(wb)].filter((e) => e.conflicts.length === 1).length).toBeGreaterThanOrEqual(1);
  });
});

describe("a one-shot command beside a watch", () => {
  const stateOf = (dir: string, name: string) => path.join(dir, ".penumbra-sync", name);
  const exists = (p: string) => stat(p).then(() => true, () => false);

  /** One watching folder with note n1 pushed; a debounce longer than any test: the watch syncs an edit only when asked. */
  async function watched(vault: string) {
    const s = await server();
    const tmp = await scratch();
    const a = path.join(tmp, "a");
    await initFolder(a, s.url, vault, s.token);
    await note(a, "n1", { title: "one" });
    const wa = watch(a, s.token, ["--debounce-ms", "3600000"]);
    await wa.waitFor((e) => e.event === "sync" && e.reasons.includes("start") && e.pushed.added === 1, "the start sync");
    await wa.waitFor((e) => e.event === "live", "live");
    return { s, tmp, a, wa };
  }

  it("is served by the running watch: nothing read or scanned in the one-shot process, the edit made just before in its report; a clean exit removes the socket", async () => {
    const { s, tmp, a, wa } = await watched("w-ask");
    const lock = JSON.parse(await readFile(stateOf(a, "watch.lock"), "utf8"));
    expect(lock).toMatchObject({ pid: wa.child.pid, socket: stateOf(a, "watch.sock") });
    expect((await stat(lock.socket)).isSocket()).toBe(true);

    await note(a, "n2", { title: "two" });
    const r = await runCli(["sync", a, "--json"], { PENUMBRA_SYNC_TOKEN: s.token, PENUMBRA_CRASH_AT: "trace" });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ servedBy: "watch", watchPid: wa.child.pid, pushed: { added: 1, modified: 0, deleted: 0 }, hashed: 1 });
    // Traced, a scan prints checkout-read, scanned, committed...: the one-shot process printed no point at all.
    expect(r.stderr).not.toMatch(/crash-point/);
    // The watch's own line for it: asked for, only the changed file looked at, the same snapshot.
    const served = await wa.waitFor((e) => e.event === "sync" && e.reasons.includes("request"), "the watch's line for the asked sync");
    expect(served).toMatchObject({ full: false, hashed: 1, snapshot: out.snapshot });
    // And the server has it: a new device gets both notes.
    const b = path.join(tmp, "b");
    await initFolder(b, s.url, "w-ask", s.token);
    expect((await runCli(["sync", b], { PENUMBRA_SYNC_TOKEN: s.token })).code).toBe(0);
    expect((await readdir(path.join(b, "notes"))).sort()).toEqual(["n1.json", "n2.json"]);

    // push (and pull) are served too, in the usual human format; the watch syncs both ways.
    const h = await runCli(["push", a], { PENUMBRA_SYNC_TOKEN: s.token });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/^sync: snapshot [0-9a-f]{64}\n/);
    expect(h.stdout).toContain(`served by the running watch (pid ${wa.child.pid}, which syncs both ways: asked for push)`);

    expect(await wa.stop("SIGINT")).toBe(0);
    expect(await exists(stateOf(a, "watch.sock"))).toBe(false);
    expect(await exists(stateOf(a, "watch.lock"))).toBe(false);
    const after = await runCli(["sync", a, "--json"], { PENUMBRA_SYNC_TOKEN: s.token });
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).servedBy).toBe("scan");
    expect(after.stderr).toBe("");
  });

  it("fails as a sync here would when the watch's sync fails; a watch that does not answer (stopped) is refused, not scanned beside", async () => {
    const { s, a, wa } = await watched("w-fail");
    const env = { PENUMBRA_SYNC_TOKEN: s.token, PENUMBRA_CRASH_AT: "trace" };
    // Stuck: SIGSTOP keeps the socket accepting (the kernel's backlog) but nothing answers.
    process.kill(wa.child.pid!, "SIGSTOP");
    let stuck;
    try {
      stuck = await runCli(["sync", a], env);
    } finally {
      process.kill(wa.child.pid!, "SIGCONT");
    }
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toContain(`the watch (pid ${wa.child.pid}) that owns ${a} did not answer within 5 s`);
    expect(stuck.stderr).not.toMatch(/crash-point/);

    // The server gone: the watch's sync fails, and the one-shot says what a scan would have said.
    await s.stop();
    await wa.waitFor((e) => e.event === "offline", "offline");
    await note(a, "n2", { title: "two" });
    const down = await runCli(["sync", a], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^penumbra-sync sync: .*\(is the server running\? start one with: penumbra-sync serve\)\n$/);
    expect(down.stderr).not.toMatch(/crash-point/);
    expect(await wa.stop()).toBe(0);
  });

  it("a watch killed with SIGKILL leaves a stale lock and socket: the one-shot sync scans and succeeds; the next watch takes over", async () => {
    const { s, a, wa } = await watched("w-stale");
    const lockText = await readFile(stateOf(a, "watch.lock"), "utf8");
    expect(await wa.stop("SIGKILL")).toBe(null);
    expect((await stat(stateOf(a, "watch.sock"))).isSocket()).toBe(true); // left behind
    const env = { PENUMBRA_SYNC_TOKEN: s.token, PENUMBRA_CRASH_AT: "trace" };

    // Its pid reused by a live process that is no watch (this test runner): nobody listens on the socket.
    await writeFile(stateOf(a, "watch.lock"), JSON.stringify({ ...JSON.parse(lockText), pid: process.pid }));
    await note(a, "n2", { title: "two" });
    const reused = await runCli(["sync", a, "--json"], env);
    expect(reused.code, reused.stderr).toBe(0);
    expect(JSON.parse(reused.stdout)).toMatchObject({ servedBy: "scan", pushed: { added: 1, modified: 0, deleted: 0 } });
    expect(reused.stderr).toContain("note: nobody listens on the watch socket");
    expect(reused.stderr).toContain("crash-point checkout-read");
    expect(reused.stderr).toContain("crash-point scanned");

    // Its pid gone, as the kill left it.
    await writeFile(stateOf(a, "watch.lock"), lockText);
    await note(a, "n3", { title: "three" });
    const dead = await runCli(["sync", a, "--json"], env);
    expect(dead.code, dead.stderr).toBe(0);
    expect(JSON.parse(dead.stdout)).toMatchObject({ servedBy: "scan", pushed: { added: 1, modified: 0, deleted: 0 } });
    expect(dead.stderr).toContain("note: the watch recorded in its lock is gone");
    expect(dead.stderr).toContain("crash-point scanned");

    // A new watch replaces both and serves the next one-shot sync.
    const w2 = watch(a, s.token, ["--debounce-ms", "3600000"]);
    await w2.waitFor((e) => e.event === "live", "live");
    await note(a, "n4", { title: "four" });
    const served = await runCli(["sync", a, "--json"], env);
    expect(served.code, served.stderr).toBe(0);
    expect(JSON.parse(served.stdout)).toMatchObject({ servedBy: "watch", watchPid: w2.child.pid, pushed: { added: 1, modified: 0, deleted: 0 } });
    expect(served.stderr).not.toMatch(/crash-point/);
    expect(await w2.stop()).toBe(0);
  });
});
