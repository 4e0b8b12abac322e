// Two tabs of one vault in one Chromium profile (same origin, same IndexedDB): writes and syncs run
// under the vault's Web Lock, so a tab waits (and says so) while another holds it; a tab catches up
// with the other's writes before its own, so neither loses the other's edit; a tab hears of the
// other's changes (BroadcastChannel) and shows them without being asked.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Page } from "playwright-core";
import { AppServer, launch, nodeDevice, seed, signIn, waitSynced, pageSync, pageHead, pageNote, chromiumOrSkip, eventually, type Browser } from "./helpers.ts";
import { vaultLockName } from "../../engine/browser/vault-lock.ts";
import { dbNameOf } from "../../engine/browser/device-protocol.ts";

const VAULT = "two-tabs";
const run = chromiumOrSkip();

type Inspector = { device: { editNote(id: string, title: string, body: string): Promise<unknown> }; syncAgain(): Promise<void> };

function edit(page: Page, id: string, title: string, body: string): Promise<unknown> {
  return page.evaluate(([id, title, body]) => (globalThis as unknown as { inspector: Inspector }).inspector.device.editNote(id, title, body), [id, title, body] as const);
}

describe.runIf(run)("two tabs of one vault", () => {
  let server: AppServer;
  let browser: Browser;
  let a: Page;
  let b: Page;
  let node: Awaited<ReturnType<typeof nodeDevice>>;
  let ids: string[];

  beforeAll(async () => {
    server = await AppServer.start();
    node = await nodeDevice(server.url, VAULT, server.token);
    ids = (await seed(node.v, 50)).map((n) => n.id);
    await node.sync();
    browser = await launch();
    a = browser.page;
    await signIn(a, server, VAULT);
    // The second tab opens the vault the first signed in to (the profile is kept in localStorage).
    b = await browser.context.newPage();
    b.on("pageerror", (e) => browser.errors.push(`pageerror (tab b): ${e.message}`));
    await b.goto(`${server.url}/app/`);
    await waitSynced(b);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it("a tab waits while another holds the vault's lock, says so, and syncs once it is free", async () => {
    const lock = vaultLockName(dbNameOf({ url: server.url, vault: VAULT }));
    // Tab a takes the vault's lock (as its device does for a sync) and keeps it until told.
    await a.evaluate(
      (name) =>
        new Promise<void>((held) => {
          void (navigator as unknown as { locks: { request(n: string, f: () => Promise<void>): Promise<void> } }).locks.request(name, () => {
            held();
            return new Promise<void>((release) => ((globalThis as unknown as { releaseLock: () => void }).releaseLock = release));
          });
        }),
      lock,
    );
    const syncsDone = () => b.evaluate(() => (globalThis as unknown as { inspector: { syncsDone: number } }).inspector.syncsDone);
    const before = await syncsDone();
    await b.getByRole("button", { name: "Sync now" }).click();
    await eventually(async () => expect(await b.locator("#status").textContent()).toContain("Another tab is syncing or editing this vault"));
    expect(await b.locator("#sync-now").getAttribute("aria-busy")).toBe("true");
    expect(await b.locator("#sync-progress-text").textContent()).toBe("waiting for another tab");
    expect(await syncsDone()).toBe(before);
    await a.evaluate(() => (globalThis as unknown as { releaseLock: () => void }).releaseLock());
    await waitSynced(b);
    await eventually(async () => expect(await b.locator("#status").textContent()).toContain("in sync"));
    expect(await syncsDone()).toBe(before + 1);
    expect((await pageHead(b)).head).toBe(node.v.refs.head);
  });

  it("edits from both tabs, back to back, are all kept and reach another device", async () => {
    await edit(a, ids[1], "from tab a", "a's body");
    // Tab b's device last read the vault before a's edit: it catches up before writing its own.
    await edit(b, ids[2], "from tab b", "b's body");
    await pageSync(a);
    await node.sync();
    expect(await node.v.getNote(ids[1])).toMatchObject({ title: "from tab a", body: "a's body" });
    expect(await node.v.getNote(ids[2])).toMatchObject({ title: "from tab b", body: "b's body" });
    expect((await pageHead(a)).head).toBe(node.v.refs.head);
  });

  it("a tab shows what the other wrote without being asked", async () => {
    await edit(a, ids[3], "seen by b", "written in tab a");
    await eventually(async () => expect(await pageNote(b, ids[3])).toMatchObject({ title: "seen by b" }));
    await eventually(async () => expect(await b.locator("#status").textContent()).toContain("1 change waiting"));
  });

  it("both tabs syncing at once converge on one head with every edit", async () => {
    await edit(b, ids[4], "b again", "b's second edit");
    await Promise.all([pageSync(a), pageSync(b)]);
    await node.sync();
    await eventually(async () => expect((await pageHead(a)).head).toBe(node.v.refs.head));
    await eventually(async () => expect((await pageHead(b)).head).toBe(node.v.refs.head));
    expect(await node.v.getNote(ids[3])).toMatchObject({ title: "seen by b" });
    expect(await node.v.getNote(ids[4])).toMatchObject({ title: "b again" });
    expect(browser.errors).toEqual([]);
  });
});
