// The inspector on an end-to-end encrypted vault made by the Node engine (as the CLI's `init
// --encrypt` does): sign-in asks for the passphrase and refuses a wrong one; the device worker
// unlocks the vault key and clones; the log, a note's history and restore work; a Node device's
// edit arrives and the page's restore reaches it; a reload opens with the key kept in this browser,
// and signing out forgets it.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import type { Page } from "playwright-core";
import { AppServer, launch, seed, waitSynced, pageSync, pageReached, pageHead, pageNote, chromiumOrSkip, eventually, type Browser } from "./helpers.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { installNodeCrypto } from "../../engine/crypto/node.ts";
import { createEncryption } from "../../engine/crypto/envelope.ts";
import type { GeneratedNote } from "../../sample/generator.ts";

const VAULT = "browser-encrypted";
const PASS = "seven violet kettles at dawn";
const NOTES = 200;
// A cheap KDF keeps the test quick (the real default, scrypt N=2^16, is the same code path).
const FAST = { kdf: { name: "scrypt" as const, N: 1024, r: 8, p: 1 }, allowWeakKdf: true };
const run = chromiumOrSkip();

async function fillSignIn(page: Page, server: AppServer, passphrase: string): Promise<void> {
  await page.getByLabel("Vault", { exact: true }).fill(VAULT);
  await page.getByLabel("Token").fill(server.token);
  await page.getByLabel(/^Passphrase/).fill(passphrase);
  await page.getByRole("button", { name: "Sign in" }).click();
}

describe.runIf(run)("the inspector on an encrypted vault", () => {
  let server: AppServer;
  let browser: Browser;
  let node: { v: Vault; remote: HttpRemote };
  let notes: GeneratedNote[];

  beforeAll(async () => {
    installNodeFastPaths();
    installNodeCrypto();
    server = await AppServer.start();
    const remote = new HttpRemote({ url: server.url, vault: VAULT, token: server.token });
    const made = await createEncryption(PASS, FAST);
    await remote.create({ format: 1, addressing: "hmac-sha256", encryption: made.encryption });
    const v = await Vault.open({ store: new MemoryStore(), device: "node-enc", compressor: nodeCompressor, keys: made.keys });
    notes = await seed(v, NOTES, 7);
    await sync(v, remote);
    node = { v, remote };
    browser = await launch();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it("asks for the passphrase and refuses a wrong one", async () => {
    const { page } = browser;
    await page.goto(`${server.url}/app/`);
    await fillSignIn(page, server, "");
    await eventually(async () => expect(await page.locator("#signin-error").textContent()).toBe("This vault is end-to-end encrypted: enter its passphrase."));
    await fillSignIn(page, server, "not the passphrase");
    await eventually(async () => expect(await page.locator("#signin-error").textContent()).toBe("This passphrase does not unlock the vault."));
    expect(await page.locator("#device").isHidden()).toBe(true);
  });

  it("unlocks the vault key in the worker and clones the vault", async () => {
    const { page } = browser;
    await fillSignIn(page, server, PASS);
    await waitSynced(page);
    const h = await pageHead(page);
    expect(h.head).toBe(node.v.refs.head);
    expect(h.size).toBe(NOTES);
    expect(await pageNote(page, notes[5].id)).toEqual(await node.v.getNote(notes[5].id));
    await eventually(async () => expect(await page.locator("#head").textContent()).toContain("end-to-end encrypted"));
    // The log names the device and counts, read from the sealed snapshots by this device.
    await eventually(async () => expect(await page.locator("#log tbody tr").first().textContent()).toContain("node-enc"));
  });

  it("gets another device's edit; history shows both versions; a restore reaches the other device", async () => {
    const { page } = browser;
    const id = notes[9].id;
    const original = (await node.v.getNote(id)) as { title: string; body: string };
    await node.v.putNote(id, { ...original, body: "rewritten on the Node device" });
    await sync(node.v, node.remote);
    // The page syncs on its own when the server announces the new head.
    const r = await pageReached(page, node.v.refs.head!);
    expect(r.changes).toEqual({ added: 0, modified: 1, deleted: 0 });
    expect(await pageNote(page, id)).toMatchObject({ body: "rewritten on the Node device" });

    await page.getByLabel("Find a note by id or title").fill(id);
    await page.getByRole("button", { name: id, exact: true }).click();
    const items = page.locator("#history li");
    await eventually(async () => expect(await items.count()).toBe(2));
    await eventually(async () => expect(await items.nth(0).textContent()).toContain("current"));
    await eventually(async () => expect(await items.nth(1).textContent()).toContain(original.body.slice(0, 40)));
    await items.nth(1).getByRole("button", { name: /Restore/ }).click();
    await eventually(async () => expect(await pageNote(page, id)).toMatchObject({ body: original.body }));
    await pageSync(page);
    await sync(node.v, node.remote);
    expect(await node.v.getNote(id)).toMatchObject({ body: original.body });
    expect(node.v.refs.head).toBe((await pageHead(page)).head);
  });

  it("reopens after a reload with the key kept in this browser (no passphrase), nothing downloaded again", async () => {
    const { page } = browser;
    const before = await pageHead(page);
    await page.reload();
    await waitSynced(page);
    expect(await pageHead(page)).toEqual(before);
    const r = await page.evaluate(() => (globalThis as unknown as { inspector: { lastReport: { downloaded: { objects: number } } } }).inspector.lastReport);
    expect(r.downloaded.objects).toBe(0);
  });

  it("forgets the key on sign-out: signing in again needs the passphrase", async () => {
    const { page } = browser;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForSelector("#signin:not([hidden])");
    await fillSignIn(page, server, "");
    await eventually(async () => expect(await page.locator("#signin-error").textContent()).toBe("This vault is end-to-end encrypted: enter its passphrase."));
    await fillSignIn(page, server, PASS);
    await waitSynced(page);
    expect((await pageHead(page)).head).toBe(node.v.refs.head);
    expect(browser.errors).toEqual([]);
  });
});
