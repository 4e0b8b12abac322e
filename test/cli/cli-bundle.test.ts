// The CLI bundle (scripts/build-cli.mjs) and the gate that lets bin/penumbra-sync.js run it
// (bin/fresh-bundle.js): a bundle runs only while its sources are exactly those it was built from,
// and the bundled CLI finds its thread entry points and the repository root like the sources do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { buildCli } from "../../scripts/build-cli.mjs";
import { freshBundle } from "../../bin/fresh-bundle.js";
import { ROOT } from "../helpers/cli.ts";

const run = promisify(execFile);
let out: string;
const rootUrl = pathToFileURL(ROOT + path.sep);
const dirUrl = () => pathToFileURL(out + path.sep);

beforeAll(async () => {
  // Inside the repository (dist/ is ignored by git), so the bundle resolves packages from node_modules as the real one does.
  await mkdir(path.join(ROOT, "dist"), { recursive: true });
  out = path.join(await mkdtemp(path.join(ROOT, "dist", "cli-bundle-test-")), "cli");
  await buildCli(out);
}, 60_000);

afterAll(async () => {
  await rm(path.dirname(out), { recursive: true, force: true });
});

describe("the CLI bundle", () => {
  it("is fresh right after the build, and lists the sources it came from", async () => {
    expect(freshBundle(dirUrl(), rootUrl)?.href).toBe(pathToFileURL(path.join(out, "main.mjs")).href);
    const manifest = JSON.parse(await readFile(path.join(out, "inputs.json"), "utf8"));
    const inputs = manifest.inputs.map((i: { path: string }) => i.path);
    expect(inputs).toContain("cli/main.ts");
    expect(inputs).toContain("cli/stat-chunks.mjs");
  });

  it("is not used once a source differs from the build (size or mtime), is missing, or the manifest is damaged", async () => {
    const manifestPath = path.join(out, "inputs.json");
    const good = await readFile(manifestPath, "utf8");
    try {
      const m = JSON.parse(good);
      m.inputs[0].mtimeMs += 1;
      await writeFile(manifestPath, JSON.stringify(m));
      expect(freshBundle(dirUrl(), rootUrl)).toBeNull();
      m.inputs[0].mtimeMs -= 1;
      m.inputs[1].size += 1;
      await writeFile(manifestPath, JSON.stringify(m));
      expect(freshBundle(dirUrl(), rootUrl)).toBeNull();
      m.inputs[1].size -= 1;
      m.inputs.push({ path: "cli/no-such-file.ts", size: 1, mtimeMs: 1 });
      await writeFile(manifestPath, JSON.stringify(m));
      expect(freshBundle(dirUrl(), rootUrl)).toBeNull();
      await writeFile(manifestPath, good.slice(0, 40));
      expect(freshBundle(dirUrl(), rootUrl)).toBeNull();
    } finally {
      await writeFile(manifestPath, good);
    }
    expect(freshBundle(dirUrl(), rootUrl)).not.toBeNull();
  });

  it("runs: thread entry points and the repository root resolve from the bundle's folder", async () => {
    const main = pathToFileURL(path.join(out, "main.mjs")).href;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(["sync", "--help"]);`]);
    expect(stdout).toMatch(/^Pull, merge and push/);
    const modules = (await readdir(out)).filter((n) => n.endsWith(".mjs"));
    const code = (await Promise.all(modules.map((n) => readFile(path.join(out, n), "utf8")))).join("\n");
    const targets = [...code.matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)].map((m) => fileURLToPath(new URL(m[1], pathToFileURL(path.join(out, "x.mjs")))));
    expect(targets).toContain(path.join(ROOT, "cli", "stat-worker.mjs"));
    expect(targets).toContain(path.join(ROOT, "engine", "node", "pool-worker.mjs"));
    // pool threads load the bundled handlers, not the TypeScript sources
    expect(targets).toContain(path.join(out, "scan-worker.mjs"));
    expect(targets).toContain(path.join(out, "seal-worker.mjs"));
    for (const t of targets) expect(existsSync(t), t).toBe(true);
  });
});
