// A preload that samples the process's memory while it runs (issue 14's memory work):
//   node --import ./bench/memsample.mjs bin/penumbra-sync.js sync <dir>
// Every MEMSAMPLE_MS (default 20) ms, on the main thread: VmRSS (from /proc/self/status) and
// process.memoryUsage() (heapTotal, heapUsed, external, arrayBuffers). At exit it writes one JSON
// object to MEMSAMPLE_OUT (or stderr): VmHWM, the sample with the highest RSS, each field's maximum,
// and the timeline (every sample). Samples wait for the main thread: a long synchronous stretch shows
// as a gap, and the process's peak may fall between two samples (VmHWM is exact).
import { readFileSync, writeFileSync } from "node:fs";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";

const t0 = performance.now();
const every = Number(process.env.MEMSAMPLE_MS ?? 20);
const MiB = 1024 * 1024;
const kib = (name) => {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};
const samples = [];
const sample = () => {
  const u = process.memoryUsage();
  samples.push({
    t: Math.round(performance.now() - t0),
    rss: +kib("VmRSS").toFixed(1),
    heapTotal: +(u.heapTotal / MiB).toFixed(1),
    heapUsed: +(u.heapUsed / MiB).toFixed(1),
    external: +(u.external / MiB).toFixed(1),
    arrayBuffers: +(u.arrayBuffers / MiB).toFixed(1),
    threads: Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]),
  });
};
// MEMSAMPLE_SMAPS=1: at each new highest RSS (in steps of 4 MiB), /proc/self/smaps summed by kind of
// mapping (the brk heap, file-backed, anonymous by size: V8's pages, glibc's thread arenas, large
// malloc blocks), kept for the highest: what the peak is made of, beyond what memoryUsage reports.
let smapsAt = 0;
let smaps = null;
const smapsSummary = () => {
  const sum = {};
  let kind = "";
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      const name = head[4];
      kind = name === "[heap]" ? "brk heap" : name.startsWith("[") ? name : name ? "file" : size >= 65536 ? "anon 64MiB+ (thread arenas, reservations)" : size >= 4096 ? "anon 4-64MiB" : size >= 256 ? "anon 256KiB-4MiB (V8 pages, big mallocs)" : "anon <256KiB";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) sum[kind] = +((sum[kind] ?? 0) + Number(rss[1]) / 1024).toFixed(1);
  }
  return sum;
};
if (process.env.MEMSAMPLE_SMAPS)
  setInterval(() => {
    const rss = samples.length ? samples[samples.length - 1].rss : 0;
    if (rss >= smapsAt + 4) {
      smapsAt = rss;
      smaps = { rss, t: samples[samples.length - 1].t, ...smapsSummary() };
    }
  }, every).unref();
setInterval(sample, every).unref();
// Code under study may call globalThis.__memMark?.("label") to record a labelled sample.
const marks = [];
globalThis.__memMark = (label) => {
  sample();
  // Each V8 space's committed size (MiB) at a mark: which space a heapTotal holds (young or old).
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name.replace(/_space$/, ""), +(x.space_size / MiB).toFixed(1)]));
  marks.push({ label, ...samples[samples.length - 1], spaces });
  if (process.env.MEMSAMPLE_MARKS) process.stderr.write(`mark ${JSON.stringify(marks[marks.length - 1])}\n`);
  // MEMSAMPLE_HEAPSNAP=<label>:<file>: a heap snapshot written at that mark (what the heap holds there).
  const [snapLabel, snapFile] = (process.env.MEMSAMPLE_HEAPSNAP ?? "").split(/:(.*)/s);
  if (snapFile && label === snapLabel) writeHeapSnapshot(snapFile);
};
process.on("exit", () => {
  sample();
  const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  const max = {};
  for (const k of ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers", "threads"]) max[k] = Math.max(...samples.map((s) => s[k]));
  const out = JSON.stringify({ hwm: kib("VmHWM"), peak, max, smaps, marks, samples });
  if (process.env.MEMSAMPLE_OUT) writeFileSync(process.env.MEMSAMPLE_OUT, out);
  else process.stderr.write(`memsample: VmHWM ${kib("VmHWM").toFixed(0)} MiB, at the highest sample ${JSON.stringify(peak)}, maxima ${JSON.stringify(max)}\n`);
});
