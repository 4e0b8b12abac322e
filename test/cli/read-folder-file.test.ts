// readFolderFile (cli/vault-folder.ts): what the scan makes of one path. A file to read is opened
// once and its signature comes from that open file; a FIFO or a folder where a note should be is
// reported as "notfile" at once (opening a FIFO must not wait for a writer); a known file whose
// signature matches is not read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { readFolderFile, type FileRead } from "../../cli/vault-folder.ts";
import { handle, unpackScanAnswer } from "../../cli/scan-worker.ts";

let dir: string;
const p = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "penumbra-read-file-"));
  await writeFile(p("a.json"), '{ "title": "A",\n  "body": "x" }');
  await writeFile(p("bad.json"), "{ not json");
  await writeFile(p("e.bin"), new Uint8Array(new Float32Array([1, -2.5, 0.1]).buffer));
  await writeFile(p("empty.bin"), new Uint8Array(0));
  // Bigger than a scan thread's first answer buffer (1 MiB) and its read buffer (64 KiB), with
  // text that takes 2 and 3 bytes a character in UTF-8.
  await writeFile(p("big.json"), JSON.stringify({ title: "é€ big", body: "ß→".repeat(300_000), tags: ["x"] }));
  await writeFile(p("big.bin"), new Uint8Array(200_000).map((_, i) => i % 251));
  // Past what a thread keeps between batches (8 MiB of room for its UTF-8, 3 bytes a character at most).
  await writeFile(p("huge.json"), JSON.stringify({ title: "huge", body: "é".repeat(3_000_000) }));
  await mkdir(p("folder.json"));
  execFileSync("mkfifo", [p("fifo.json")]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sigOf = (name: string) => {
  const s = statSync(p(name));
  return [s.size, s.mtimeMs, s.ino];
};

describe("readFolderFile", () => {
  it("reads a note as canonical JSON, with the signature of the file read", () => {
    const r = readFolderFile(p("a.json"), "note");
    expect(r.kind).toBe("read");
    if (r.kind !== "read") return;
    expect(new TextDecoder().decode(r.bytes)).toBe('{"body":"x","title":"A"}');
    expect(r.sig).toEqual(sigOf("a.json"));
    expect(r.rawLength).toBe(statSync(p("a.json")).size);
  });

  it("reads embeddings as raw bytes, the empty file too", () => {
    const r = readFolderFile(p("e.bin"), "embedding");
    expect(r.kind === "read" && [...new Float32Array(new Uint8Array(r.bytes).buffer)]).toEqual([1, -2.5, Math.fround(0.1)]);
    const e = readFolderFile(p("empty.bin"), "embedding");
    expect(e.kind === "read" && e.bytes.length).toBe(0);
  });

  it("reports bad JSON with its signature, and never reads a known file whose signature matches", () => {
    const bad = readFolderFile(p("bad.json"), "note");
    expect(bad.kind).toBe("bad");
    expect(readFolderFile(p("a.json"), "note", sigOf("a.json") as [number, number, number])).toEqual({ kind: "cached", sig: sigOf("a.json") });
    const stale = readFolderFile(p("a.json"), "note", [1, 2, 3]);
    expect(stale.kind).toBe("read");
  });

  it("answers notfile for a folder or a FIFO (without waiting for a writer), gone for a missing path", () => {
    expect(readFolderFile(p("folder.json"), "note").kind).toBe("notfile");
    expect(readFolderFile(p("fifo.json"), "note").kind).toBe("notfile");
    expect(readFolderFile(p("fifo.json"), "note", [1, 2, 3]).kind).toBe("notfile");
    expect(readFolderFile(p("missing.json"), "note").kind).toBe("gone");
  });
});

/** A read with its bytes as a digest (a Buffer and a Uint8Array of the same bytes compare equal). */
const digestOf = (r: FileRead) => (r.kind === "read" ? { ...r, bytes: createHash("sha256").update(r.bytes).digest("hex") } : r);

describe("a scan thread's answer (scan-worker.ts)", () => {
  it("holds, file by file, the bytes readFolderFile gives, across batches that outgrow its buffers", () => {
    const files = [
      { path: p("a.json"), part: "note" as const },
      { path: p("big.json"), part: "note" as const },
      { path: p("bad.json"), part: "note" as const },
      { path: p("e.bin"), part: "embedding" as const },
      { path: p("big.bin"), part: "embedding" as const },
      { path: p("empty.bin"), part: "embedding" as const },
      { path: p("a.json"), part: "note" as const, cached: sigOf("a.json") as [number, number, number] },
      { path: p("missing.json"), part: "note" as const },
      { path: p("big.json"), part: "note" as const },
    ];
    for (let batch = 0; batch < 2; batch++) {
      const { result, transfer } = handle({ files });
      expect(transfer).toEqual([result.data.buffer]);
      const got = unpackScanAnswer(result);
      expect(got.map(digestOf)).toEqual(files.map((f) => digestOf(readFolderFile(f.path, f.part, f.cached))));
      expect(got.map((r) => r.kind)).toEqual(["read", "read", "bad", "read", "read", "read", "cached", "gone", "read"]);
      expect(got[1].kind === "read" && got[1].bytes.length).toBeGreaterThan(1024 * 1024);
      // The answer is a buffer of its own, exactly the bytes read (it is sent to another thread).
      expect(result.data.buffer.byteLength).toBe(got.reduce((n, r) => n + (r.kind === "read" ? r.bytes.length : 0), 0));
    }
    // A batch with a huge note, then batches after the thread let its grown buffers go.
    for (const batch of [[p("huge.json"), p("a.json")], [p("a.json"), p("big.json")], [p("huge.json")]]) {
      const got = unpackScanAnswer(handle({ files: batch.map((path) => ({ path, part: "note" as const })) }).result);
      expect(got.map(digestOf)).toEqual(batch.map((path) => digestOf(readFolderFile(path, "note"))));
      expect(got.every((r) => r.kind === "read")).toBe(true);
    }
  });
});
