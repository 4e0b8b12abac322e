// End to end: `penumbra-sync serve` as a user runs it, and startLocalServer as the other tests use it.
// Needs the real Worker (worker/index.ts) implementing docs/protocol.md.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer } from "../../cli/local-server.ts";
import { CliError } from "../../cli/errors.ts";
import { startTestServer } from "../helpers/local-server.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = path.join(ROOT, "bin", "penumbra-sync.js");
const VAULT_CONFIG = { format: 1, addressing: "sha256", encryption: null };

interface Serve {
  child: ChildProcess;
  stdout: string[];
  stderr: () => string;
  /** Resolves with the URL from the `listening on` line; rejects if the process exits first. */
  listening: Promise<string>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Serve {
  const childEnv = { ...process.env, ...env };
  delete childEnv.PENUMBRA_SYNC_TOKEN; // tests choose the token source explicitly
  if (env.PENUMBRA_SYNC_TOKEN) childEnv.PENUMBRA_SYNC_TOKEN = env.PENUMBRA_SYNC_TOKEN;
  const child = spawn(process.execPath, [BIN, "serve", ...args], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const stdout: string[] = [];
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening on' line within 20 s; stderr:\n${stderr}`)), 20_000);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      stdout.push(line);
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
  listening.catch(() => {}); // awaited by the tests that expect it
  return { child, stdout, stderr: () => stderr, listening, exited };
}

/** Exit code within `ms`, or a failure. */
async function exitWithin(s: Serve, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms`)), ms)));
  try {
    return await Promise.race([s.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function getJson(url: string, token?: string): Promise<{ status: number; type: string | null; body: any }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, type: res.headers.get("content-type"), body };
}

let state: string;
beforeAll(async () => {
  state = await mkdtemp(path.join(tmpdir(), "penumbra-sync-serve-"));
});
afterEach(async () => {
  // A failed test must not leave a server (and its workerd) behind: SIGTERM lets it stop workerd.
  for (const child of running) child.kill("SIGTERM");
  await Promise.all([...running].map((c) => new Promise((r) => c.once("exit", r))));
});
afterAll(async () => {
  await rm(state, { recursive: true, force: true });
});

describe("penumbra-sync serve", () => {
  it("--help prints the usage and exits 0", async () => {
    const s = serve(["--help"]);
    expect(await exitWithin(s, 15_000)).toBe(0);
    expect(s.stdout.join("\n")).toContain("usage: penumbra-sync serve");
    expect(s.stdout.join("\n")).toContain("--port");
  });

  it.each([["abc"], ["70000"], ["-1"], ["80.5"]])("rejects --port %s with exit 2", async (port) => {
    const s = serve(["--port", port, "--state", state, "--token", "t"]);
    expect(await exitWithin(s, 15_000)).toBe(2);
    expect(s.stderr()).toMatch(/--port/);
  });

  it("rejects an unknown option with exit 2", async () => {
    const s = serve(["--bogus", "--state", state]);
    expect(await exitWithin(s, 15_000)).toBe(2);
    expect(s.stderr()).toMatch(/bogus/);
  });

  it("serves the protocol, stops on SIGTERM, restarts on the same state, refuses a busy port", async () => {
    const token = "serve-test-token";
    const t0 = performance.now();
    const first = serve(["--port", "0", "--state", state, "--token", token]);
    const url = await first.listening;
    console.log(`serve: 'listening on' after ${Math.round(performance.now() - t0)} ms`);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.stdout.join("\n")).toContain("token from --token");

    const anon = await getJson(`${url}/v1/vaults/x`);
    expect(anon.status).toBe(401);
    expect(anon.type).toMatch(/application\/json/);
    expect(typeof anon.body.error).toBe("string");

    const authed = await getJson(`${url}/v1/vaults/x`, token);
    expect([200, 404]).toContain(authed.status);
    if (authed.status === 404) expect(authed.body.error).toBe("unknown_vault");

    // The same port while it is taken: one clear line, exit 1.
    const port = new URL(url).port;
    const busy = serve(["--port", port, "--state", state, "--token", token]);
    expect(await exitWithin(busy, 15_000)).toBe(1);
    expect(busy.stderr()).toContain(`port ${port} is in use`);
    expect(busy.stderr()).not.toMatch(/kj::Exception|at .*\.js:\d+/); // no stack traces

    const t1 = performance.now();
    first.child.kill("SIGTERM");
    expect(await exitWithin(first, 5_000)).toBe(0);
    console.log(`serve: exited ${Math.round(performance.now() - t1)} ms after SIGTERM`);

    const again = serve(["--port", port, "--state", state, "--token", token]);
    const url2 = await again.listening;
    expect(url2).toBe(url);
    expect((await getJson(`${url2}/v1/vaults/x`)).status).toBe(401);
    expect((await getJson(`${url2}/v1/vaults/x`, token)).status).not.toBe(401);
    again.child.kill("SIGINT");
    expect(await exitWithin(again, 5_000)).toBe(0);
  });

  it("generates a token into <state>/token (0600) and reuses it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-sync-token-"));
    try {
      const first = serve(["--port", "0", "--state", dir]);
      const url = await first.listening;
      const tokenFile = path.join(dir, "token");
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      const { readFile } = await import("node:fs/promises");
      const token = (await readFile(tokenFile, "utf8")).trim();
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(first.stdout.join("\n")).toContain(token); // printed once, when generated
      expect((await getJson(`${url}/v1/vaults/x`, token)).status).not.toBe(401);
      first.child.kill("SIGTERM");
      expect(await exitWithin(first, 5_000)).toBe(0);

      const second = serve(["--port", "0", "--state", dir]);
      const url2 = await second.listening;
      expect(second.stdout.join("\n")).toContain(`token in ${tokenFile}`);
      expect(second.stdout.join("\n")).not.toContain(token);
      expect((await getJson(`${url2}/v1/vaults/x`, token)).status).not.toBe(401);
      second.child.kill("SIGTERM");
      expect(await exitWithin(second, 5_000)).toBe(0);

      // The environment wins over the file.
      const third = serve(["--port", "0", "--state", dir], { PENUMBRA_SYNC_TOKEN: "from-env" });
      const url3 = await third.listening;
      expect((await getJson(`${url3}/v1/vaults/x`, "from-env")).status).not.toBe(401);
      expect((await getJson(`${url3}/v1/vaults/x`, token)).status).toBe(401);
      third.child.kill("SIGTERM");
      expect(await exitWithin(third, 5_000)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("startLocalServer", () => {
  it("keeps vault data across stop and restart with the same state folder", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-sync-persist-"));
    try {
      const a = await startTestServer({ state: dir });
      const created = await a.fetch("/v1/vaults/v1", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ config: VAULT_CONFIG }),
      });
      expect(created.status).toBe(201);
      await a.stop();

      const b = await startTestServer({ state: dir, token: a.token });
      try {
        const res = await b.fetch("/v1/vaults/v1");
        expect(res.status).toBe(200);
        const info = (await res.json()) as { vault: string; config: unknown };
        expect(info.vault).toBe("v1");
        expect(info.config).toEqual(VAULT_CONFIG);
      } finally {
        await b.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("port 0 picks distinct free ports; the helper removes its temp state", async () => {
    const [a, b] = await Promise.all([startTestServer(), startTestServer()]);
    try {
      expect(a.url).not.toBe(b.url);
      expect((await a.fetch("/v1/vaults/x", { auth: false })).status).toBe(401);
      expect((await b.fetch("/v1/vaults/x", { headers: { authorization: `Bearer ${a.token}` }, auth: false })).status).toBe(401);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    await expect(stat(a.state)).rejects.toThrow();
  });

  it("a busy port is a CliError naming the port and --port", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-sync-busy-"));
    try {
      const err = await startLocalServer({ port, state: dir, token: "t" }).then(
        async (s) => {
          await s.stop();
          throw new Error("started on a busy port");
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).message).toBe(`port ${port} is in use`);
      expect((err as CliError).hint).toContain("--port");
    } finally {
      blocker.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
