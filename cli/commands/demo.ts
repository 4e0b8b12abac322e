// demo: a local server, two device folders, concurrent edits on both, and what it all cost on the
// wire compared with the predecessor's push-everything/pull-everything protocol.
import { mkdtemp, rm, readFile, writeFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { parse } from "../args.ts";
import { UsageError } from "../errors.ts";
import { startLocalServer } from "../local-server.ts";
import { openFolder, writeFolderConfig, STATE_DIR, type FolderContext } from "../context.ts";
import { ensureFolders, scanFolder, partPath } from "../vault-folder.ts";
import { syncFolder } from "../folder-sync.ts";
import { HttpRemote } from "../../engine/remote/http-remote.ts";
import { updateTree } from "../../engine/core/tree-update.ts";
import { generateVault, editNote, makeRng, type GeneratedNote } from "../../sample/generator.ts";
import { writeVaultFolder } from "../../sample/folder.ts";
import type { SyncReport } from "../../engine/sync/report.ts";

export const summary = "Run the demo: a local server, two device folders, concurrent edits, a cost table.";
export const usage = "penumbra-sync demo [--notes 3000] [--keep]";

interface Row {
  step: string;
  sent: number;
  received: number;
  requests: number;
  legacySent: number;
  legacyReceived: number;
  conflicts: number;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, { notes: { type: "string" }, keep: { type: "boolean" } }, 0);
  const count = values.notes === undefined ? 3000 : Number(values.notes);
  if (!Number.isInteger(count) || count < 10 || count > 200_000) throw new UsageError("--notes must be 10..200000");
  const started = Date.now();
  const root = await mkdtemp(join(tmpdir(), "penumbra-sync-demo-"));
  const token = randomBytes(16).toString("hex");
  const server = await startLocalServer({ port: 0, state: join(root, "server"), token });
  const log = (s: string) => process.stdout.write(s + "\n");
  log(`local server: ${server.url} (state in ${join(root, "server")})`);
  try {
    const notes = [...generateVault({ notes: count, seed: 2026 })];
    const dirA = join(root, "laptop");
    const dirB = join(root, "phone");
    const written = await writeVaultFolder(dirA, notes);
    log(`generated ${count} notes (${(written.bytes / 1e6).toFixed(1)} MB with embeddings and positions) in ${dirA}`);
    await new HttpRemote({ url: server.url, vault: "demo", token }).create({ format: 1, addressing: "sha256", encryption: null });
    for (const d of [dirA, dirB]) {
      await ensureFolders(d);
      await writeFolderConfig(d, { remote: server.url, vault: "demo" });
    }
    const legacyBody = legacyPushBytes(notes);
    const rows: Row[] = [];
    const step = async (name: string, dir: string, legacy: { sent: number; received: number }) => {
      const ctx = await openFolder(dir, token);
      try {
        const { report } = await syncFolder(ctx, "sync");
        rows.push(row(name, report, legacy));
        return report;
      } finally {
        await ctx.store.close();
      }
    };
    // The predecessor pushes the whole vault on every sync and pulls the whole vault back.
    const everything = { sent: legacyBody, received: legacyBody };
    await step("laptop: first sync (uploads the vault)", dirA, { sent: legacyBody, received: 0 });
    await step("phone: first sync (downloads the vault)", dirB, { sent: 0, received: legacyBody });
    await step("laptop: sync, nothing changed", dirA, everything);

    // Concurrent edits on both devices, one of them on the same note.
    const rng = makeRng(7);
    const shared = notes[3];
    const editsA = notes.slice(10, 30).map((n) => editNote(n, rng));
    const editsB = notes.slice(40, 60).map((n) => editNote(n, rng));
    await writeNotes(dirA, editsA);
    await writeNotes(dirB, editsB);
    await appendLine(dirA, shared.id, "A line the laptop added at the end.");
    await prependLine(dirB, shared.id, "A line the phone added at the top.");
    // The same line rewritten on both devices: an overlapping edit, kept whole as a conflict copy.
    const clash = notes[5];
    await editBody(dirA, clash.id, (b) => b.replace(/^[^\n]*/, "Title line as the laptop wrote it"));
    await editBody(dirB, clash.id, (b) => b.replace(/^[^\n]*/, "Title line as the phone wrote it"));
    for (const n of notes.slice(100, 105)) for (const part of ["note", "embedding", "position"] as const) await unlink(partPath(dirA, part, n.id));
    await step("laptop: sync 20 edits + 5 deletes", dirA, everything);
    const r = await step("phone: sync 20 edits (merges with the laptop's)", dirB, everything);
    await step("laptop: sync (receives the phone's edits)", dirA, everything);

    const [ra, rb] = [await folderRoot(dirA, token), await folderRoot(dirB, token)];
    printTable(rows, log);
    log("");
    log(`merge on the phone: ${r.conflicts.length} conflict(s) resolved by rule, ${r.needsEmbedding.length} note(s) to re-embed`);
    for (const c of r.conflicts) log(`  ${c.id}: ${c.kind}${c.copy ? ` (kept both versions; the other is now note ${c.copy})` : ""}`);
    log(`both folders identical: ${ra === rb ? "yes" : "NO"} (manifest root ${ra.slice(0, 16)}...)`);
    log(`demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return ra === rb ? 0 : 1;
  } finally {
    await server.stop();
    if (!values.keep) await rm(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }
}

function row(step: string, r: SyncReport, legacy: { sent: number; received: number }): Row {
  return { step, sent: r.uploaded.bytes, received: r.downloaded.bytes, requests: r.uploaded.requests + r.downloaded.requests, legacySent: legacy.sent, legacyReceived: legacy.received, conflicts: r.conflicts.length };
}

/** Size of the predecessor's /sync/push body for this vault: one JSON object, embeddings as number arrays. */
function legacyPushBytes(notes: GeneratedNote[]): number {
  let n = 2;
  for (const x of notes) {
    n += JSON.stringify(x.id).length * 3 + 6;
    n += Buffer.byteLength(JSON.stringify(x.note));
    n += JSON.stringify(Array.from(x.embedding)).length;
    n += JSON.stringify(x.position).length;
  }
  return n + 40;
}

async function writeNotes(dir: string, notes: GeneratedNote[]): Promise<void> {
  await writeVaultFolder(dir, notes);
}

async function editBody(dir: string, id: string, f: (body: string) => string): Promise<void> {
  const path = partPath(dir, "note", id);
  const note = JSON.parse(await readFile(path, "utf8"));
  note.body = f(String(note.body));
  await writeFile(path, JSON.stringify(note, null, 2));
}

const appendLine = (dir: string, id: string, line: string) => editBody(dir, id, (b) => `${b}\n${line}`);
const prependLine = (dir: string, id: string, line: string) => editBody(dir, id, (b) => `${line}\n${b}`);

async function folderRoot(dir: string, token: string): Promise<string> {
  const ctx: FolderContext = await openFolder(dir, token);
  try {
    const scan = await scanFolder(dir, ctx.vault, ctx.checkout);
    return (await updateTree(ctx.vault.headRoot, scan.changes, ctx.vault.load)).root;
  } finally {
    await ctx.store.close();
  }
}

function printTable(rows: Row[], log: (s: string) => void): void {
  const kb = (n: number) => (n === 0 ? "0" : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);
  const head = ["step", "sent", "received", "requests", "push-everything would send/receive"];
  const body = rows.map((r) => [r.step, kb(r.sent), kb(r.received), String(r.requests), `${kb(r.legacySent)} / ${kb(r.legacyReceived)}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  log("");
  log(line(head));
  log("|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
  for (const b of body) log(line(b));
  const sent = rows.reduce((n, r) => n + r.sent + r.received, 0);
  const legacy = rows.reduce((n, r) => n + r.legacySent + r.legacyReceived, 0);
  log(`total on the wire: ${kb(sent)} vs ${kb(legacy)} for push-everything (${(legacy / Math.max(sent, 1)).toFixed(0)}x less)`);
}
void STATE_DIR;
