// A test file's local server (with a scratch folder, or behind a byte-counting proxy): started
// before its tests, stopped and removed after.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startTestServer, type TestServer } from "./local-server.ts";
import { startCountingProxy, type CountingProxy } from "./counting-proxy.ts";

export interface ServerFixture {
  /** Set once the file's tests start. */
  server: TestServer;
  /** An empty folder for device folders and the like. */
  tmp: string;
}

/** A test file's local server: `f.server` once its tests start. */
export function serverForFile(): { server: TestServer } {
  const f = {} as { server: TestServer };
  beforeAll(async () => {
    f.server = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await f.server?.stop();
  });
  return f;
}

export function serverWithFolder(prefix: string): ServerFixture {
  const f = {} as ServerFixture;
  beforeAll(async () => {
    f.tmp = await mkdtemp(path.join(tmpdir(), prefix));
    f.server = await startTestServer();
  });
  afterAll(async () => {
    await f.server?.stop();
    if (f.tmp) await rm(f.tmp, { recursive: true, force: true });
  });
  return f;
}

export interface ProxiedServer {
  server: TestServer;
  /** Counts every byte between the test's clients and the server. */
  proxy: CountingProxy;
}

/** A test file's local server behind a byte-counting proxy (the budget tests). */
export function serverWithProxy(): ProxiedServer {
  const f = {} as ProxiedServer;
  beforeAll(async () => {
    f.server = await startTestServer();
    f.proxy = await startCountingProxy(f.server.url);
  }, 60_000);
  afterAll(async () => {
    await f.proxy?.close();
    await f.server?.stop();
  });
  return f;
}
