// The vault inspector in real Chromium (Debian's, driven by playwright-core) against the real
// Worker served by the local server: the page is a device of the vault, with its own IndexedDB.
//   clone a 1,000-note vault -> a Node device edits, the page syncs, both converge -> another
//   device's edit appears without a click (the live socket) -> the page
//   edits, history and restore -> reload keeps the vault -> server stopped: the page works offline,
//   queues edits, and sends them once the server is back (same port, same state).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { AppServer, launch, nodeDevice, seed, signIn, pageSync, pageReached, pageHead, pageNote, waitSynced, artifact, chromiumOrSkip, eventually, type Browser } from "./helpers.ts";
import { editNote, makeRng, type GeneratedNote } from "../../sample/generator.ts";

const VAULT = "browser-e2e";
const NOTES = 1000;
const run = chromiumOrSkip();

describe.runIf(run)("the vault inspector in Chromium", () => {
  let server: AppServer;
  let browser: Browser;
  let node: Awaited<ReturnType<typeof nodeDevice>>;
  let notes: GeneratedNote[];

  beforeAll(async () => {
    server = await AppServer.start();
    node = await nodeDevice(server.url, VAULT, server.token);
    notes = await seed(node.v, NOTES);
    await node.sync();
    browser = await launch();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it("clones a 1,000-note vault into IndexedDB", async () => {
    const { page } = browser;
    const t0 = performance.now();
    await signIn(page, server, VAULT);
    console.log(`clone of ${NOTES} notes in the page: ${Math.round(performance.now() - t0)} ms (incl. page load)`);
    const h = await pageHead(page);
    expect(h.head).toBe(node.v.refs.head);
    expect(h.base).toBe(node.v.refs.head);
    expect(h.size).toBe(NOTES);
    await eventually(async () => expect(await page.locator("#note-count").textContent()).toContain(`of 1,000 notes`));
    await eventually(async () => expect(await page.locator("#stats").textContent()).toContain("1,000"));
    await eventually(async () => expect(await page.locator("#status").textContent()).toContain("in sync"));
    await eventually(async () => expect(await page.locator("#log tbody tr").count()).toBe(1));
    const n = notes[17];
    expect(await pageNote(page, n.id)).toEqual(await node.v.getNote(n.id));
    expect(browser.errors).toEqual([]);
  });

  it("gets a Node device's edits, deletions and additions; both converge", async () => {
    const { page } = browser;
    const rng = makeRng(5);
    const edited = [3, 400, 999].map((i) => editNote(notes[i], rng));
    for (const e of edited) await node.v.putNote(e.id, e.note as never);
    await node.v.delete(notes[10].id);
    await node.v.putNote("from-node", { title: "From Node", body: "hello from the CLI's engine" });
    await node.sync();

    // The page syncs on its own: the server announces the new head on the live socket.
    const r = await pageReached(page, node.v.refs.head!);
    expect(r.changes).toEqual({ added: 1, modified: 3, deleted: 1 });
    const h = await pageHead(page);
    expect(h.head).toBe(node.v.refs.head);
    for (const e of edited) expect(await pageNote(page, e.id)).toEqual(await node.v.getNote(e.id));
    expect(await pageNote(page, notes[10].id)).toBeUndefined();
    expect(await pageNote(page, "from-node")).toEqual({ title: "From Node", body: "hello from the CLI's engine" });
    await eventually(async () => expect(await page.locator("#log tbody tr").count()).toBe(2));
  });

  it("shows another device's edits as they arrive, without a click (the live socket)", async () => {
    const { page } = browser;
    type Inspector = { inspector: { live: boolean | null; syncsDone: number } };
    await page.waitForFunction(() => (globalThis as unknown as Inspector).inspector.live === true);
    // Open a note (setup); from here on the page is only watched.
    const n = notes[50];
    await page.getByLabel("Find a note by id or title").fill(n.id);
    await page.getByRole("button", { name: n.id, exact: true }).click();
    const body = page.getByLabel("Body", { exact: true });
    await eventually(async () => expect(await body.inputValue()).toBe(((await node.v.getNote(n.id)) as { body: string }).body));
    const rows = await page.locator("#log tbody tr").count();
    const syncsBefore = await page.evaluate(() => (globalThis as unknown as Inspector).inspector.syncsDone);

    await node.v.putNote(n.id, { ...(n.note as object), body: "edited on the Node device, shown live" } as never);
    await node.v.putNote("arrived-live", { title: "Arrived live", body: "a new note" });
    await node.sync();

    // The open note's text, the log and the count change on their own.
    await page.waitForFunction(() => (document.getElementById("note-body") as HTMLTextAreaElement).value === "edited on the Node device, shown live", undefined, { timeout: 20_000 });
    await page.waitForFunction((r) => document.querySelectorAll("#log tbody tr").length === r + 1, rows, { timeout: 20_000 });
    await page.waitForFunction(() => /of 1,001 notes/.test(document.getElementById("note-count")?.textContent ?? ""), undefined, { timeout: 20_000 });
    expect((await pageReached(page, node.v.refs.head!)).changes).toEqual({ added: 1, modified: 1, deleted: 0 });
    // One sync fetched it (nothing else asked for one).
    expect(await page.evaluate(() => (globalThis as unknown as Inspector).inspector.syncsDone)).toBe(syncsBefore + 1);

    // A deletion arrives the same way.
    await node.v.delete("arrived-live");
    await node.sync();
    await page.waitForFunction(() => /of 1,000 notes/.test(document.getElementById("note-count")?.textContent ?? ""), undefined, { timeout: 20_000 });
    expect((await pageReached(page, node.v.refs.head!)).changes).toEqual({ added: 0, modified: 0, deleted: 1 });
    expect(browser.errors).toEqual([]);
  });

  it("edits a note in the page; the Node device gets it; history shows both versions and restores the old one", async () => {
    const { page } = browser;
    await page.getByLabel("Find a note by id or title").fill("from-node");
    await page.getByRole("button", { name: "from-node", exact: true }).click();
    await eventually(async () => expect(await page.getByLabel("Body", { exact: true }).inputValue()).toBe("hello from the CLI's engine"));
    await page.getByLabel("Body", { exact: true }).fill("edited in the browser");
    await page.getByRole("button", { name: "Save" }).click();
    await eventually(async () => expect(await page.locator("#note-saved").textContent()).toContain("Saved on this device"));
    await waitSynced(page);
    await pageSync(page); // the save triggered a sync; make sure it is done
    await node.sync();
    expect(node.v.refs.head).toBe((await pageHead(page)).head);
    expect(((await node.v.getNote("from-node")) as { body: string }).body).toBe("edited in the browser");

    // History: the edit and the original; restore the original.
    const items = page.locator("#history li");
    await eventually(async () => expect(await items.count()).toBe(2));
    await eventually(async () => expect(await items.nth(0).textContent()).toContain("current"));
    await eventually(async () => expect(await items.nth(1).textContent()).toContain("hello from the CLI's engine"));
    await page.screenshot({ path: await artifact("inspector.png"), fullPage: true });
    await items.nth(1).getByRole("button", { name: /Restore/ }).click();
    await eventually(async () => expect(await page.getByLabel("Body", { exact: true }).inputValue()).toBe("hello from the CLI's engine"));
    await pageSync(page);
    await node.sync();
    expect(((await node.v.getNote("from-node")) as { body: string }).body).toBe("hello from the CLI's engine");
    expect(node.v.refs.head).toBe((await pageHead(page)).head);
  });

  it("keeps the vault across a reload (IndexedDB): nothing is downloaded again", async () => {
    const { page } = browser;
    const before = await pageHead(page);
    await page.reload();
    await waitSynced(page);
    const after = await pageHead(page);
    expect(after).toEqual(before);
    const r = await page.evaluate(() => (globalThis as unknown as { inspector: { lastReport: { downloaded: { objects: number; requests: number } } } }).inspector.lastReport);
    expect(r.downloaded.objects).toBe(0);
    expect(r.downloaded.requests).toBe(1);
    await eventually(async () => expect(await page.locator("#note-count").textContent()).toContain(`of 1,000 notes`));
  });

  it("works offline with the server stopped, queues edits, and syncs them when the server is back", async () => {
    const { page } = browser;
    await server.stop();
    await page.getByLabel("Find a note by id or title").fill(notes[3].id);
    await page.getByRole("button", { name: notes[3].id, exact: true }).click();
    await page.getByLabel("Title", { exact: true }).fill("Written offline");
    await page.getByRole("button", { name: "Save" }).click();
    await eventually(async () => expect(await page.locator("#status").textContent()).toContain("Offline"), 20_000);
    await eventually(async () => expect(await page.locator("#status").textContent()).toContain("1 change waiting"));

    // A reload while offline: the page opens the vault from IndexedDB, the edit still queued.
    await page.reload();
    await eventually(async () => expect(await page.locator("#status").textContent()).toContain("Offline"), 20_000);
    await eventually(async () => expect(await page.locator("#status").textContent()).toContain("1 change waiting"));
    expect(((await pageNote(page, notes[3].id)) as { title: string }).title).toBe("Written offline");
    await eventually(async () => expect(await page.locator("#note-count").textContent()).toContain(`of 1,000 notes`));
    await page.screenshot({ path: await artifact("inspector-offline.png"), fullPage: true });

    // Meanwhile another device edits another note (it will reach the page after the restart).
    await server.restart();
    await page.waitForFunction(() => /in sync/.test(document.getElementById("status")?.textContent ?? ""), undefined, { timeout: 30_000 });
    await node.sync();
    expect(((await node.v.getNote(notes[3].id)) as { title: string }).title).toBe("Written offline");
    expect(node.v.refs.head).toBe((await pageHead(page)).head);
    expect(browser.errors).toEqual([]);
  });
});
