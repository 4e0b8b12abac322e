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
  const out = JSON.stringify({ hwm: kib("VmHWM"), peak, max, marks, samples });
  if (process.env.MEMSAMPLE_OUT) writeFileSync(process.env.MEMSAMPLE_OUT, out);
  else process.stderr.write(`memsample: VmHWM ${kib("VmHWM").toFixed(0)} MiB, at the highest sample ${JSON.stringify(peak)}, maxima ${JSON.stringify(max)}\n`);
});
