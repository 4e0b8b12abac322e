// Changes to the vault folder between scenarios: notes edited the way the app edits them
// (sample/generator.ts editNote: text + re-embed + move) and notes deleted (all three files).
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { editNote, type GeneratedNote, type Rng } from "../sample/generator.ts";
import { writeVaultFolder } from "../sample/folder.ts";
import { encodeEmbedding, encodeJsonPart } from "../engine/core/parts.ts";

export async function listIds(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "notes"))).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort();
}

/** k distinct ids, drawn with the seeded generator (a partial Fisher-Yates shuffle). */
export function pick(ids: readonly string[], k: number, rng: Rng): string[] {
  const a = [...ids];
  const n = Math.min(k, a.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
}

export async function readNote(dir: string, id: string): Promise<GeneratedNote> {
  const [note, emb, pos] = await Promise.all([
    readFile(join(dir, "notes", `${id}.json`), "utf8"),
    readFile(join(dir, "embeddings", `${id}.bin`)),
    readFile(join(dir, "positions", `${id}.json`), "utf8"),
  ]);
  const f = new Float32Array(emb.length / 4);
  new Uint8Array(f.buffer).set(emb);
  return { id, note: JSON.parse(note), embedding: f, position: JSON.parse(pos) };
}

export interface EditResult {
  notes: number;
  /** Bytes of the files rewritten (what changed in the folder). */
  fileBytes: number;
  /** The changed items as the engine addresses them (canonical note JSON, float32, canonical position). */
  rawBytes: number;
  /** The yardstick of issue 6: those items concatenated and gzipped (zlib's default level). */
  gzipBytes: number;
}

export async function editNotes(dir: string, ids: readonly string[], rng: Rng): Promise<EditResult> {
  const edited: GeneratedNote[] = [];
  for (let i = 0; i < ids.length; i += 256) {
    const batch = await Promise.all(ids.slice(i, i + 256).map((id) => readNote(dir, id)));
    for (const n of batch) edited.push(editNote(n, rng));
  }
  const { bytes } = await writeVaultFolder(dir, edited);
  const blobs: Uint8Array[] = [];
  for (const n of edited) blobs.push(encodeJsonPart(n.note as never), encodeEmbedding(n.embedding), encodeJsonPart(n.position as never));
  const raw = Buffer.concat(blobs);
  return { notes: edited.length, fileBytes: bytes, rawBytes: raw.length, gzipBytes: gzipSync(raw).length };
}

export async function deleteNotes(dir: string, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 256) {
    await Promise.all(
      ids.slice(i, i + 256).flatMap((id) => [
        unlink(join(dir, "notes", `${id}.json`)),
        unlink(join(dir, "embeddings", `${id}.bin`)),
        unlink(join(dir, "positions", `${id}.json`)),
      ]),
    );
  }
}
