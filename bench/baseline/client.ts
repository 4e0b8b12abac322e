// Child process: the predecessor's client against bench/baseline/worker.ts. It does not know what
// changed, so a push sends the whole vault folder as one JSON body (embeddings as number arrays)
// and a pull receives the whole vault and writes every file. Prints one BENCH-RESULT line.
//
//   node --import tsx bench/baseline/client.ts '{"dir": "...", "url": "...", "mode": "push" | "pull"}'
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { GeneratedNote } from "../../sample/generator.ts";
import { writeVaultFolder } from "../../sample/folder.ts";
import { measureSelf } from "../child.ts";
import { countingFetch, type OpsCounter } from "../r2-ops.ts";

interface Args {
  dir: string;
  url: string;
  mode: "push" | "pull";
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const STATE = ".legacy-sync.json";

async function readAll(dir: string, sub: string, ext: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let names: string[] = [];
  try {
    names = (await readdir(join(dir, sub))).filter((n) => n.endsWith(ext)).sort();
  } catch {
    return out;
  }
  for (let i = 0; i < names.length; i += 256) {
    const batch = names.slice(i, i + 256);
    const bufs = await Promise.all(batch.map((n) => readFile(join(dir, sub, n))));
    batch.forEach((n, k) => out.set(n.slice(0, -ext.length), bufs[k]));
  }
  return out;
}

await measureSelf(async (m) => {
  const counter: OpsCounter = { requests: 0, a: 0, b: 0 };
  const doFetch = countingFetch(counter);
  const phases: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      phases[name] = (phases[name] ?? 0) + performance.now() - t;
    }
  };
  const finish = () => Object.assign(m, { requests: counter.requests, r2A: counter.a, r2B: counter.b, phases });
  try {
    if (args.mode === "push") {
      const body = await timed("read", async () => {
        const notes: Record<string, unknown> = {};
        const embeddings: Record<string, number[]> = {};
        const positions: Record<string, unknown> = {};
        for (const [id, b] of await readAll(args.dir, "notes", ".json")) notes[id] = JSON.parse(b.toString("utf8"));
        for (const [id, b] of await readAll(args.dir, "embeddings", ".bin")) embeddings[id] = Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
        for (const [id, b] of await readAll(args.dir, "positions", ".json")) positions[id] = JSON.parse(b.toString("utf8"));
        m.notes = Object.keys(notes).length;
        return { notes, embeddings, positions };
      });
      // At ~52k notes this throws RangeError: Invalid string length (V8's string limit).
      const text = await timed("stringify", () => {
        try {
          return JSON.stringify(body);
        } catch (e) {
          m.failedAt = "JSON.stringify of the push body";
          throw e;
        }
      });
      m.bodyBytes = Buffer.byteLength(text);
      const res = await timed("http", () => doFetch(`${args.url}/sync/push`, { method: "POST", headers: { "content-type": "application/json" }, body: text }));
      const answer = (await res.json()) as { snapshotId?: string; error?: string };
      if (!res.ok) throw new Error(`push answered ${res.status}: ${answer.error}`);
      m.snapshot = answer.snapshotId;
    } else {
      const since = await readFile(join(args.dir, STATE), "utf8").then((t) => JSON.parse(t).snapshotId as string, () => null);
      const bundle = await timed("http", async () => {
        const res = await doFetch(`${args.url}/sync/pull`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ since }) });
        if (!res.ok) throw new Error(`pull answered ${res.status}: ${await res.text()}`);
        return (await res.json()) as { snapshotId: string | null; notes: Record<string, Record<string, unknown>>; embeddings: Record<string, number[]>; positions: Record<string, { x: number; y: number; z: number }> };
      });
      await timed("write", async () => {
        const all: GeneratedNote[] = Object.keys(bundle.notes).map((id) => ({
          id,
          note: bundle.notes[id],
          embedding: Float32Array.from(bundle.embeddings[id] ?? []),
          position: bundle.positions[id] ?? { x: 0, y: 0, z: 0 },
        }));
        m.notes = all.length;
        await writeVaultFolder(args.dir, all);
        await writeFile(join(args.dir, STATE), JSON.stringify({ snapshotId: bundle.snapshotId }));
      });
    }
  } finally {
    finish();
  }
});
