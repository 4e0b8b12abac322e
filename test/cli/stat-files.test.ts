// statFiles (cli/stat-files.ts): the threads' answers are the calling thread's answers, whatever
// the grouping, for files, missing paths and directories; a scan that stats on threads reports the
// same changes as one that does not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { statFiles, STAT_FILE, STAT_MISSING, STAT_OTHER, type PathGroup } from "../../cli/stat-files.ts";

let dir: string;
const N = 3000;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "penumbra-stat-files-"));
  await mkdir(path.join(dir, "a"));
  await mkdir(path.join(dir, "b"));
  for (let i = 0; i < N; i += 2) await writeFile(path.join(dir, "a", `f${i}.txt`), "x".repeat(i % 97));
  await mkdir(path.join(dir, "b", "f7.txt")); // a directory where a file is expected
  await writeFile(path.join(dir, "b", "f8.txt"), "eight");
  await writeFile(path.join(dir, "b", "ümlaut-é.txt"), "utf-8 name"); // names cross to the threads as UTF-8 bytes
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function groups(): PathGroup[] {
  // every even name exists in a/, odd names are missing; b/ holds one directory and two files; one empty group
  return [
    { prefix: path.join(dir, "a") + path.sep, names: Array.from({ length: N }, (_, i) => `f${i}`), suffix: ".txt" },
    { prefix: path.join(dir, "b") + path.sep, names: [], suffix: ".txt" },
    { prefix: path.join(dir, "b") + path.sep, names: ["f7", "f8", "f9", "ümlaut-é"], suffix: ".txt" },
  ];
}

describe("statFiles", () => {
  it("answers [size, mtimeMs, ino, kind] per path, on the calling thread", async () => {
    const s = await statFiles(groups(), { threads: 0 });
    expect(s.length).toBe(4 * (N + 4));
    for (let i = 0; i < N; i++) {
      if (i % 2) {
        expect(s[4 * i + 3]).toBe(STAT_MISSING);
        continue;
      }
      const st = statSync(path.join(dir, "a", `f${i}.txt`));
      expect([...s.subarray(4 * i, 4 * i + 4)]).toEqual([st.size, st.mtimeMs, st.ino, STAT_FILE]);
    }
    expect(s[4 * N + 3]).toBe(STAT_OTHER);
    expect(s[4 * (N + 1)]).toBe(5);
    expect(s[4 * (N + 1) + 3]).toBe(STAT_FILE);
    expect(s[4 * (N + 2) + 3]).toBe(STAT_MISSING);
    expect(s[4 * (N + 3)]).toBe(10);
    expect(s[4 * (N + 3) + 3]).toBe(STAT_FILE);
  });

  it("threads give the same answers", async () => {
    const inline = await statFiles(groups(), { threads: 0 });
    for (const threads of [1, 3]) {
      for (const callerStats of [false, true]) {
        const threaded = await statFiles(groups(), { threads, minParallel: 0, callerStats });
        expect(Buffer.from(threaded.buffer).equals(Buffer.from(inline.buffer))).toBe(true);
      }
    }
  });
});
