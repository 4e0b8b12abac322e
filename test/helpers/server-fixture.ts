// A test file's local server and scratch folder: started before its tests, stopped and removed after.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startTestServer, type TestServer } from "./local-server.ts";

export interface ServerFixture {
  /** Set once the file's tests start. */
  server: TestServer;
  /** An empty folder for device folders and the like. */
  tmp: string;
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
