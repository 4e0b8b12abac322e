// workerd's peak memory and time for the decompression-bomb pushes of the security review (issue 18,
// items 2, 6 and 7), each against a fresh local server (its real Worker in workerd), so each peak
// (VmHWM of the workerd process) belongs to one attack. Prints a markdown table; --out writes it.
//
//   node --import tsx bench/inflate-bomb.ts [--out bench/results/inflate-bomb.md]
//
// Cases:
//   baseline        no push: workerd after start and one vault create
//   small-declared  one frame of 1 GiB of zeros (~1 MB of gzip) declared as 100 bytes raw
//   max-declared    the same frame declared as 4 MiB (the frame limit)
//   many-frames     one ~265 KB pack of 64 frames of 4 MiB zeros each (256 MiB raw)
//   idle-frame      one valid object plus an unreferenced frame of the 1 GiB bomb
//   honest          a real pack of 2,000 generated notes (the control)
import { parseArgs } from "node:util";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { createGzip, gzipSync } from "node:zlib";
import { concatBytes } from "../engine/core/bytes.ts";
import { addressOf } from "../engine/core/hash.ts";
import { ObjectType } from "../engine/core/object.ts";
import { Codec, encodePackHeader, MAX_FRAME_RAW, PackBuilder, type FrameInfo, type PackObjectInfo } from "../engine/core/pack.ts";
import { encodeJsonPart } from "../engine/core/parts.ts";
import { encodeSection, jsonSection, Section, STREAM_MAGIC } from "../engine/core/stream.ts";
import { nodeCompressor } from "../engine/node/native.ts";
import { startLocalServer } from "../cli/local-server.ts";
import { workerdPids } from "../test/helpers/workerd.ts";

const { values: args } = parseArgs({ options: { out: { type: "string" } } });

/** gzip of `bytes` zeros, streamed (never holds the raw bytes). */
async function zeroBomb(bytes: number): Promise<Uint8Array> {
  const gz = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => gz.on("end", r));
  const block = Buffer.alloc(1 << 20);
  for (let n = 0; n < bytes; n += block.length) if (!gz.write(block)) await new Promise((r) => gz.once("drain", r));
  gz.end();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

function pack(frames: { codec: Codec; stored: Uint8Array; rawLength: number }[], objects: PackObjectInfo[]): Uint8Array {
  const header = encodePackHeader(
    frames.map((f): Omit<FrameInfo, "offset"> => ({ codec: f.codec, storedLength: f.stored.length, rawLength: f.rawLength })),
    objects,
  );
  return concatBytes([header, ...frames.map((f) => f.stored)]);
}

const fakeObject = (frame: number, length = 100): PackObjectInfo => ({ type: ObjectType.Blob, addr: addressOf(new Uint8Array(length).fill(frame)), frame, offset: 0, length });

function workerdPid(): number {
  const found = workerdPids();
  if (found.length !== 1) throw new Error(`expected one workerd, found ${found.length}`);
  return found[0];
}

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

interface Row {
  name: string;
  bodyBytes: number;
  status: number;
  error: string;
  ms: number;
  rssBefore: number;
  peak: number;
}

async function run(name: string, body: Uint8Array | null): Promise<Row> {
  const state = await mkdtemp(path.join(tmpdir(), "penumbra-bomb-"));
  const token = "bomb-bench-token-0123456789";
  const server = await startLocalServer({ port: 0, state, token });
  try {
    const auth = { authorization: `Bearer ${token}` };
    const created = await fetch(`${server.url}/v1/vaults/bomb`, { method: "PUT", headers: auth, body: JSON.stringify({ config: { format: 1, addressing: "sha256", encryption: null } }) });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    const pid = workerdPid();
    const before = memory(pid);
    let status = 0;
    let error = "";
    const t0 = performance.now();
    if (body) {
      const r = await fetch(`${server.url}/v1/vaults/bomb/push`, { method: "POST", headers: { ...auth, "content-type": "application/vnd.penumbra.stream" }, body: body as Uint8Array<ArrayBuffer> });
      status = r.status;
      const answer = (await r.json()) as { error?: string };
      error = answer.error ?? "";
    }
    const ms = performance.now() - t0;
    return { name, bodyBytes: body?.length ?? 0, status, error, ms, rssBefore: before.rss, peak: memory(pid).hwm };
  } finally {
    await server.stop();
    await rm(state, { recursive: true, force: true });
  }
}

const stream = (...packs: Uint8Array[]) => concatBytes([STREAM_MAGIC, ...packs.map((p) => encodeSection(Section.Pack, p)), jsonSection(Section.End, {})]);

const GiB = 1 << 30;
const bomb1g = await zeroBomb(GiB);
const bomb4m = new Uint8Array(gzipSync(new Uint8Array(MAX_FRAME_RAW), { level: 9 }));
const valid = encodeJsonPart({ title: "valid", body: "x" });
const honest = new PackBuilder();
for (let i = 0; i < 2000; i++) {
  const note = encodeJsonPart({ title: `note ${i}`, body: `${"Some honest text of note " + i + ". ".repeat(20)}`, tags: ["a", "b"] });
  honest.add(ObjectType.Blob, addressOf(note), note, true);
}
const honestPack = (await honest.finish(nodeCompressor)).bytes;

const cases: [string, Uint8Array | null][] = [
  ["baseline (no push)", null],
  ["1 GiB of zeros (1 MB gzip) declared as 100 B", stream(pack([{ codec: Codec.Gzip, stored: bomb1g, rawLength: 100 }], [fakeObject(0)]))],
  ["1 GiB of zeros (1 MB gzip) declared as 4 MiB", stream(pack([{ codec: Codec.Gzip, stored: bomb1g, rawLength: MAX_FRAME_RAW }], [fakeObject(0)]))],
  ["64 frames x 4 MiB of zeros (256 MiB raw, one pack)", stream(pack(Array.from({ length: 64 }, () => ({ codec: Codec.Gzip, stored: bomb4m, rawLength: MAX_FRAME_RAW })), Array.from({ length: 64 }, (_, i) => fakeObject(i))))],
  [
    "one valid object + an unreferenced 1 GiB bomb frame",
    stream(pack([{ codec: Codec.Stored, stored: valid, rawLength: valid.length }, { codec: Codec.Gzip, stored: bomb1g, rawLength: MAX_FRAME_RAW }], [{ type: ObjectType.Blob, addr: addressOf(valid), frame: 0, offset: 0, length: valid.length }])),
  ],
  ["honest: 2,000 notes in one pack (the control)", stream(honestPack)],
];

const rows: Row[] = [];
for (const [name, body] of cases) {
  const r = await run(name, body);
  rows.push(r);
  console.error(`${name}: ${r.status} ${r.error} ${r.ms.toFixed(0)} ms, peak ${(r.peak / 2 ** 20).toFixed(0)} MiB`);
}
const mib = (n: number) => (n / 2 ** 20).toFixed(0);
const lines = [
  `# workerd's peak memory under decompression bombs (issue 18)`,
  ``,
  `\`node --import tsx bench/inflate-bomb.ts\`, ${new Date().toISOString().slice(0, 10)}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} (2 cores, shared).`,
  `Each case on a fresh local server; peak = VmHWM of the workerd process over its whole life (start, one vault create, the push).`,
  ``,
  `| push | body | answer | time | workerd RSS before | workerd peak |`,
  `|---|---:|---|---:|---:|---:|`,
  ...rows.map((r) => `| ${r.name} | ${r.bodyBytes ? `${(r.bodyBytes / 1e3).toFixed(0)} KB` : "-"} | ${r.status ? `${r.status} ${r.error}` : "-"} | ${r.status ? `${r.ms.toFixed(0)} ms` : "-"} | ${mib(r.rssBefore)} MiB | ${mib(r.peak)} MiB |`),
  ``,
];
const text = lines.join("\n");
console.log(text);
if (args.out) writeFileSync(args.out, text);
