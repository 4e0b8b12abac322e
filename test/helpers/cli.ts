// End-to-end helpers for the command line as a user runs it: `serve` as a child process, and one
// command at a time with its exit code and output.
import { spawn, execFile } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = path.join(ROOT, "bin", "penumbra-sync.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `penumbra-sync <args>` with `env` over the current environment (undefined removes a variable). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: merged as NodeJS.ProcessEnv }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Spawns `serve --port 0` on a state folder (plus `extraArgs`) and resolves once it prints
 * `listening on`, with what it printed until then.
 */
export async function spawnServe(state: string, token: string, extraArgs: string[] = []): Promise<{ url: string; stdout: string[]; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state", state, "--token", token, ...extraArgs], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const stdout: string[] = [];
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("serve did not print 'listening on' in 30 s")), 30_000);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      stdout.push(line);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return { url, stdout, stderr: () => stderr, stop };
}
