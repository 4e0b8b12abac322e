// Whether the CLI bundle (scripts/build-cli.mjs) may run instead of the TypeScript sources: only
// while every source it was built from has the size and mtime it had then. Plain JavaScript, as
// bin/penumbra-sync.js loads it before any TypeScript can be.
import { readFileSync, statSync } from "node:fs";

/** The bundle's entry URL in `dir` (a folder URL) if it matches the sources under `root`, else null. */
export function freshBundle(dir, root) {
  try {
    const manifest = JSON.parse(readFileSync(new URL("inputs.json", dir), "utf8"));
    if (manifest.v !== 1 || !Array.isArray(manifest.inputs)) return null;
    for (const { path, size, mtimeMs } of manifest.inputs) {
      const s = statSync(new URL(path, root), { throwIfNoEntry: false });
      if (!s || s.size !== size || s.mtimeMs !== mtimeMs) return null;
    }
    return new URL(manifest.bundle, dir);
  } catch {
    return null; // no build, or a damaged manifest: the sources
  }
}
