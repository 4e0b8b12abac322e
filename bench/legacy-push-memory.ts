// workerd's peak memory while the predecessor's /sync/push takes a large JSON body (issue 18 item 8):
// the real Worker served locally, one push of app-shaped notes (a 1.2 KB note, a 384-float
// embedding as number arrays, a position) per size, and the rise of workerd's peak RSS (VmHWM,
// reset before each push) over its RSS before it. A size over the limit shows what a refused body
// costs; one with a bad value at its end, what a body refused late costs.
//
//   node --import tsx bench/legacy-push-memory.ts [--mib 4,8,15.9,17] [--out file.md]
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { startTestServer } from "../test/helpers/local-server.ts";
import { appEmbedding, appNote, serdeF64, uuidOf } from "../test/helpers/penumbra-app-data.ts";
import { resetPeakRss, rssOf, workerdPids } from "./util.ts";

const MiB = 1024 * 1024;

/** A push body of about `bytes` bytes in the app client's shape; `badTail` puts an invalid embedding last. */
function pushBody(bytes: number, salt: number, badTail = false): string {
  const notes: string[] = [];
  const embs: string[] = [];
  const pos: string[] = [];
  let size = 64;
  for (let i = 0; size < bytes; i++) {
    const id = uuidOf(i, salt);
    const n = JSON.stringify(appNote(id, `Note ${i}`, `Body of note ${i}. `.repeat(60)));
    const e = `[${Array.from(appEmbedding(i + salt), serdeF64).join(",")}]`;
    const p = JSON.stringify({ x: i * 1.5, y: i * 2.5 });
    notes.push(`"${id}":${n}`);
    embs.push(`"${id}":${e}`);
    pos.push(`"${id}":${p}`);
    size += n.length + e.length + p.length + 3 * 42;
  }
  if (badTail) embs.push(`"${uuidOf(0, salt + 1)}":[1,2,"not a number"]`);
  return `{"notes":{${notes.join(",")}},"embeddings":{${embs.join(",")}},"positions":{${pos.join(",")}}}`;
}

/** One push on a fresh server (a heap grown by an earlier push would hide the rise). */
async function measure(body: string): Promise<{ answer: string; base: number; peak: number }> {
  const before = new Set(await workerdPids());
  const server = await startTestServer({ vars: { OPEN_VAULT: "mem" } });
  try {
    const pid = (await workerdPids()).find((p) => !before.has(p));
    if (!pid) throw new Error("workerd not found");
    // Warm up: the first request loads the Worker and the Durable Object.
    await (await fetch(`${server.url}/sync/push`, { method: "POST", body: pushBody(64 * 1024, 1) })).text();
    const base = (await rssOf(pid))!.now;
    await resetPeakRss(pid);
    const r = await fetch(`${server.url}/sync/push`, { method: "POST", body, headers: { "content-type": "application/json" } });
    const text = await r.text();
    const peak = (await rssOf(pid))!.peak;
    const answer = r.ok ? `200 (${JSON.parse(text).accepted} notes)` : `${r.status} ${JSON.parse(text).error}`;
    return { answer, base, peak };
  } finally {
    await server.stop();
  }
}

async function main() {
  const { values } = parseArgs({ options: { mib: { type: "string", default: "4,8,15.9,17" }, out: { type: "string" } } });
  const rows: string[] = [];
  let salt = 10;
  for (const mib of values.mib!.split(",").map(Number)) {
    for (const badTail of [false, true]) {
      const body = pushBody(mib * MiB, (salt += 1000), badTail);
      const m = await measure(body);
      const row = `| ${(body.length / MiB).toFixed(1)} MiB${badTail ? ", bad last value" : ""} | ${m.answer} | ${(m.base / MiB).toFixed(0)} MiB | ${(m.peak / MiB).toFixed(0)} MiB | +${((m.peak - m.base) / MiB).toFixed(0)} MiB |`;
      console.log(row);
      rows.push(row);
    }
  }
  const table = ["| body | answer | workerd RSS before | peak during | rise |", "|---|---|---:|---:|---:|", ...rows].join("\n");
  if (values.out) await writeFile(values.out, table + "\n");
}

await main();
