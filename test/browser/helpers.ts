// Browser-test helpers: Debian's Chromium driven by playwright-core, the local server with the
// inspector (/app/), and a Node device of the same vault.
import { existsSync } from "node:fs";
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startLocalServer, type LocalServer } from "../../cli/local-server.ts";
import { Vault, MemoryStore, HttpRemote, sync } from "../../engine/index.ts";
import { installNodeFastPaths, nodeCompressor } from "../../engine/node/native.ts";
import { generateVault, type GeneratedNote } from "../../sample/generator.ts";

export const CHROMIUM = process.env.PENUMBRA_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = path.resolve("test-artifacts");

/**
 * Whether the browser tests can run. In CI a missing Chromium is an error (the tests must not pass
 * by skipping); on a developer machine they are skipped with a loud note.
 */
export function chromiumOrSkip(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const msg = `Chromium not found at ${CHROMIUM}: install it with \`apt-get update && apt-get install -y chromium\` (.ci/run does)`;
  if (process.env.CI) throw new Error(msg);
  console.warn(`\n*** SKIPPING the browser tests: ${msg} ***\n`);
  return false;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/** A fresh headless Chromium with its own empty profile folder. */
export async function launch(): Promise<Browser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), "penumbra-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const watch = (p: Page) => {
    p.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    p.on("console", (m) => {
      if (m.type() === "error" && !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) errors.push(`console: ${m.text()}`);
    });
  };
  watch(page);
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The local server with the inspector; restartable on the same port and state. */
export class AppServer {
  private server: LocalServer | null = null;
  port = 0;
  private constructor(readonly state: string, readonly token: string) {}

  static async start(): Promise<AppServer> {
    const s = new AppServer(await mkdtemp(path.join(tmpdir(), "penumbra-browser-")), randomBytes(16).toString("hex"));
    await s.restart();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.server = await startLocalServer({ port: this.port, state: this.state, token: this.token, app: true });
    this.port = Number(new URL(this.server.url).port);
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.state, { recursive: true, force: true });
  }
}

/** A device of the vault in Node (memory store), as the CLI's engine runs it. */
export async function nodeDevice(url: string, vault: string, token: string, name = "node-dev") {
  installNodeFastPaths();
  const remote = new HttpRemote({ url, vault, token });
  if (!(await remote.info())) await remote.create({ format: 1, addressing: "sha256", encryption: null });
  const v = await Vault.open({ store: new MemoryStore(), device: name, compressor: nodeCompressor });
  return { v, remote, sync: () => sync(v, remote) };
}

export async function putGenerated(v: Vault, n: GeneratedNote): Promise<void> {
  await v.putNote(n.id, n.note as never);
  await v.putEmbedding(n.id, n.embedding);
  await v.putPosition(n.id, n.position);
}

export async function seed(v: Vault, notes: number, seedNo = 11): Promise<GeneratedNote[]> {
  const out: GeneratedNote[] = [];
  for (const n of generateVault({ notes, seed: seedNo })) {
    out.push(n);
    await putGenerated(v, n);
  }
  return out;
}

export async function artifact(name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Signs the inspector in and waits until its first sync has finished. */
export async function signIn(page: Page, server: AppServer, vault: string, opts: { navigate?: boolean } = {}): Promise<void> {
  if (opts.navigate ?? true) await page.goto(`${server.url}/app/`);
  await page.getByLabel("Vault", { exact: true }).fill(vault);
  await page.getByLabel("Token").fill(server.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await waitSynced(page);
}

/** Waits until a sync has finished since `after` (a lastReport object identity is not portable: use its time). */
export async function waitSynced(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForFunction(() => {
    const i = (globalThis as unknown as { inspector?: { lastReport: unknown; device: unknown } }).inspector;
    return document.body.dataset.ready === "true" && i?.device && i.lastReport && !document.querySelector("#sync-now[aria-busy]");
    // Polled on a timer, not every animation frame: the long-task measurement must not count the harness.
  }, undefined, { timeout, polling: 100 });
}

/** Runs a sync in the page (as the button does) and returns its report. */
export async function pageSync(page: Page): Promise<{ snapshot: string | null; changes: { added: number; modified: number; deleted: number }; downloaded: { objects: number } }> {
  return page.evaluate(async () => {
    const i = (globalThis as unknown as { inspector: { syncAgain(): Promise<void>; lastReport: unknown } }).inspector;
    await i.syncAgain();
    return i.lastReport as never;
  });
}

type Report = { snapshot: string | null; changes: { added: number; modified: number; deleted: number }; downloaded: { objects: number } };

/** Waits, without touching the page, until a sync of its own has reached `snapshot`; returns that sync's report. */
export async function pageReached(page: Page, snapshot: string, timeout = 20_000): Promise<Report> {
  await page.waitForFunction((s) => (globalThis as unknown as { inspector: { lastReport: Report | null } }).inspector.lastReport?.snapshot === s, snapshot, { timeout, polling: 100 });
  return page.evaluate(() => (globalThis as unknown as { inspector: { lastReport: Report } }).inspector.lastReport);
}

/** The page's device as its worker last reported it (refreshed first). */
export async function pageHead(page: Page): Promise<{ head: string | null; base: string | null; size: number }> {
  return page.evaluate(async () => {
    const d = (globalThis as unknown as { inspector: { device: { refresh(): Promise<{ head: string | null; base: string | null; size: number }> } } }).inspector.device;
    const st = await d.refresh();
    return { head: st.head, base: st.base, size: st.size };
  });
}

export async function pageNote(page: Page, id: string): Promise<Record<string, unknown> | undefined> {
  return page.evaluate((id) => (globalThis as unknown as { inspector: { device: { getNote(id: string): Promise<Record<string, unknown> | undefined> } } }).inspector.device.getNote(id), id);
}

/** Retries an assertion until it passes (playwright-core has no web-first assertions of its own). */
export async function eventually(assertion: () => Promise<void> | void, timeout = 15_000): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
