// `penumbra-sync serve`: runs the sync server on this machine (the real Worker in workerd, data on disk).
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { VAULT_NAME_RE } from "../../worker/routes.ts";
import { CliError, UsageError } from "../errors.ts";

export const summary = "Run the sync server locally (the Worker in workerd; vault data kept in a folder; the vault inspector at /app/).";
export const usage =
  "penumbra-sync serve [--port 8787] [--host 127.0.0.1] [--state .penumbra-sync-server/] [--token <token>] [--open-vault <name> [--open-vault-access write|read]]";

const DEFAULT_STATE = ".penumbra-sync-server";
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`invalid --port '${text}': expected 0-65535 (0 picks a free port)`);
  return port;
}

/** Token precedence: --token, $PENUMBRA_SYNC_TOKEN, <state>/token, else a new one saved there. */
async function resolveToken(flag: string | undefined, state: string): Promise<{ token: string; source: string }> {
  if (flag !== undefined) {
    if (!flag.trim()) throw new UsageError("--token is empty");
    return { token: flag, source: "from --token" };
  }
  const env = process.env.PENUMBRA_SYNC_TOKEN;
  if (env) return { token: env, source: "from $PENUMBRA_SYNC_TOKEN" };
  const file = path.join(state, "token");
  if (existsSync(file)) {
    const token = (await readFile(file, "utf8")).trim();
    if (!token) throw new CliError(`the token file ${file} is empty`, "delete it to generate a new token, or pass --token");
    return { token, source: `in ${file}` };
  }
  const token = randomBytes(32).toString("hex");
  await mkdir(state, { recursive: true, mode: 0o700 });
  // The token is the only credential: owner-only, and never overwrite one written concurrently.
  await writeFile(file, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, source: `generated, saved in ${file}: ${token}` };
}

/** --open-vault and --open-vault-access as the Worker's OPEN_VAULT / OPEN_VAULT_ACCESS; null when off. */
function openVaultVars(vault: string | undefined, access: string | undefined): { vault: string; access: string; vars: Record<string, string> } | null {
  if (vault === undefined) {
    if (access !== undefined) throw new UsageError("--open-vault-access needs --open-vault <name>");
    return null;
  }
  if (!VAULT_NAME_RE.test(vault)) throw new UsageError(`invalid --open-vault '${vault}': vault names match [A-Za-z0-9_-]{1,64}`);
  const a = access ?? "write";
  if (a !== "write" && a !== "read") throw new UsageError(`invalid --open-vault-access '${a}': expected write or read`);
  return { vault, access: a, vars: { OPEN_VAULT: vault, OPEN_VAULT_ACCESS: a } };
}

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string", default: "8787" },
        host: { type: "string", default: "127.0.0.1" },
        state: { type: "string", default: DEFAULT_STATE },
        token: { type: "string" },
        "open-vault": { type: "string" },
        "open-vault-access": { type: "string" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const port = parsePort(values.port!);
  if (!values.host) throw new UsageError("--host is empty");
  if (!values.state) throw new UsageError("--state is empty");
  const state = path.resolve(values.state);
  const open = openVaultVars(values["open-vault"], values["open-vault-access"]);

  const { token, source } = await resolveToken(values.token, state);
  // Listen for the stop signal first, so no moment is left without a handler. Miniflare adds its own
  // SIGINT/SIGTERM handlers that kill workerd and exit 130/143; this command stops the server itself
  // and exits 0, so it drops the handlers added while starting.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  // Loaded here, not at the top: Miniflare takes ~1 s to import, and --help or a typo should not wait.
  const { startLocalServer } = await import("../local-server.ts");
  const server = await startLocalServer({ port, host: values.host, state, token, app: true, vars: open?.vars });
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.off(s, l);
  }

  // `listening on` comes last so whoever waits for it has the other lines too. Writes to a pipe or
  // file are synchronous in Node: the line is out before a request can arrive.
  process.stdout.write(`token ${source}\n`);
  process.stdout.write(`data in ${state}\n`);
  if (!LOOPBACK.has(values.host)) {
    process.stderr.write(`note: bound to ${values.host}, not only this machine: anyone who can reach it and has the token can read and write the vaults\n`);
  }
  if (open) {
    // Loud on purpose: this opens a vault to anyone who can reach the port, with no token.
    const banner = `OPEN VAULT: requests to ${server.url}/sync/* WITHOUT a token ${open.access === "write" ? "read AND WRITE" : "read"} vault "${open.vault}"; anyone who can reach this address can ${open.access === "write" ? "change or clear it" : "read it"} (the predecessor's trust model: docs/security.md)`;
    process.stderr.write(`${"!".repeat(20)}\n${banner}\n${"!".repeat(20)}\n`);
    process.stdout.write(`open vault ${open.vault} (${open.access}, no token needed on /sync/*)\n`);
  }
  process.stdout.write(`vault inspector at ${server.url}/app/\n`);
  process.stdout.write(`listening on ${server.url}\n`);

  const signal = await stopSignal;
  // A second signal while shutting down means "now".
  const force = () => process.exit(130);
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  process.stderr.write(`${signal}: stopping\n`);
  await server.stop();
  process.off("SIGINT", force);
  process.off("SIGTERM", force);
  return 0;
}
