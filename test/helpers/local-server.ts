// End-to-end test helper: the real Worker on a free port, with a throwaway state folder and token.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startLocalServer } from "../../cli/local-server.ts";

export interface TestServer {
  url: string;
  token: string;
  /** The state folder (R2 + Durable Object data); removed by stop() unless keepState. */
  state: string;
  /** fetch() relative to the server with the bearer token set (pass `auth: false` to omit it). */
  fetch(pathname: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Reuse a state folder (e.g. to test persistence across restarts); default: a fresh temp folder. */
  state?: string;
  /** Default: 32 random bytes, hex. */
  token?: string;
  /** Overrides of wrangler.toml [vars], e.g. small limits. */
  vars?: Record<string, string>;
  /** Leave the state folder on stop (always true when `state` is given). */
  keepState?: boolean;
  /** Default 0 (a free port); a fixed one to restart a server where its clients expect it. */
  port?: number;
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const state = opts.state ?? (await mkdtemp(path.join(tmpdir(), "penumbra-sync-test-")));
  const keepState = opts.keepState ?? opts.state !== undefined;
  const token = opts.token ?? randomBytes(32).toString("hex");
  let server;
  try {
    server = await startLocalServer({ port: opts.port ?? 0, state, token, vars: opts.vars });
  } catch (e) {
    if (!keepState) await rm(state, { recursive: true, force: true });
    throw e;
  }
  const { url } = server;
  let stopped: Promise<void> | undefined;
  return {
    url,
    token,
    state,
    fetch(pathname, init = {}) {
      const { auth = true, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth) headers.set("authorization", `Bearer ${token}`);
      return fetch(new URL(pathname, url), { ...rest, headers });
    },
    stop: () =>
      (stopped ??= (async () => {
        await server.stop();
        if (!keepState) await rm(state, { recursive: true, force: true });
      })()),
  };
}

/** Runs `body` against a fresh server and always stops it. */
export async function withServer<T>(body: (server: TestServer) => Promise<T>, opts?: TestServerOptions): Promise<T> {
  const server = await startTestServer(opts);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}
